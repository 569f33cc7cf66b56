"""Live sources: RTSP/HTTP streams and webcams, read in a background thread that keeps only the newest frame.

Robustness model:

* a reader thread reads frames as fast as the source sends them into a one-slot buffer (each frame replaced
  before the consumer took it counts as dropped), so a slow consumer never lags behind the camera;
* a read failure, or a stall watchdog (no frame for ``read_timeout_s``), triggers a reconnect with exponential
  backoff (``reconnect_initial_backoff_s`` doubling up to ``reconnect_max_backoff_s``, +/- ``reconnect_jitter``);
  a stalled reader that OpenCV does not release is abandoned to a fresh thread (it exits when its read returns);
* an RTSP/HTTP server that is down at start is retried the same way; a malformed URL is fatal at once; a webcam
  that cannot be opened within ``open_timeout_s`` of the first start is fatal;
* every log line and error shows the URL with its password redacted (:func:`streams.redact.redact`).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import cv2
import numpy as np

from streams.backoff import backoff_delay_s
from streams.base import Frame, SourceError
from streams.latest_slot import LatestSlot
from streams.redact import redact
from streams.settings import SourceSettings
from streams.stats import SourceStats
from streams.video_file import plausible_fps

__all__ = ["LiveSource", "LIVE_URL_SCHEMES", "validate_stream_url", "ffmpeg_capture_options"]

logger = logging.getLogger(__name__)

LIVE_URL_SCHEMES = ("rtsp", "rtsps", "http", "https")
FFMPEG_OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_MS_PER_S = 1000.0
_US_PER_S = 1_000_000.0
_POLL_S = 0.1  # a waiting consumer re-checks close() / fatal errors this often
_WATCHDOG_MAX_PERIOD_S = 0.25  # the stall watchdog looks at least this often (more often for short timeouts)
_WATCHDOG_CHECKS_PER_TIMEOUT = 4
_JOIN_TIMEOUT_S = 3.0  # close() waits this long (in all) for the reader threads
# OpenCV's own read timeout is only a backstop: FFmpeg keeps handing out frames it still had buffered (one per
# timeout) when a stream stalls, which would keep resetting the watchdog if both timeouts were equal. With the
# backstop longer, the watchdog (exactly read_timeout_s) fires first; the abandoned reader exits at the backstop.
_OPENCV_READ_TIMEOUT_FACTOR = 2.0

# OPENCV_FFMPEG_CAPTURE_OPTIONS is process-wide and read by OpenCV while opening: set, open and restore under this
# lock (opens of live streams in one process are serialised; a worker process has one camera).
_FFMPEG_ENV_LOCK = threading.Lock()


def validate_stream_url(url: str) -> str:
    """Check ``url`` is a usable rtsp(s)/http(s) URL with a host; returns its scheme (lower case).

    Raises:
        SourceError: malformed URL (the message shows it with the password redacted).
    """
    shown = redact(url)
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a non-numeric or out-of-range port
        host = parts.hostname
    except ValueError as exc:
        raise SourceError(f"stream URL {shown!r} is malformed ({redact(str(exc))}): use "
                          f"rtsp://[user:password@]host[:port]/path") from None
    scheme = parts.scheme.lower()
    if scheme not in LIVE_URL_SCHEMES:
        raise SourceError(f"stream URL {shown!r}: unsupported scheme {scheme!r}; use one of "
                          f"{', '.join(s + '://' for s in LIVE_URL_SCHEMES)}")
    if not host:
        raise SourceError(f"stream URL {shown!r} has no host: use {scheme}://[user:password@]host[:port]/path")
    if any(c.isspace() for c in url):
        raise SourceError(f"stream URL {shown!r} contains whitespace: percent-encode it (%20)")
    if port == 0:
        raise SourceError(f"stream URL {shown!r}: port 0 is not a valid port (allowed 1-65535)")
    return scheme


def ffmpeg_capture_options(existing: str, transport: str | None, probe_s: float) -> str:
    """``OPENCV_FFMPEG_CAPTURE_OPTIONS`` (``key;value|key;value``) with ``analyzeduration`` set from ``probe_s``
    and, when ``transport`` is given, ``rtsp_transport``; other options in ``existing`` are kept."""
    ours = {"analyzeduration": str(int(probe_s * _US_PER_S))}
    if transport is not None:
        ours["rtsp_transport"] = transport
    kept = [item for item in existing.split("|") if item and item.split(";", 1)[0] not in ours]
    return "|".join(kept + [f"{key};{value}" for key, value in ours.items()])


class LiveSource:
    """A live stream (``rtsp://``, ``rtsps://``, ``http(s)://``) or a webcam (an int index).

    Frames: ``index`` counts frames delivered since start (1-based); ``timestamp_s`` is the wall clock
    (``time.time()``) when the frame was read. Iteration ends only on :meth:`close` (from another thread or
    between two frames), or with a :class:`SourceError` for a webcam that cannot be opened at first start.

    Args:
        source: URL or webcam index.
        camera_id: camera name (logs, frames).
        cfg: timeouts, backoff, RTSP transport, default fps.
        fps: > 0 overrides the frame rate the stream reports.
        rng: random generator for the backoff jitter (default: a fresh unseeded one).

    Raises:
        SourceError: a malformed URL (at once).
    """

    def __init__(self, source: str | int, camera_id: str, cfg: SourceSettings, fps: float = 0.0,
                 rng: random.Random | None = None) -> None:
        self.camera_id = camera_id
        self._cfg = cfg
        self._fps_override = float(fps)
        self._rng = rng or random.Random()
        self._log = logging.LoggerAdapter(logger, {"camera": camera_id})
        if isinstance(source, int):
            if source < 0:
                raise SourceError(f"camera {camera_id}: webcam index {source} is invalid: use 0, 1, ...")
            self._source: str | int = source
            self._scheme = "webcam"
            self.display_name = f"webcam {source}"
        else:
            self._scheme = validate_stream_url(source)
            self._source = source
            self.display_name = redact(source)
        self._slot: LatestSlot[tuple[np.ndarray, float]] = LatestSlot()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._watchdog: threading.Thread | None = None
        # state below is guarded by self._lock
        self._generation = 0
        self._attempt = 0  # consecutive failed connections (drives the backoff); reset by a delivered frame
        self._phase = "idle"  # idle | waiting | opening | streaming | closed
        self._phase_since = 0.0
        self._last_frame_mono = 0.0
        self._start_mono = 0.0
        self._ever_connected = False
        self._fatal: SourceError | None = None
        self._reported_fps = 0.0
        self._frames_read = 0
        self._reconnects = 0
        self._last_error = ""
        self._width = self._height = 0
        self._delivered = 0

    # ------------------------------------------------------------------------------------------------------------
    # public API

    @property
    def fps(self) -> float:
        """The override if given, else what the stream reports once connected, else ``cfg.default_fps``."""
        if self._fps_override > 0:
            return self._fps_override
        with self._lock:
            reported = self._reported_fps
        return reported if reported > 0 else self._cfg.default_fps

    def start(self) -> None:
        """Start the reader and watchdog threads (iteration does this; idempotent)."""
        with self._lock:
            if self._phase != "idle":
                return
            self._start_mono = time.monotonic()
            self._set_phase("opening")
        self._log.info("%s: starting (%s)", self.display_name, self._describe_options())
        self._spawn_reader(delay_first=False)
        self._watchdog = threading.Thread(target=self._watchdog_main, name=f"watchdog-{self.camera_id}",
                                          daemon=True)
        self._watchdog.start()

    def read(self, timeout_s: float) -> Frame | None:
        """The newest frame not yet delivered, waiting up to ``timeout_s``; None if none came (or after close).

        Raises:
            SourceError: a webcam that could not be opened at first start.
        """
        self.start()
        deadline = time.monotonic() + timeout_s
        while not self._stop.is_set():
            item = self._slot.get(max(0.0, min(_POLL_S, deadline - time.monotonic())))
            if item is not None:
                image, captured_s = item
                with self._lock:
                    self._delivered += 1
                    index = self._delivered
                return Frame(self.camera_id, index, captured_s, image)
            with self._lock:
                fatal = self._fatal
            if fatal is not None:
                raise fatal
            if time.monotonic() >= deadline:
                return None
        return None

    def __iter__(self) -> Iterator[Frame]:
        """Frames until :meth:`close` (blocks while the stream is down or reconnecting)."""
        while not self._stop.is_set():
            frame = self.read(_POLL_S)
            if frame is not None:
                yield frame

    def stats(self) -> SourceStats:
        with self._lock:
            return SourceStats(frames_read=self._frames_read, frames_dropped=self._slot.dropped,
                               reconnects=self._reconnects, connected=self._phase == "streaming",
                               last_error=self._last_error, width=self._width, height=self._height)

    def close(self) -> None:
        """Stop the threads (each joined with a timeout) and end iteration. Safe to call twice."""
        self._stop.set()
        with self._lock:
            self._generation += 1
            self._set_phase("closed")
            threads = list(self._threads) + ([self._watchdog] if self._watchdog is not None else [])
        self._slot.close()
        deadline = time.monotonic() + _JOIN_TIMEOUT_S
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [t.name for t in threads if t.is_alive()]
        if stuck:
            self._log.warning("%s: %s still blocked in OpenCV after %.0f s; they exit when their read returns",
                              self.display_name, ", ".join(stuck), _JOIN_TIMEOUT_S)

    def __enter__(self) -> LiveSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------------------------
    # reader thread

    def _set_phase(self, phase: str) -> None:
        """Caller holds self._lock."""
        self._phase = phase
        self._phase_since = time.monotonic()

    def _describe_options(self) -> str:
        if self._scheme == "webcam":
            return f"open timeout {self._cfg.open_timeout_s:g} s"
        transport = f"transport {self._cfg.rtsp_transport}, " if self._scheme.startswith("rtsp") else ""
        return (f"{transport}open timeout {self._cfg.open_timeout_s:g} s, read timeout "
                f"{self._cfg.read_timeout_s:g} s, probe {self._cfg.stream_probe_s:g} s")

    def _spawn_reader(self, delay_first: bool) -> None:
        with self._lock:
            generation = self._generation
            thread = threading.Thread(target=self._reader_main, args=(generation, delay_first),
                                      name=f"reader-{self.camera_id}-{generation}", daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _current(self, generation: int) -> bool:
        with self._lock:
            return generation == self._generation and not self._stop.is_set()

    def _note_error(self, message: str) -> None:
        with self._lock:
            self._last_error = redact(message)

    def _open_capture(self) -> cv2.VideoCapture | None:
        """Open the stream (blocking up to the open timeout); None if it cannot be opened now."""
        if isinstance(self._source, int):
            cap = cv2.VideoCapture(self._source)
        else:
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self._cfg.open_timeout_s * _MS_PER_S),
                      cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                      int(self._cfg.read_timeout_s * _OPENCV_READ_TIMEOUT_FACTOR * _MS_PER_S)]
            transport = self._cfg.rtsp_transport if self._scheme.startswith("rtsp") else None
            with _FFMPEG_ENV_LOCK:  # the options apply to this open only: restore the variable afterwards
                previous = os.environ.get(FFMPEG_OPTIONS_ENV)
                os.environ[FFMPEG_OPTIONS_ENV] = ffmpeg_capture_options(previous or "", transport,
                                                                        self._cfg.stream_probe_s)
                try:
                    cap = cv2.VideoCapture(self._source, cv2.CAP_FFMPEG, params)
                finally:
                    if previous is None:
                        os.environ.pop(FFMPEG_OPTIONS_ENV, None)
                    else:
                        os.environ[FFMPEG_OPTIONS_ENV] = previous
        if cap.isOpened():
            return cap
        cap.release()
        return None

    def _reader_main(self, generation: int, delay_first: bool) -> None:
        delay = delay_first
        while self._current(generation):
            if delay:
                with self._lock:
                    attempt = self._attempt
                    self._attempt += 1
                    self._set_phase("waiting")
                wait_s = backoff_delay_s(attempt, self._cfg.reconnect_initial_backoff_s,
                                         self._cfg.reconnect_max_backoff_s, self._cfg.reconnect_jitter, self._rng)
                self._log.info("%s: reconnect attempt %d in %.2f s", self.display_name, attempt + 1, wait_s)
                if self._stop.wait(wait_s) or not self._current(generation):
                    return
            delay = True
            with self._lock:
                self._set_phase("opening")
            try:
                cap = self._open_capture()
            except cv2.error as exc:  # OpenCV raises for some malformed inputs instead of failing the open
                self._note_error(f"{self.display_name}: OpenCV error while opening: {exc}")
                cap = None
            if not self._current(generation):
                if cap is not None:
                    cap.release()
                return
            if cap is None:
                self._on_open_failed()
                continue
            try:
                self._stream(cap, generation)
            finally:
                cap.release()

    def _on_open_failed(self) -> None:
        msg = f"{self.display_name}: cannot open the stream (server down, wrong URL or credentials, or timeout " \
              f"after {self._cfg.open_timeout_s:g} s)"
        self._note_error(msg)
        with self._lock:
            give_up = (self._scheme == "webcam" and not self._ever_connected
                       and time.monotonic() - self._start_mono >= self._cfg.open_timeout_s)
            if give_up:
                self._fatal = SourceError(
                    f"camera {self.camera_id}: {self.display_name} could not be opened within source.open_timeout_s "
                    f"= {self._cfg.open_timeout_s:g} s: check the index and that no other program holds the camera")
                self._generation += 1
        if give_up:
            self._log.error("%s", self._fatal)
        else:
            self._log.warning("%s", redact(msg))

    def _stream(self, cap: cv2.VideoCapture, generation: int) -> None:
        """Read frames from an open capture until it fails, the generation changes or close()."""
        reported = float(cap.get(cv2.CAP_PROP_FPS))
        with self._lock:
            reconnect = self._ever_connected
            self._ever_connected = True
            if reconnect:
                self._reconnects += 1
            self._reported_fps = reported if plausible_fps(reported) else 0.0
            self._set_phase("streaming")
            self._last_frame_mono = time.monotonic()
        self._log.info("%s: %s (%dx%d, reported fps %g)", self.display_name,
                       "reconnected" if reconnect else "connected", int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                       int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), reported)
        first = True
        while True:
            ok, image = cap.read()
            now_s = time.time()
            if not self._current(generation):
                return
            if not ok or image is None:
                msg = f"{self.display_name}: stream read failed or ended (the server closed the connection, or " \
                      f"no data for {self._cfg.read_timeout_s * _OPENCV_READ_TIMEOUT_FACTOR:g} s)"
                self._note_error(msg)
                self._log.warning("%s", msg)
                with self._lock:
                    if generation == self._generation:
                        self._set_phase("waiting")
                return
            height, width = image.shape[:2]
            with self._lock:
                old = (self._width, self._height)
                self._width, self._height = width, height
                self._frames_read += 1
                self._last_frame_mono = time.monotonic()
                if first:
                    self._attempt = 0
            if first and old != (0, 0) and old != (width, height):
                self._log.info("%s: resolution changed from %dx%d to %dx%d", self.display_name, old[0], old[1],
                               width, height)
            first = False
            self._slot.put((image, now_s))

    # ------------------------------------------------------------------------------------------------------------
    # watchdog thread

    def _watchdog_main(self) -> None:
        period_s = min(_WATCHDOG_MAX_PERIOD_S, self._cfg.read_timeout_s / _WATCHDOG_CHECKS_PER_TIMEOUT)
        while not self._stop.wait(period_s):
            now = time.monotonic()
            with self._lock:
                phase = self._phase
                stalled_s = now - max(self._last_frame_mono, self._phase_since)
                opening_s = now - self._phase_since
                fatal = self._fatal is not None
            if fatal:
                return
            if phase == "streaming" and stalled_s > self._cfg.read_timeout_s:
                reason = (f"{self.display_name}: no frame for {stalled_s:.1f} s (source.read_timeout_s = "
                          f"{self._cfg.read_timeout_s:g}); stream stalled, reconnecting")
            elif phase == "opening" and opening_s > self._cfg.open_timeout_s + self._cfg.read_timeout_s:
                reason = (f"{self.display_name}: opening did not finish within {opening_s:.1f} s "
                          f"(source.open_timeout_s = {self._cfg.open_timeout_s:g}); retrying")
            else:
                continue
            self._note_error(reason)
            self._log.warning("%s", reason)
            with self._lock:
                if self._stop.is_set():
                    return
                self._generation += 1  # the blocked reader notices when its call returns, and exits
                self._set_phase("waiting")
            self._spawn_reader(delay_first=True)
