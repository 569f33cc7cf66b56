"""Folders of images: a plain folder of frames or a MOTChallenge sequence (``img1/`` + ``seqinfo.ini``)."""

from __future__ import annotations

import configparser
import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from streams.base import Frame, SourceError
from streams.pacing import PacedReader, playback
from streams.settings import SourceSettings
from streams.stats import SourceStats
from streams.video_file import plausible_fps

__all__ = ["ImageFolderSource", "IMAGE_EXTENSIONS", "list_images", "read_seqinfo_fps"]

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
MOT_IMAGE_DIR = "img1"  # MOTChallenge's default imDir
SEQINFO_NAME = "seqinfo.ini"
_NUMERIC_STEM = re.compile(r"[0-9]+")


def list_images(folder: Path) -> list[tuple[int, Path]]:
    """(index, path) of the images in ``folder`` in play order.

    When every file name is a number (MOTChallenge ``000001.jpg``) the files are ordered by that number and it
    is the index; otherwise they are sorted by name and the index is the 1-based position.
    """
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    numbers = [int(p.stem) if _NUMERIC_STEM.fullmatch(p.stem) else None for p in files]
    if files and all(n is not None for n in numbers) and len(set(numbers)) == len(numbers):
        return sorted(((n, p) for n, p in zip(numbers, files) if n is not None), key=lambda item: item[0])
    return [(i, p) for i, p in enumerate(sorted(files, key=lambda p: p.name), start=1)]


def read_seqinfo_fps(seqinfo: Path) -> float:
    """``[Sequence] frameRate`` of a MOTChallenge ``seqinfo.ini``; 0.0 when the file has none.

    Raises:
        SourceError: the file cannot be parsed or frameRate is not a positive number.
    """
    parser = configparser.ConfigParser()
    try:
        parser.read(seqinfo, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise SourceError(f"{seqinfo} is not a valid seqinfo.ini ({exc}): fix or remove it") from None
    raw = parser.get("Sequence", "frameRate", fallback="").strip()
    if not raw:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not plausible_fps(value):
        raise SourceError(f"{seqinfo}: frameRate = {raw!r} is not a usable frame rate: use a number in "
                          f"(0, 1000], or pass the camera's fps explicitly")
    return value


def _find_seqinfo(image_dir: Path) -> Path | None:
    """seqinfo.ini beside the images, or in the parent sequence folder when the images are its imDir."""
    here = image_dir / SEQINFO_NAME
    if here.is_file():
        return here
    parent = image_dir.parent / SEQINFO_NAME
    if parent.is_file():
        parser = configparser.ConfigParser()
        try:
            parser.read(parent, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            return None
        if parser.get("Sequence", "imDir", fallback=MOT_IMAGE_DIR).strip() == image_dir.name:
            return parent
    return None


class ImageFolderSource:
    """Frames read from image files (jpg, jpeg, png, bmp).

    Accepts a folder of images or a MOTChallenge sequence folder holding ``img1/``. ``fps``: the argument when
    > 0, else ``seqinfo.ini``'s ``frameRate``, else ``cfg.default_fps``. ``index``: the number in the file name
    when all names are numbers, else the position; ``timestamp_s = (index - 1) / fps``. An unreadable image is
    skipped with a warning and counted in ``stats().frames_dropped``. ``cfg.realtime`` paces the replay like a
    live camera (see :class:`streams.video_file.VideoFileSource`).

    Raises:
        SourceError: the folder does not exist, holds no images, or none of them can be read.
    """

    def __init__(self, folder: str | Path, camera_id: str, cfg: SourceSettings, fps: float = 0.0) -> None:
        self.camera_id = camera_id
        self._cfg = cfg
        self._log = logging.LoggerAdapter(logger, {"camera": camera_id})
        folder = Path(folder)
        if not folder.is_dir():
            raise SourceError(f"camera {camera_id}: image folder {str(folder)!r} does not exist: check the path")
        self._dir = folder / MOT_IMAGE_DIR if (folder / MOT_IMAGE_DIR).is_dir() else folder
        self._images = list_images(self._dir)
        if not self._images:
            raise SourceError(f"camera {camera_id}: image folder {str(self._dir)!r} holds no images "
                              f"({', '.join(IMAGE_EXTENSIONS)}): check the path")
        seqinfo = _find_seqinfo(self._dir)
        seq_fps = read_seqinfo_fps(seqinfo) if seqinfo is not None else 0.0
        self._fps = float(fps) if fps > 0 else (seq_fps or cfg.default_fps)
        if fps <= 0 and not seq_fps:
            self._log.info("%s has no seqinfo.ini frameRate; assuming source.default_fps = %g", self._dir,
                           cfg.default_fps)
        self._lock = threading.Lock()
        self._frames_read = 0
        self._bad_images = 0
        self._last_error = ""
        self._closed = False
        self._ended = False
        self._paced: PacedReader | None = None
        self._width = self._height = 0
        self._first = self._first_readable()
        self._log.info("opened image folder %s: %d images, %dx%d, %g fps", self._dir, len(self._images),
                       self._width, self._height, self._fps)

    def _first_readable(self) -> tuple[int, np.ndarray]:
        """Check the folder is usable: the first readable image (its position in the list, the image)."""
        for pos, (_, path) in enumerate(self._images):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                self._height, self._width = image.shape[:2]
                return pos, image
        raise SourceError(f"camera {self.camera_id}: none of the {len(self._images)} images in {str(self._dir)!r} "
                          f"can be read: check that they are valid image files")

    @property
    def fps(self) -> float:
        return self._fps

    def __len__(self) -> int:
        """Image files in the folder (readable or not)."""
        return len(self._images)

    def _decoded(self) -> Iterator[tuple[int, np.ndarray]]:
        first_pos, first_image = self._first
        for pos, (index, path) in enumerate(self._images):
            if self._closed:
                return
            image = first_image if pos == first_pos else cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                msg = f"{path} is not a readable image; skipped"
                with self._lock:
                    self._bad_images += 1
                    self._last_error = msg
                self._log.warning(msg)
                continue
            with self._lock:
                self._frames_read += 1
                self._height, self._width = image.shape[:2]
            yield index, image
        with self._lock:
            self._ended = True
        self._log.info("%s: end of folder after %d images (%d unreadable)", self._dir, self._frames_read,
                       self._bad_images)

    def __iter__(self) -> Iterator[Frame]:
        frames, self._paced = playback(self._decoded(), self._fps, self.camera_id, self._cfg.realtime, self._paced)
        for index, image in frames:
            yield Frame(self.camera_id, index, (index - 1) / self._fps, image)

    def stats(self) -> SourceStats:
        with self._lock:
            dropped = self._bad_images + (self._paced.dropped if self._paced is not None else 0)
            return SourceStats(frames_read=self._frames_read, frames_dropped=dropped, reconnects=0,
                               connected=not self._closed and not self._ended, last_error=self._last_error,
                               width=self._width, height=self._height)

    def close(self) -> None:
        self._closed = True
        if self._paced is not None:
            self._paced.close()

    def __enter__(self) -> ImageFolderSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
