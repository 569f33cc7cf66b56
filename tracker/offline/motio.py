"""MOTChallenge text files: read, write, stream-write, and ``seqinfo.ini``.

One box per line, comma separated::

    frame,id,left,top,width,height,conf,x,y,z

``frame`` is 1-based, ``left,top,width,height`` is the box in ``tlwh`` pixels, ``conf`` the score (1 in ground
truth, where it is the MOTChallenge "consider" flag), and the last three columns are -1 in 2D files (MOT15 style;
MOT16+ ground truth keeps class and visibility there). Files with 6 to 10 columns are accepted; missing columns
are filled with :data:`DEFAULT_CONF` and :data:`DEFAULT_EXTRA`.
"""

from __future__ import annotations

import configparser
import logging
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

__all__ = [
    "MOT_NUM_COLUMNS",
    "MOT_MIN_COLUMNS",
    "MotFormatError",
    "read_mot",
    "write_mot",
    "format_mot_row",
    "MotWriter",
    "read_seqinfo",
]

logger = logging.getLogger(__name__)

MOT_NUM_COLUMNS = 10  # frame, id, left, top, width, height, conf, x, y, z
MOT_MIN_COLUMNS = 6  # frame, id, left, top, width, height
COL_FRAME, COL_ID, COL_LEFT, COL_TOP, COL_WIDTH, COL_HEIGHT, COL_CONF = range(7)
DEFAULT_CONF = 1.0  # value of a missing conf / "consider" column
DEFAULT_EXTRA = -1.0  # value of missing columns 8-10 (world x, y, z; or class, visibility in MOT16+)
FIRST_FRAME = 1  # MOTChallenge frames are 1-based
BOX_DECIMALS = 3  # pixels: 1/1000 px is far below any annotation precision
SEQINFO_FILE = "seqinfo.ini"
SEQINFO_SECTION = "Sequence"


class MotFormatError(ValueError):
    """A MOTChallenge file (or a row given to a writer) that cannot be used; the message names file and line."""


def _parse_row(fields: list[str], path: Path, line_no: int) -> list[float]:
    where = f"{path}:{line_no}"
    if not MOT_MIN_COLUMNS <= len(fields) <= MOT_NUM_COLUMNS:
        raise MotFormatError(
            f"{where}: expected {MOT_MIN_COLUMNS} to {MOT_NUM_COLUMNS} comma-separated columns "
            f"(frame,id,left,top,width,height[,conf,x,y,z]), got {len(fields)}")
    values: list[float] = []
    for col, text in enumerate(fields, start=1):
        try:
            value = float(text)
        except ValueError:
            raise MotFormatError(f"{where}: column {col} is {text.strip()!r}, not a number") from None
        if not math.isfinite(value):
            raise MotFormatError(f"{where}: column {col} is {text.strip()!r}; values must be finite")
        values.append(value)
    frame, track_id = values[COL_FRAME], values[COL_ID]
    if frame != int(frame) or frame < FIRST_FRAME:
        raise MotFormatError(f"{where}: frame {fields[COL_FRAME].strip()!r} must be an integer >= {FIRST_FRAME} "
                             "(MOTChallenge frames are 1-based)")
    if track_id != int(track_id):
        raise MotFormatError(f"{where}: id {fields[COL_ID].strip()!r} must be an integer")
    values += [DEFAULT_CONF] if len(values) == COL_CONF else []
    values += [DEFAULT_EXTRA] * (MOT_NUM_COLUMNS - len(values))
    return values


def read_mot(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a MOTChallenge text file.

    Blank lines are skipped; rows may have 6 to 10 columns (missing conf -> 1, missing x,y,z -> -1).

    Returns:
        (N, 10) float64 rows in file order: frame, id, left, top, width, height, conf, x, y, z.

    Raises:
        FileNotFoundError: the file does not exist.
        MotFormatError: a malformed row; the message names the file, the 1-based line number and the problem.
    """
    path = Path(path)
    rows: list[list[float]] = []
    with path.open("r", encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            text = line.strip()
            if not text:
                continue
            rows.append(_parse_row(text.rstrip(",").split(","), path, line_no))
    if not rows:
        return np.zeros((0, MOT_NUM_COLUMNS), dtype=np.float64)
    return np.asarray(rows, dtype=np.float64)


def _as_rows(rows: Any) -> np.ndarray:
    """(N, 6..10) array-like -> (N, 10) float64 with defaults for missing columns."""
    arr = np.asarray(rows, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, MOT_NUM_COLUMNS), dtype=np.float64)
    if arr.ndim != 2 or not MOT_MIN_COLUMNS <= arr.shape[1] <= MOT_NUM_COLUMNS:
        raise MotFormatError(f"MOT rows must have shape (N, {MOT_MIN_COLUMNS}..{MOT_NUM_COLUMNS}), "
                             f"got {arr.shape}")
    if not np.isfinite(arr).all():
        raise MotFormatError("MOT rows contain NaN or infinite values; write finite numbers only")
    out = np.full((len(arr), MOT_NUM_COLUMNS), DEFAULT_EXTRA, dtype=np.float64)
    out[:, COL_CONF] = DEFAULT_CONF
    out[:, : arr.shape[1]] = arr
    frames = out[:, COL_FRAME]
    if (frames != np.round(frames)).any() or (frames < FIRST_FRAME).any():
        raise MotFormatError(f"MOT rows: frame numbers must be integers >= {FIRST_FRAME} (1-based)")
    if (out[:, COL_ID] != np.round(out[:, COL_ID])).any():
        raise MotFormatError("MOT rows: ids must be integers")
    return out


def _fmt_number(value: float) -> str:
    return f"{value:.6g}"


def format_mot_row(row: Sequence[float]) -> str:
    """One (10,) row -> ``frame,id,l,t,w,h,conf,x,y,z`` (ints for frame/id, 3 decimals for the box)."""
    frame, track_id = int(row[COL_FRAME]), int(row[COL_ID])
    box = ",".join(f"{v:.{BOX_DECIMALS}f}" for v in row[COL_LEFT:COL_CONF])
    rest = ",".join(_fmt_number(float(v)) for v in row[COL_CONF:MOT_NUM_COLUMNS])
    return f"{frame},{track_id},{box},{rest}"


def _atomic_write_text(path: Path, lines: Iterable[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_mot(path: str | os.PathLike[str], rows: Any) -> None:
    """Write rows as a MOTChallenge file, sorted by frame then id; atomic (temp file + rename).

    Args:
        path: destination; parent folders are created.
        rows: (N, 6..10) array-like in MOT column order (missing conf -> 1, missing x,y,z -> -1).
    """
    arr = _as_rows(rows)
    order = np.lexsort((arr[:, COL_ID], arr[:, COL_FRAME]))
    _atomic_write_text(Path(path), (format_mot_row(r) for r in arr[order]))
    logger.debug("wrote %d MOT rows to %s", len(arr), path)


class MotWriter:
    """Streaming MOTChallenge writer for a replay: rows go to a temp file, renamed onto ``path`` at :meth:`close`.

    Rows of one frame are buffered and written sorted by id when a new frame starts (frames are expected in
    playback order). Until :meth:`close` the destination is untouched, so a crash never leaves half a file;
    leaving a ``with`` block by an exception discards the temp file (:meth:`abort`).

    Example::

        with MotWriter("out/cam1.txt") as w:
            w.write(1, 7, (10.0, 20.0, 30.0, 80.0), 0.9)
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        self._tmp_path = Path(tmp_name)
        self._fh = os.fdopen(fd, "w", encoding="utf-8")
        self._frame: int | None = None
        self._pending: list[tuple[int, str]] = []
        self.rows_written = 0

    @property
    def closed(self) -> bool:
        return self._fh.closed

    def write(self, frame: int, track_id: int, tlwh: Sequence[float], conf: float = DEFAULT_CONF) -> None:
        """Add one box. ``frame`` is 1-based; ``tlwh`` is (4,) left, top, width, height in pixels."""
        if self.closed:
            raise ValueError(f"MotWriter for {self.path} is closed; open a new writer to write more rows")
        box = [float(v) for v in tlwh]
        if len(box) != 4 or not all(math.isfinite(v) for v in box) or not math.isfinite(float(conf)):
            raise MotFormatError(f"MotWriter {self.path}: tlwh must be 4 finite numbers and conf finite, "
                                 f"got tlwh={list(tlwh)!r} conf={conf!r}")
        if int(frame) != frame or frame < FIRST_FRAME:
            raise MotFormatError(f"MotWriter {self.path}: frame {frame!r} must be an integer >= {FIRST_FRAME}")
        if frame != self._frame:
            self._flush_frame()
            self._frame = int(frame)
        row = [int(frame), int(track_id), *box, float(conf), DEFAULT_EXTRA, DEFAULT_EXTRA, DEFAULT_EXTRA]
        self._pending.append((int(track_id), format_mot_row(row)))

    def _flush_frame(self) -> None:
        for _, line in sorted(self._pending, key=lambda item: item[0]):
            self._fh.write(line + "\n")
        self.rows_written += len(self._pending)
        self._pending.clear()

    def close(self) -> None:
        """Write the last frame and atomically move the file into place. Calling it again does nothing."""
        if self.closed:
            return
        try:
            self._flush_frame()
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            os.replace(self._tmp_path, self.path)
        except BaseException:
            self.abort()
            raise
        logger.debug("wrote %d MOT rows to %s", self.rows_written, self.path)

    def abort(self) -> None:
        """Discard everything written so far; the destination file is left as it was."""
        if not self.closed:
            self._fh.close()
        self._tmp_path.unlink(missing_ok=True)
        self._pending.clear()

    def __enter__(self) -> MotWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _parse_ini_value(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class _CaseKeepingParser(configparser.ConfigParser):
    """A ConfigParser that keeps keys as written (seqinfo.ini's camelCase ``frameRate``, ``seqLength``, ...)."""

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def read_seqinfo(directory: str | os.PathLike[str]) -> dict[str, int | float | str]:
    """Read ``<directory>/seqinfo.ini`` (or the .ini file itself if a file is given).

    Returns:
        The ``[Sequence]`` keys with their original spelling (``name``, ``frameRate``, ``seqLength``,
        ``imWidth``, ``imHeight``, ...); numbers are converted to int/float, everything else stays a string.

    Raises:
        FileNotFoundError: no seqinfo.ini there.
        MotFormatError: the file has no ``[Sequence]`` section or cannot be parsed.
    """
    path = Path(directory)
    if path.is_dir():
        path = path / SEQINFO_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no {SEQINFO_FILE} (MOTChallenge sequence info with a "
                                f"[{SEQINFO_SECTION}] section)")
    parser = _CaseKeepingParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise MotFormatError(f"{path}: cannot parse ({exc.__class__.__name__}: {exc})") from None
    if not parser.has_section(SEQINFO_SECTION):
        raise MotFormatError(f"{path}: missing [{SEQINFO_SECTION}] section (expected keys name, frameRate, "
                             "seqLength, imWidth, imHeight)")
    return {key: _parse_ini_value(value.strip()) for key, value in parser.items(SEQINFO_SECTION)}
