"""Replay recorded video through the per-camera pipelines (and the hub), writing MOTChallenge files.

Cameras are stepped in sync by frame index: frame f of every camera is processed before frame f+1 of any, and the
hub is stepped once every camera's frame f is published, so it sees tracklets in time order, as it would live.
The frames go through one :class:`tracker.pipeline.loop.FrameLoop` (a streaming detector works on frames of every
camera and the next round at once) to its sinks: MOT files, the hub, stage timings, annotated video.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streams.base import Frame, FrameSource
from tracker.bus.schema import Keys
from tracker.config import Config
from tracker.config.geometry import resolve_calibrations
from tracker.models.factory import build_models
from tracker.offline.mot_sink import MotSink
from tracker.pipeline.camera import STAGES, CameraPipeline, FrameResult
from tracker.pipeline.loop import FrameLoop, timed_frames
from tracker.pipeline.sink import FrameSink, PerCamera
from tracker.pipeline.snapshot_sink import SnapshotSink
from tracker.pipeline.stats_sink import FrameStats
from tracker.pipeline.video_sink import VideoSink

if TYPE_CHECKING:
    from tracker.hub.session import HubSession

__all__ = ["CameraSpec", "ReplaySummary", "run_replay", "parse_camera_spec"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraSpec:
    name: str
    source: str


@dataclass
class ReplaySummary:
    """What a replay did: frames and local tracks per camera, stage -> ms per frame, wall time, the MOT files
    written, and the global identities (with the hub)."""

    frames: dict[str, int] = field(default_factory=dict)
    tracks: dict[str, int] = field(default_factory=dict)
    stage_ms: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    wall_s: float = 0.0
    outputs: dict[str, Path] = field(default_factory=dict)
    global_ids: int = 0
    redis_outages: int = 0           # Redis outages ridden out (with the hub)
    redis_down_s: float = 0.0        # their total length, seconds
    messages_dropped: int = 0        # frame messages dropped above worker.outbox_max_messages per camera
    published_ids: int = 0           # global ids the hub handed to tracks (new identities and assignments)
    corrections: dict[str, int] = field(default_factory=dict)  # later corrections of them, by cause

    def correction_rate(self) -> float:
        """How often a published global id was corrected later: corrections / published ids (0 with none)."""
        return sum(self.corrections.values()) / self.published_ids if self.published_ids else 0.0

    def stage_median_ms(self) -> dict[str, float]:
        return {k: float(np.median(v)) if v else 0.0 for k, v in self.stage_ms.items()}


def parse_camera_spec(text: str) -> CameraSpec:
    """``NAME=PATH`` -> CameraSpec; a bare file path takes its parent folder's name (``.../cam1/video.mp4`` -> cam1),
    a bare folder its own (``.../TUD-Campus`` -> TUD-Campus, the name its ground truth is evaluated under)."""
    import re

    from tracker.config import ConfigError

    if "=" in text and not text.split("=", 1)[0].startswith(("rtsp", "http")) and "://" not in text.split("=")[0]:
        name, source = text.split("=", 1)
    else:
        source = text
        p = Path(source)
        name = p.parent.name if p.suffix and not p.is_dir() else p.name  # a folder (MOT sequence) names itself
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        raise ConfigError(f"--camera {text!r}: camera name {name!r} must be 1-64 letters, digits, '-' or '_' "
                          f"(use NAME=PATH)")
    return CameraSpec(name, source)


def run_replay(cfg: Config, cameras: list[CameraSpec], out_dir: Path, *, use_hub: bool = True,
               save_video: bool = False, progress: bool = True, sinks: Sequence[FrameSink] = (),
               hub_session: HubSession | None = None, save_map: bool = False) -> ReplaySummary:
    """Replays every camera and writes ``out_dir/NAME.txt``.

    With ``use_hub`` the ids in ``NAME.txt`` are global (final local->global mapping from the hub) and the
    per-camera ids are kept in ``out_dir/local/NAME.txt``; without it ``NAME.txt`` holds per-camera ids.
    ``sinks``: more sinks for every finished frame (closed at the end). ``hub_session``: an open
    :class:`tracker.hub.session.HubSession` (made here from the config when None). ``save_map`` (with the hub):
    ``out_dir/map.png``, a top view of every identity's path on the ground and the calibrated cameras' views.
    """
    from streams.factory import open_source

    names = [c.name for c in cameras]
    if len(set(names)) != len(names):
        from tracker.config import ConfigError

        raise ConfigError(f"--camera names must be unique, got {names}")
    calibrations = resolve_calibrations(cfg, names)  # fail fast on a bad calibration, before any work
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = {c.name: open_source(c.source, c.name, cfg.source) for c in cameras}  # fail fast on bad input
    hub = None
    try:
        models = build_models(cfg)
        if use_hub:
            from tracker.hub.session import HubSession

            hub = hub_session or HubSession.open(cfg, names)
        fps = {name: src.fps or cfg.source.default_fps for name, src in sources.items()}
        pipelines = {name: CameraPipeline(cfg, name, fps[name], *models, calibration=calibrations.get(name))
                     for name in sources}
        extra: list[FrameSink] = [*([_Progress(_total_frames(sources))] if progress else []), *sinks]
        late = {name: p.tracker.max_late_frames for name, p in pipelines.items()}
        summary = _replay(sources, pipelines, _sinks(cfg, out_dir, fps, late, hub, save_video, extra))
        _finish_outputs(cfg, out_dir, names, hub, summary)
        if save_map and hub is not None:
            _save_map(cfg, out_dir / "map.png", hub, pipelines)
        return summary
    finally:
        if hub is not None and hub_session is None:
            hub.close()
        for s in sources.values():
            s.close()


def _total_frames(sources: Mapping[str, FrameSource]) -> int | None:
    """Frames in all the files (None: unknown)."""
    return sum(int(getattr(s, "frame_count", 0) or 0) for s in sources.values()) or None


def _rounds(active: dict[str, Iterator[tuple[Frame, float]]]) -> Iterator[tuple[Frame, float, bool]]:
    """Frames in replay order: one of every camera whose source has not ended, camera by camera, round after
    round; (frame, decode ms, last of its round)."""
    while active:
        batch: list[tuple[Frame, float]] = []
        for name in list(active):
            try:
                batch.append(next(active[name]))
            except StopIteration:
                del active[name]
        for i, (frame, decode_ms) in enumerate(batch):
            yield frame, decode_ms, i == len(batch) - 1


class _HubSink:
    """Publishes every frame to the hub session and steps the hub after the last frame of each round (marked with
    ``step_after`` when submitted)."""

    def __init__(self, hub: HubSession) -> None:
        self.hub = hub
        self._round_ends: deque[Frame] = deque()

    def step_after(self, frame: Frame) -> None:
        self._round_ends.append(frame)

    def on_frame(self, frame: Frame, result: FrameResult) -> None:
        self.hub.publish(frame.camera_id, result.updates, frame.image, frame.index, frame.timestamp_s, result.late)
        if self._round_ends and self._round_ends[0] is frame:
            self._round_ends.popleft()
            self.hub.step()

    def close(self, *, completed: bool = True) -> None:
        """The session stays open: the replay drains it and reads the global ids."""


class _Progress:
    """A progress bar of the frames done."""

    def __init__(self, total_frames: int | None) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total_frames, unit="frame", desc="replay", dynamic_ncols=True)

    def on_frame(self, frame: Frame, result: FrameResult) -> None:
        self._bar.update(1)

    def close(self, *, completed: bool = True) -> None:
        self._bar.close()


@dataclass
class _Sinks:
    """The replay's own sinks (stats and hub are read after the loop) and all sinks, in the order they run."""

    stats: FrameStats
    hub: _HubSink | None
    sinks: list[FrameSink]


def _sinks(cfg: Config, out_dir: Path, fps: Mapping[str, float], late_frames: Mapping[str, int],
           hub: HubSession | None, save_video: bool, extra: Sequence[FrameSink]) -> _Sinks:
    """Stage timings, MOT files (``local/`` with a hub), annotated video, the web console's snapshots (with a hub:
    written to its Redis), ``extra``, and the hub last (it steps
    after a round's last frame has been through every other sink). late_frames: how many frames late each camera's
    tracker may write a box (tentative boxes, filled gaps)."""
    local_dir = out_dir / "local" if hub is not None else out_dir
    stats = FrameStats()
    sinks: list[FrameSink] = [stats, PerCamera({
        name: MotSink(local_dir / f"{name}.txt", late_frames[name] + 1) for name in fps})]
    if save_video:
        sinks.append(PerCamera({name: VideoSink(out_dir / f"{name}.mp4", rate, _global_ids(hub, name))
                                for name, rate in fps.items()}))
    if hub is not None and hub.outbox is not None and cfg.snapshots.enabled:
        keys = Keys(cfg.redis.key_prefix)
        sinks.append(PerCamera({name: SnapshotSink(hub.outbox, keys, name, cfg.snapshots) for name in fps}))
    sinks += extra
    hub_sink = _HubSink(hub) if hub is not None else None
    if hub_sink is not None:
        sinks.append(hub_sink)
    return _Sinks(stats, hub_sink, sinks)


def _global_ids(hub: HubSession | None, camera: str) -> Callable[[], Mapping[int, int]] | None:
    return None if hub is None else lambda: hub.local_to_global(camera)


def _replay(sources: dict[str, FrameSource], pipelines: dict[str, CameraPipeline], sinks: _Sinks) -> ReplaySummary:
    """Every camera's frames, round by round, through one frame loop (frame by frame: no Re-ID overlap)."""
    t_start = time.perf_counter()
    with FrameLoop(pipelines, sinks.sinks, overlap_reid=False) as loop:
        for frame, decode_ms, end_of_round in _rounds({n: timed_frames(s) for n, s in sources.items()}):
            if end_of_round and sinks.hub is not None:
                sinks.hub.step_after(frame)
            loop.submit(frame, decode_ms)
        loop.flush()
    stats = sinks.stats
    return ReplaySummary(frames={n: stats.frames[n] for n in sources},
                         tracks={n: len(stats.local_ids[n]) for n in sources}, stage_ms=stats.stage_ms,
                         wall_s=time.perf_counter() - t_start)


def _save_map(cfg: Config, path: Path, hub: HubSession, pipelines: Mapping[str, CameraPipeline]) -> None:
    """The replay's ground map: every identity's path (from the hub's stored trajectories) and each calibrated
    camera's field of view."""
    import cv2

    from tracker.hub.queries import ground_trajectories
    from tracker.offline.ground_map import render_ground_map

    views = {name: view for name, p in pipelines.items() if (view := p.ground_view) is not None}
    if not views:
        log.warning("--save-map: no camera is calibrated (pass --calibration FILE); no map written")
        return
    paths = ground_trajectories(hub.handle.client, cfg)
    cv2.imwrite(str(path), render_ground_map(paths, views))
    log.info("ground map of %d identities and %d cameras -> %s", len(paths), len(views), path)


def _finish_outputs(cfg: Config, out_dir: Path, names: list[str], hub: HubSession | None,
                    summary: ReplaySummary) -> None:
    """With a hub: ``NAME.txt`` from ``local/NAME.txt`` with global ids. Then gap interpolation, if on."""
    if hub is not None:
        hub.drain()  # waits out an outage of up to worker.redis_outage_max_s
        from tracker.offline.postprocess import UNMAPPED_ID_BASE, relabel_mot_file

        gids: set[int] = set()
        for name in names:
            mapping = hub.final_local_to_global(name)
            relabel_mot_file(out_dir / "local" / f"{name}.txt", out_dir / f"{name}.txt", mapping,
                             UNMAPPED_ID_BASE * (1 + sorted(names).index(name)))
            gids.update(mapping.values())
        summary.global_ids = len(gids)
        report = hub.outage_report()
        summary.redis_outages, summary.redis_down_s = report.outages, report.down_s
        summary.messages_dropped = report.messages_dropped
        if hub.hub is not None:
            summary.published_ids = hub.hub.stats.published
            summary.corrections = dict(hub.hub.stats.corrections_by_cause)
        if report.outages or report.messages_dropped:
            log.warning("replay rode out %d Redis outage(s) (the hub waited %.1f s); %d frame message(s) dropped above "
                        "worker.outbox_max_messages", report.outages, report.down_s, report.messages_dropped)
    if cfg.output.interpolate_max_gap_frames > 0:
        from tracker.offline.postprocess import interpolate_mot_file

        for name in names:
            interpolate_mot_file(out_dir / f"{name}.txt", cfg.output.interpolate_max_gap_frames)
    summary.outputs = {n: out_dir / f"{n}.txt" for n in names}
