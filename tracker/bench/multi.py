"""Multi-camera benchmark: N camera worker processes replay a video in real time through one hub; reports
whether every camera kept up with the real-time rate (from the workers' own heartbeats)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from tracker.config import Config, ConfigError, with_detector_threads_for

__all__ = ["MultiCameraBench", "run_multi_camera_bench"]

log = logging.getLogger(__name__)

#: A camera keeps up when it processes at least this fraction of the offered real-time rate.
KEEP_UP_FRACTION = 0.95
_POLL_S = 0.5
_STARTUP_TIMEOUT_S = 180.0
#: The measurement window ends this long before the first-started camera's replay of the clip ends.
_END_MARGIN_S = 2.0
#: The camera and hub processes' own stdout (their end-of-run summaries) goes to stderr: stdout is the bench's
#: report (one JSON object with --json).
_CHILD_STDOUT = 2
_STOP_TIMEOUT_S = 20.0


@dataclass
class MultiCameraBench:
    cameras: int
    rate: float
    duration_s: float
    aggregate_fps: float
    all_kept_up: bool
    cameras_kept_up: int
    per_camera: list[dict[str, Any]] = field(default_factory=list)
    detector_threads: int = 0  # detector.num_threads of each camera process (0 = OpenVINO's default)
    reid_threads: int = 0  # reid.num_threads of each camera process (0 = the engine's default)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _snapshot(client: Any, keys: Any, names: list[str]) -> dict[str, Any]:
    from tracker.bus.heartbeat import read_heartbeats

    views = {v.name: v for v in read_heartbeats(client, keys, names) if v.kind == "worker"}
    return {n: views[n].record for n in names if n in views and views[n].record is not None}


def run_multi_camera_bench(cfg: Config, video: str, cameras: int, rate: float, duration_s: float,
                           config_path: str | None = None, overrides: list[str] | None = None) -> MultiCameraBench:
    """Starts an embedded Redis (or uses redis.url), one hub process and ``cameras`` worker processes that replay
    ``video`` paced at ``rate`` fps; measures each camera's processed fps over ``duration_s`` once all run."""
    from tracker.bus.connection import connect
    from tracker.bus.heartbeat import HeartbeatKeys

    clip_frames = _clip_frames(cfg, video)
    handle = connect(cfg.redis)
    keys = HeartbeatKeys(cfg.redis.key_prefix)
    common = (["--config", config_path] if config_path else []) + sum((["--set", s] for s in overrides or []), [])
    shared = with_detector_threads_for(cfg, cameras)  # the camera processes share this machine's cores
    if shared.reid.enabled:  # measure the Re-ID path here once (if not cached), not in each starting camera
        from tracker.models.reid.autoselect import resolve_reid_path

        resolve_reid_path(shared.reid)
    worker_args = [] if shared is cfg else ["--set", f"detector.num_threads={shared.detector.num_threads}",
                                            "--set", f"reid.num_threads={shared.reid.num_threads}"]
    env = dict(os.environ)
    procs: list[subprocess.Popen[bytes]] = []
    names = [f"bench{i + 1}" for i in range(cameras)]
    try:
        launched = time.monotonic()
        procs.append(subprocess.Popen([sys.executable, "-m", "tracker", "--log-level", "WARNING", "hub",
                                       "--redis-url", handle.child_url, *common], env=env, stdout=_CHILD_STDOUT))
        for name in names:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "tracker", "--log-level", "WARNING", "worker", "--camera", name,
                 "--source", video, "--fps", str(rate), "--redis-url", handle.child_url, *common, *worker_args,
                 "--set", "source.realtime=true"], env=env, stdout=_CHILD_STDOUT))
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while True:
            snap = _snapshot(handle.client, keys, names)
            if len(snap) == len(names) and all(r.frames_processed > 0 for r in snap.values()):
                break
            if time.monotonic() > deadline or any(p.poll() not in (None, 0) for p in procs):
                raise RuntimeError("multi-camera bench: workers did not start (see their log lines above)")
            time.sleep(_POLL_S)
        t0, start = time.monotonic(), snap
        window_s = duration_s
        if clip_frames:  # a file ends; the cameras stop delivering frames then, which is not falling behind
            window_s = min(duration_s, launched + clip_frames / rate - _END_MARGIN_S - t0)
            if window_s < duration_s:
                log.warning("multi-camera bench: the clip lasts %.0f s at %.1f fps; measuring %.0f s instead of "
                            "%.0f s", clip_frames / rate, rate, window_s, duration_s)
            if window_s <= 0:
                raise ConfigError(f"multi-camera bench: {video} ({clip_frames} frames) is over before the cameras "
                                   f"have started at {rate} fps; use a longer clip or a lower --rate")
        time.sleep(window_s)
        end = _snapshot(handle.client, keys, names)
        elapsed = time.monotonic() - t0
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                p.kill()
        handle.close()
    per_camera = []
    for name in names:
        a, b = start[name], end.get(name, start[name])
        fps = (b.frames_processed - a.frames_processed) / elapsed
        offered = (b.frames_in - a.frames_in) / elapsed
        per_camera.append({"camera": name, "fps": fps, "offered_fps": offered,
                           "dropped": int(b.frames_dropped - a.frames_dropped),
                           "kept_up": fps >= KEEP_UP_FRACTION * rate})
    kept = sum(c["kept_up"] for c in per_camera)
    return MultiCameraBench(cameras=cameras, rate=rate, duration_s=elapsed,
                            aggregate_fps=sum(c["fps"] for c in per_camera), all_kept_up=kept == cameras,
                            cameras_kept_up=kept, per_camera=per_camera,
                            detector_threads=shared.detector.num_threads, reid_threads=shared.reid.num_threads)


def _clip_frames(cfg: Config, video: str) -> int:
    """Frames in a recorded clip (0 = unknown or a live source: no end to wait for)."""
    from streams.factory import open_source
    from streams.image_folder import ImageFolderSource
    from streams.video_file import VideoFileSource

    if "://" in video or video.isdigit():
        return 0
    with open_source(video, "bench-probe", cfg.source) as src:  # a video file declares its frames; a folder has len
        if isinstance(src, VideoFileSource):
            return int(src.frame_count)
        if isinstance(src, ImageFolderSource):
            return len(src)
        return 0
