"""Video files (mp4, avi, mkv ...) through OpenCV, frame-exact for evaluation or paced like a live camera."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from streams.base import Frame, SourceError
from streams.pacing import PacedReader, playback
from streams.settings import SourceSettings
from streams.stats import SourceStats

__all__ = ["VideoFileSource", "plausible_fps"]

logger = logging.getLogger(__name__)

MAX_PLAUSIBLE_FPS = 1000.0  # containers/streams sometimes report a timebase (90000) instead of a frame rate


def plausible_fps(reported: float) -> bool:
    """True for a frame rate a real camera or file could have (0 < fps <= MAX_PLAUSIBLE_FPS)."""
    return bool(np.isfinite(reported)) and 0.0 < reported <= MAX_PLAUSIBLE_FPS


class VideoFileSource:
    """Frames of a video file.

    Default: every frame, in order; ``index`` is the 1-based position in the file and ``timestamp_s`` the media
    time ``(index - 1) / fps``, so results line up with MOTChallenge ground truth. With ``cfg.realtime`` the file
    is decoded in a background thread at its own frame rate and only the newest frame is kept (a slower consumer
    skips frames, counted in ``stats().frames_dropped``); indices and timestamps stay file positions.

    A truncated or damaged file yields what decodes, then logs a warning with the frames read vs the container's
    frame count.

    Raises:
        SourceError: the file does not exist, OpenCV cannot open it, or not even its first frame decodes.
    """

    def __init__(self, path: str | Path, camera_id: str, cfg: SourceSettings, fps: float = 0.0) -> None:
        self.camera_id = camera_id
        self._path = Path(path)
        self._cfg = cfg
        self._log = logging.LoggerAdapter(logger, {"camera": camera_id})
        if not self._path.exists():
            raise SourceError(f"camera {camera_id}: video file {str(self._path)!r} does not exist: check the path "
                              f"(or pass an image folder, rtsp:// URL or webcam index)")
        if not self._path.is_file():
            raise SourceError(f"camera {camera_id}: {str(self._path)!r} is not a regular file: pass a video file or "
                              f"a folder of images")
        cap = cv2.VideoCapture(str(self._path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"camera {camera_id}: {str(self._path)!r} is not a readable video: OpenCV (FFmpeg) "
                              f"cannot open it; check that it is a complete video file (mp4, avi, mkv, ...)")
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise SourceError(f"camera {camera_id}: {str(self._path)!r} is not a readable video: it opens but no "
                              f"frame decodes; check that the file is complete and its codec supported")
        reported_fps = float(cap.get(cv2.CAP_PROP_FPS))
        if fps > 0:
            self._fps = float(fps)
        elif plausible_fps(reported_fps):
            self._fps = reported_fps
        else:
            self._fps = cfg.default_fps
            self._log.warning("%s reports no usable frame rate (%r); assuming source.default_fps = %g",
                              self._path, reported_fps, cfg.default_fps)
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self._container_frames = int(count) if np.isfinite(count) and count > 0 else 0
        self._cap: cv2.VideoCapture | None = cap
        self._cap_lock = threading.Lock()
        self._first: np.ndarray | None = first
        self._stats_lock = threading.Lock()
        self._frames_read = 1
        self._position = 0  # frames handed out of the decoder so far (the last one's index)
        self._ended = False
        self._last_error = ""
        self._height, self._width = first.shape[:2]
        self._paced: PacedReader | None = None
        self._log.info("opened %s: %dx%d, %g fps, %s frames%s", self._path, self._width, self._height, self._fps,
                       self._container_frames or "unknown", " (realtime replay)" if cfg.realtime else "")

    # ------------------------------------------------------------------------------------------------------------

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def frame_count(self) -> int:
        """Frames the container declares (0 if unknown)."""
        return self._container_frames

    def _decoded(self) -> Iterator[tuple[int, np.ndarray]]:
        """(index, image) for every frame that decodes, in file order; calls _finish at the end."""
        while True:
            with self._cap_lock:
                if self._first is not None:
                    image: np.ndarray | None = self._first
                    self._first = None
                elif self._cap is None:
                    return  # closed
                else:
                    ok, image = self._cap.read()
                    if not ok or image is None:
                        image = None
                    else:
                        with self._stats_lock:
                            self._frames_read += 1
                if image is None:
                    break
                self._position += 1
                index = self._position
            with self._stats_lock:
                self._height, self._width = image.shape[:2]
            yield index, image
        self._finish()

    def _finish(self) -> None:
        with self._stats_lock:
            if self._ended:
                return
            self._ended = True
            read = self._frames_read
        if self._container_frames and read < self._container_frames:
            msg = (f"{self._path} ended after {read} of the {self._container_frames} frames its container declares: "
                   f"the file is truncated or damaged")
            with self._stats_lock:
                self._last_error = msg
            self._log.warning(msg)
        else:
            self._log.info("%s: end of file after %d frames", self._path, read)

    def __iter__(self) -> Iterator[Frame]:
        frames, self._paced = playback(self._decoded(), self._fps, self.camera_id, self._cfg.realtime, self._paced)
        for index, image in frames:
            yield Frame(self.camera_id, index, (index - 1) / self._fps, image)

    def stats(self) -> SourceStats:
        with self._stats_lock:
            dropped = self._paced.dropped if self._paced is not None else 0
            return SourceStats(frames_read=self._frames_read, frames_dropped=dropped, reconnects=0,
                               connected=self._cap is not None and not self._ended, last_error=self._last_error,
                               width=self._width, height=self._height)

    def close(self) -> None:
        """Stop a realtime reader and release the file. Safe to call twice."""
        if self._paced is not None:
            self._paced.close()
        with self._cap_lock:
            if self._cap is not None:
                self._cap.release()
                self._cap = None
            self._first = None

    def __enter__(self) -> VideoFileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
