"""Folders of images: a plain folder of frames or a MOTChallenge sequence (``seqinfo.ini`` + its ``imDir``)."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from streams.base import Frame, SourceError
from streams.pacing import PacedReader, playback
from streams.seqinfo import MOT_IMAGE_DIR, SequenceInfo, find_sequence_info, read_sequence_info
from streams.settings import SourceSettings
from streams.stats import SourceStats

__all__ = ["ImageFolderSource", "IMAGE_EXTENSIONS", "list_images", "read_seqinfo_fps"]

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
_NUMERIC_STEM = re.compile(r"[0-9]+")


def list_images(folder: Path, extension: str = "") -> list[tuple[int, Path]]:
    """(index, path) of the images in ``folder`` in play order; only ``extension`` files (e.g. ``.jpg``) if given.

    When every file name is a number (MOTChallenge ``000001.jpg``) the files are ordered by that number and it
    is the index; otherwise they are sorted by name and the index is the 1-based position.
    """
    wanted = (extension.lower(),) if extension else IMAGE_EXTENSIONS
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in wanted]
    numbers = [int(p.stem) if _NUMERIC_STEM.fullmatch(p.stem) else None for p in files]
    if files and all(n is not None for n in numbers) and len(set(numbers)) == len(numbers):
        return sorted(((n, p) for n, p in zip(numbers, files) if n is not None), key=lambda item: item[0])
    return [(i, p) for i, p in enumerate(sorted(files, key=lambda p: p.name), start=1)]


def read_seqinfo_fps(seqinfo: Path) -> float:
    """``[Sequence] frameRate`` of a MOTChallenge ``seqinfo.ini``; 0.0 when the file has none.

    Raises:
        SourceError: the file cannot be parsed or a value in it is unusable.
    """
    return read_sequence_info(seqinfo).fps


class ImageFolderSource:
    """Frames read from image files (jpg, jpeg, png, bmp).

    Accepts a folder of images, a MOTChallenge sequence folder (``seqinfo.ini`` and its ``imDir``, default
    ``img1/``) or that sequence's image folder. With a ``seqinfo.ini``, only ``imExt`` files are read, its
    ``seqLength`` is :attr:`frame_count`, and a sequence that disagrees with its ``seqLength`` or
    ``imWidth`` x ``imHeight`` is logged as a warning. ``fps``: the argument when > 0, else ``frameRate``, else
    ``cfg.default_fps``. ``index``: the number in the file name when all names are numbers (MOTChallenge's
    ``000001.jpg`` is frame 1, as in its ground truth), else the position; ``timestamp_s = (index - 1) / fps``.
    An unreadable image is skipped with a warning and counted in ``stats().frames_dropped``. ``cfg.realtime``
    paces the replay like a live camera (see :class:`streams.video_file.VideoFileSource`).

    Raises:
        SourceError: the folder does not exist, holds no images, none of them can be read, or its seqinfo.ini is
            unusable.
    """

    def __init__(self, folder: str | Path, camera_id: str, cfg: SourceSettings, fps: float = 0.0) -> None:
        self.camera_id = camera_id
        self._cfg = cfg
        self._log = logging.LoggerAdapter(logger, {"camera": camera_id})
        folder = Path(folder)
        if not folder.is_dir():
            raise SourceError(f"camera {camera_id}: image folder {str(folder)!r} does not exist: check the path")
        self._info = find_sequence_info(folder)
        self._dir = self._image_dir(folder, self._info)
        extension = self._info.im_ext if self._info is not None else ""
        self._images = list_images(self._dir, extension)
        if not self._images:
            raise SourceError(f"camera {camera_id}: image folder {str(self._dir)!r} holds no images "
                              f"({extension or ', '.join(IMAGE_EXTENSIONS)}): check the path")
        seq_fps = self._info.fps if self._info is not None else 0.0
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
        self._check_against_seqinfo()
        self._log.info("opened image folder %s: %d images, %dx%d, %g fps", self._dir, len(self._images),
                       self._width, self._height, self._fps)

    def _image_dir(self, folder: Path, info: SequenceInfo | None) -> Path:
        """Where the images are: the sequence's imDir, ``img1/``, or the folder itself."""
        if info is not None and info.path.parent == folder:  # a sequence folder
            if info.image_dir.is_dir():
                return info.image_dir
            if not list_images(folder, info.im_ext):
                raise SourceError(f"camera {self.camera_id}: {info.path} names imDir={info.im_dir!r} but "
                                  f"{str(info.image_dir)!r} is not a folder: fix imDir or the path")
            return folder  # seqinfo.ini beside the images
        return folder / MOT_IMAGE_DIR if info is None and (folder / MOT_IMAGE_DIR).is_dir() else folder

    def _check_against_seqinfo(self) -> None:
        """Warn when the images disagree with seqinfo.ini (frames then no longer line up with its ground truth)."""
        info = self._info
        if info is None:
            return
        last = self._images[-1][0]
        if info.length_frames and (len(self._images) != info.length_frames or last != info.length_frames):
            self._log.warning("%s: seqLength = %d but %d images numbered up to %d: frames are numbered by their "
                              "file names", info.path, info.length_frames, len(self._images), last)
        if info.width_px and info.height_px and (self._width, self._height) != (info.width_px, info.height_px):
            self._log.warning("%s: imWidth x imHeight = %dx%d but the images are %dx%d", info.path, info.width_px,
                              info.height_px, self._width, self._height)

    @property
    def frame_count(self) -> int:
        """Frames of the sequence: seqinfo.ini's seqLength, else the number of images."""
        return self._info.length_frames if self._info is not None and self._info.length_frames else len(self)

    @property
    def sequence_info(self) -> SequenceInfo | None:
        """The sequence's seqinfo.ini, if it has one."""
        return self._info

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
