"""open_source: pick the right FrameSource for a camera's ``source`` string."""

from __future__ import annotations

import re
from pathlib import Path

from streams.base import FrameSource, SourceError
from streams.image_folder import ImageFolderSource
from streams.live import LIVE_URL_SCHEMES, LiveSource
from streams.redact import redact
from streams.settings import SourceSettings
from streams.video_file import VideoFileSource

__all__ = ["open_source"]

_WEBCAM_INDEX = re.compile(r"[0-9]+")
_URL_SCHEME = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://")


def open_source(spec: str, camera_id: str, cfg: SourceSettings, fps: float = 0.0) -> FrameSource:
    """Open a camera's source.

    ``spec``: a digit string -> webcam index; ``rtsp://``, ``rtsps://``, ``http://``, ``https://`` -> live
    stream; a directory -> image folder (images, or a MOTChallenge sequence with ``img1/``); anything else -> a
    video file. ``fps > 0`` overrides the frame rate the source reports.

    Every source returned has ``camera_id``, ``fps``, iteration over :class:`streams.base.Frame`, ``stats()``,
    ``close()`` and context-manager support. Files and folders are checked now; live streams connect when
    iterated (a server that is down is retried, see :class:`streams.live.LiveSource`).

    Raises:
        SourceError: empty spec, negative fps, unsupported URL scheme, malformed URL, missing or unreadable
            file/folder.
    """
    text = spec.strip()
    if not text:
        raise SourceError(f"camera {camera_id}: source is empty: give a video file, image folder, rtsp:// URL or "
                          f"webcam index")
    if not fps >= 0:
        raise SourceError(f"camera {camera_id}: fps = {fps!r} is out of range: use 0 (the source's own rate) or a "
                          f"positive number")
    if _WEBCAM_INDEX.fullmatch(text):
        return LiveSource(int(text), camera_id, cfg, fps)
    scheme = _URL_SCHEME.match(text)
    if scheme is not None:
        if scheme["scheme"].lower() in LIVE_URL_SCHEMES:
            return LiveSource(text, camera_id, cfg, fps)
        raise SourceError(f"camera {camera_id}: source {redact(text)!r}: unsupported URL scheme "
                          f"{scheme['scheme']!r}; use {', '.join(s + '://' for s in LIVE_URL_SCHEMES)}, a video "
                          f"file, an image folder or a webcam index")
    path = Path(text).expanduser()
    if path.is_dir():
        return ImageFolderSource(path, camera_id, cfg, fps)
    return VideoFileSource(path, camera_id, cfg, fps)
