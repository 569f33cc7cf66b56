"""LiveSource against a real RTSP server (gst-rtsp-server on loopback, see tests/rtsp_server.py).

Run with ``-s`` to see the measured reconnect figures (``rtsp-restart: ...``, ``rtsp-stall: ...``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import cv2
import numpy as np
import pytest
from paths import DEV
from rtsp_server import RtspServer, free_port, gst_rtsp_unavailable

from streams import Frame, LiveSource, SourceError, open_source
from tracker.config import SourceConfig

_UNAVAILABLE = gst_rtsp_unavailable()
pytestmark = [pytest.mark.skipif(bool(_UNAVAILABLE), reason=_UNAVAILABLE or "gst-rtsp-server available"),
              pytest.mark.timeout(60)]

VIDEO = DEV / "two-cam" / "cam1" / "video.mp4"
RECOVERY_LIMIT_S = 5.0  # frames must resume within this after the server is back
FIRST_FRAME_TIMEOUT_S = 10.0


@pytest.fixture
def cfg() -> SourceConfig:
    """Short timeouts so failures are detected quickly on loopback."""
    return SourceConfig(open_timeout_s=3.0, read_timeout_s=1.5, reconnect_initial_backoff_s=0.2,
                        reconnect_max_backoff_s=1.0, reconnect_jitter=0.2, stream_probe_s=0.5)


@pytest.fixture
def thread_crashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Uncaught exceptions in any thread during the test (the reader must never crash)."""
    crashes: list[str] = []
    original = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        crashes.append(f"{args.thread.name if args.thread else '?'}: {args.exc_type.__name__}: {args.exc_value}")
        original(args)

    monkeypatch.setattr(threading, "excepthook", hook)
    return crashes


@pytest.fixture
def pattern_server() -> Iterator[RtspServer]:
    with RtspServer(pattern="ball", width=320, height=240, fps=15) as server:
        yield server


def _open(url: str, cfg: SourceConfig) -> LiveSource:
    source = open_source(url, "cam-rtsp", cfg)
    assert isinstance(source, LiveSource)
    return source


def _wait_frame(source: LiveSource, timeout_s: float,
                accept: Callable[[Frame], bool] = lambda frame: True) -> Frame | None:
    """The first delivered frame ``accept`` likes, within ``timeout_s``; None if none."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        frame = source.read(left)
        if frame is not None and accept(frame):
            return frame
    return None


def test_reads_a_served_video_end_to_end(cfg: SourceConfig) -> None:
    if not VIDEO.is_file():
        pytest.skip(f"dev data missing: {VIDEO}")
    reference = []
    cap = cv2.VideoCapture(str(VIDEO))
    fps = cap.get(cv2.CAP_PROP_FPS)
    while True:
        ok, image = cap.read()
        if not ok:
            break
        reference.append(image.astype(np.int16))
    cap.release()
    height, width = reference[0].shape[:2]
    with RtspServer(VIDEO, width=width, height=height, fps=round(fps)) as server, _open(server.url, cfg) as source:
        frames = []
        while len(frames) < 5:
            frame = _wait_frame(source, FIRST_FRAME_TIMEOUT_S)
            assert frame is not None, f"no frame from {server.url}: {source.stats()}"
            frames.append(frame)
        stats = source.stats()
        assert source.fps == pytest.approx(fps)  # reported by the stream
    assert [f.index for f in frames] == [1, 2, 3, 4, 5]
    assert all(f.image.shape == (height, width, 3) and f.camera_id == "cam-rtsp" for f in frames)
    assert all(b.timestamp_s > a.timestamp_s for a, b in zip(frames, frames[1:]))
    assert abs(time.time() - frames[-1].timestamp_s) < FIRST_FRAME_TIMEOUT_S  # wall clock, not media time
    assert stats.connected and stats.frames_read >= 5 and (stats.width, stats.height) == (width, height)
    # the content is the video's: the last frame is close to one of its frames (H.264 re-encoding is lossy)
    errors = [float(np.abs(frames[-1].image.astype(np.int16) - ref).mean()) for ref in reference]
    best = int(np.argmin(errors))
    typical = float(np.median(errors))
    print(f"\nrtsp-e2e: frame {frames[-1].index} matches video frame {best + 1}: mean abs error "
          f"{errors[best]:.1f} (median over all frames {typical:.1f})")
    assert errors[best] < typical / 2, (errors[best], typical)


def test_server_down_at_start_is_retried(cfg: SourceConfig) -> None:
    server = RtspServer(pattern="smpte", width=320, height=240, fps=15, port=free_port())
    with _open(server.url, cfg) as source:
        assert source.read(1.0) is None  # connection refused: retried, not fatal
        assert "cannot open" in source.stats().last_error and not source.stats().connected
        with server:
            assert _wait_frame(source, FIRST_FRAME_TIMEOUT_S) is not None
            assert source.stats().connected and source.stats().reconnects == 0  # the first connection


def test_reconnects_after_the_server_is_killed_and_restarted(cfg: SourceConfig, pattern_server: RtspServer,
                                                            thread_crashes: list[str]) -> None:
    with _open(pattern_server.url, cfg) as source:
        before = _wait_frame(source, FIRST_FRAME_TIMEOUT_S)
        assert before is not None
        t_kill_wall, t_kill = time.time(), time.monotonic()
        pattern_server.restart()  # SIGKILL, then a new server process on the same port
        after = _wait_frame(source, RECOVERY_LIMIT_S + 5.0,
                            lambda f: f.timestamp_s > t_kill_wall and source.stats().reconnects >= 1)
        recovered_s = time.monotonic() - t_kill
        stats = source.stats()
    print(f"\nrtsp-restart: reconnected in {recovered_s:.1f} s, {len(thread_crashes)} crashes "
          f"(reconnects={stats.reconnects}, frames_read={stats.frames_read}, dropped={stats.frames_dropped})")
    assert after is not None, f"no frame after the restart: {stats}"
    assert recovered_s < RECOVERY_LIMIT_S
    assert after.index > before.index  # the index keeps counting across reconnects
    assert stats.reconnects >= 1 and not thread_crashes


def test_a_stalled_stream_is_detected_and_recovered(cfg: SourceConfig, pattern_server: RtspServer,
                                                    thread_crashes: list[str],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="streams")
    with _open(pattern_server.url, cfg) as source:
        assert _wait_frame(source, FIRST_FRAME_TIMEOUT_S) is not None
        pattern_server.pause()  # SIGSTOP: the TCP connection stays up, no data flows
        try:
            t_stall = time.monotonic()
            while time.monotonic() - t_stall < cfg.read_timeout_s + 2.0 and source.stats().connected:
                source.read(0.1)  # drain frames still buffered from before the stall
            detected_s = time.monotonic() - t_stall
            stats = source.stats()
            assert not stats.connected, f"stall not detected: {stats}"
            assert any("stalled" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
            assert source.read(0.5) is None  # nothing is delivered while stalled
        finally:
            pattern_server.resume()
        t_resume_wall, t_resume = time.time(), time.monotonic()
        after = _wait_frame(source, RECOVERY_LIMIT_S + 5.0, lambda f: f.timestamp_s > t_resume_wall)
        recovered_s = time.monotonic() - t_resume
        stats = source.stats()
    print(f"\nrtsp-stall: detected after {detected_s:.1f} s (read_timeout_s={cfg.read_timeout_s:g}), frames back "
          f"{recovered_s:.1f} s after SIGCONT, {len(thread_crashes)} crashes")
    assert after is not None, f"no frame after the stall: {stats}"
    assert recovered_s < RECOVERY_LIMIT_S
    assert stats.reconnects >= 1 and not thread_crashes


def test_resolution_change_after_reconnect_is_delivered(cfg: SourceConfig, pattern_server: RtspServer,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="streams")
    old_size = (pattern_server.width, pattern_server.height)
    new_size = (old_size[0] * 2, old_size[1] * 2)
    with _open(pattern_server.url, cfg) as source:
        first = _wait_frame(source, FIRST_FRAME_TIMEOUT_S)
        assert first is not None and first.image.shape[:2] == old_size[::-1]
        pattern_server.restart(width=new_size[0], height=new_size[1])
        after = _wait_frame(source, RECOVERY_LIMIT_S + 5.0, lambda f: f.image.shape[:2] == new_size[::-1])
        stats = source.stats()
    assert after is not None, f"no {new_size[0]}x{new_size[1]} frame after the restart: {stats}"
    assert (stats.width, stats.height) == new_size
    expected = f"resolution changed from {old_size[0]}x{old_size[1]} to {new_size[0]}x{new_size[1]}"
    assert any(expected in r.getMessage() for r in caplog.records)


def test_newest_frame_policy_drops_frames_and_bounds_latency(cfg: SourceConfig, pattern_server: RtspServer) -> None:
    slow_step_s = 1.0
    with _open(pattern_server.url, cfg) as source:
        assert _wait_frame(source, FIRST_FRAME_TIMEOUT_S) is not None
        lags = []
        for _ in range(3):
            dropped_before = source.stats().frames_dropped
            time.sleep(slow_step_s)  # a slow processing step
            frame = source.read(FIRST_FRAME_TIMEOUT_S)
            assert frame is not None
            lags.append(time.time() - frame.timestamp_s)
            assert source.stats().frames_dropped > dropped_before
        stats = source.stats()
        delivered = frame.index
    print(f"\nrtsp-latency: lag after {slow_step_s:g} s steps: {', '.join(f'{lag:.3f}' for lag in lags)} s; "
          f"dropped {stats.frames_dropped} of {stats.frames_read}")
    assert max(lags) < 1.0  # the frame handed over after a slow step is recent, not a backlog
    # every frame read was delivered, dropped or is the one waiting in the slot
    assert stats.frames_read - stats.frames_dropped - delivered in (0, 1)


def test_credentials_never_appear_in_logs_or_errors(cfg: SourceConfig, caplog: pytest.LogCaptureFixture,
                                                    capfd: pytest.CaptureFixture[str]) -> None:
    secret = "S3cret-Pa55"
    caplog.set_level(logging.DEBUG)
    with RtspServer(pattern="ball", width=320, height=240, fps=15, user="viewer", password=secret) as server:
        assert secret in server.url
        with _open(server.url, cfg) as source:  # right credentials: frames flow
            assert _wait_frame(source, FIRST_FRAME_TIMEOUT_S) is not None
            server.restart()  # reconnect logs carry the URL too
            assert _wait_frame(source, RECOVERY_LIMIT_S + 5.0, lambda f: source.stats().reconnects >= 1)
        wrong = server.url.replace(secret, secret + "-wrong")
        with _open(wrong, cfg) as source:  # rejected (401): logged and retried
            assert source.read(1.5) is None
            assert "viewer:***@" in source.stats().last_error and secret not in source.stats().last_error
    with pytest.raises(SourceError) as info:
        open_source(f"rtsp://viewer:{secret}@127.0.0.1:70000/cam", "cam-rtsp", cfg)  # port out of range
    assert secret not in str(info.value)
    captured = capfd.readouterr()  # OpenCV / FFmpeg write to the process' stderr directly
    messages = [r.getMessage() for r in caplog.records] + [caplog.text, captured.out, captured.err]
    assert any("viewer:***@" in m for m in messages)  # the URL was logged, redacted
    assert not [m for m in messages if secret in m]
