"""MOTChallenge ``seqinfo.ini``: a sequence's frame rate, length, image size and where its images are."""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path

from streams.base import SourceError
from streams.video_file import plausible_fps

__all__ = ["SEQINFO_NAME", "MOT_IMAGE_DIR", "SequenceInfo", "read_sequence_info", "find_sequence_info"]

SEQINFO_NAME = "seqinfo.ini"
MOT_IMAGE_DIR = "img1"  # MOTChallenge's default imDir
_SECTION = "Sequence"


@dataclass(frozen=True)
class SequenceInfo:
    """``[Sequence]`` of a ``seqinfo.ini``; a key the file lacks reads as 0 / its MOTChallenge default.

    Frames of the sequence are numbered 1..``length_frames`` (the ground truth's numbering), image ``n`` being
    ``<folder>/<im_dir>/<n, 6 digits><im_ext>``.
    """

    path: Path  # the seqinfo.ini
    name: str  # the sequence's name ('' when absent)
    im_dir: str  # folder of the images, relative to the sequence folder
    im_ext: str  # image file extension with its dot ('' when absent: any image)
    fps: float  # frameRate (0.0 when absent)
    length_frames: int  # seqLength (0 when absent)
    width_px: int  # imWidth (0 when absent)
    height_px: int  # imHeight (0 when absent)

    @property
    def image_dir(self) -> Path:
        return self.path.parent / self.im_dir


def _number(parser: configparser.ConfigParser, key: str, path: Path, *, whole: bool) -> float:
    raw = parser.get(_SECTION, key, fallback="").strip()
    if not raw:
        return 0
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if key == "frameRate":
        if not plausible_fps(value):
            raise SourceError(f"{path}: frameRate = {raw!r} is not a usable frame rate: use a number in "
                              f"(0, 1000], or pass the camera's fps explicitly")
        return value
    if not value >= 1 or (whole and value != int(value)):
        raise SourceError(f"{path}: {key} = {raw!r} must be a positive whole number: fix or remove it")
    return int(value)


def read_sequence_info(path: Path) -> SequenceInfo:
    """Read a ``seqinfo.ini``.

    Raises:
        SourceError: the file cannot be parsed, or frameRate / seqLength / imWidth / imHeight is not usable.
    """
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise SourceError(f"{path} is not a valid seqinfo.ini ({exc}): fix or remove it") from None
    ext = parser.get(_SECTION, "imExt", fallback="").strip()
    return SequenceInfo(
        path=path, name=parser.get(_SECTION, "name", fallback="").strip(),
        im_dir=parser.get(_SECTION, "imDir", fallback="").strip() or MOT_IMAGE_DIR,
        im_ext=("." + ext.lstrip(".")) if ext else "",
        fps=float(_number(parser, "frameRate", path, whole=False)),
        length_frames=int(_number(parser, "seqLength", path, whole=True)),
        width_px=int(_number(parser, "imWidth", path, whole=True)),
        height_px=int(_number(parser, "imHeight", path, whole=True)))


def find_sequence_info(folder: Path) -> SequenceInfo | None:
    """The sequence info of ``folder``: its own ``seqinfo.ini`` (a sequence folder), or its parent's when
    ``folder`` is that sequence's image folder (``imDir``); None when there is none.

    Raises:
        SourceError: the seqinfo.ini found is unusable (see :func:`read_sequence_info`).
    """
    if (folder / SEQINFO_NAME).is_file():
        return read_sequence_info(folder / SEQINFO_NAME)
    parent = folder.parent / SEQINFO_NAME
    if parent.is_file():
        info = read_sequence_info(parent)
        if info.image_dir.resolve() == folder.resolve():
            return info
    return None
