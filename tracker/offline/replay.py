"""Replay recorded video through the per-camera pipelines (and the hub), writing MOTChallenge files.

Cameras are stepped in sync by frame index: frame f of every camera is processed before frame f+1 of any, so
the hub sees tracklets in time order, as it would live.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from streams.base import Frame, FrameSource
from tracker.config import Config
from tracker.models.factory import build_models
from tracker.offline.mot_sink import MotSink
from tracker.pipeline.camera import (
    STAGES,
    CameraPipeline,
    DetectingFrame,
    FrameResult,
    in_order,
)

__all__ = ["CameraSpec", "ReplaySummary", "run_replay", "parse_camera_spec"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraSpec:
    name: str
    source: str


@dataclass
class ReplaySummary:
    frames: dict[str, int] = field(default_factory=dict)
    tracks: dict[str, int] = field(default_factory=dict)
    stage_ms: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    wall_s: float = 0.0
    outputs: dict[str, Path] = field(default_factory=dict)
    global_ids: int = 0

    def stage_median_ms(self) -> dict[str, float]:
        return {k: float(np.median(v)) if v else 0.0 for k, v in self.stage_ms.items()}


def parse_camera_spec(text: str) -> CameraSpec:
    """``NAME=PATH`` -> CameraSpec; a bare path takes its parent folder's name (``.../cam1/video.mp4`` -> cam1)."""
    import re

    from tracker.config import ConfigError

    if "=" in text and not text.split("=", 1)[0].startswith(("rtsp", "http")) and "://" not in text.split("=")[0]:
        name, source = text.split("=", 1)
    else:
        source = text
        p = Path(source)
        name = p.parent.name if p.suffix else p.name
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        raise ConfigError(f"--camera {text!r}: camera name {name!r} must be 1-64 letters, digits, '-' or '_' "
                          f"(use NAME=PATH)")
    return CameraSpec(name, source)


def _timed_frames(source: FrameSource) -> Iterator[tuple[Frame, float]]:
    """Yields (frame, decode ms)."""
    it = iter(source)
    while True:
        t0 = time.perf_counter()
        try:
            frame = next(it)
        except StopIteration:
            return
        yield frame, (time.perf_counter() - t0) * 1e3


def run_replay(cfg: Config, cameras: list[CameraSpec], out_dir: Path, *, use_hub: bool = True,
               save_video: bool = False, progress: bool = True,
               on_frame: Callable[[str, Frame, FrameResult], None] | None = None,
               hub_session: object | None = None) -> ReplaySummary:
    """Replays every camera and writes ``out_dir/NAME.txt``.

    With ``use_hub`` the ids in ``NAME.txt`` are global (final local->global mapping from the hub) and the
    per-camera ids are kept in ``out_dir/local/NAME.txt``; without it ``NAME.txt`` holds per-camera ids.
    ``hub_session``: an open :class:`tracker.hub.session.HubSession` (made here from the config when None).
    """
    from streams.factory import open_source

    names = [c.name for c in cameras]
    if len(set(names)) != len(names):
        from tracker.config import ConfigError

        raise ConfigError(f"--camera names must be unique, got {names}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = {c.name: open_source(c.source, c.name, cfg.source) for c in cameras}  # fail fast on bad input
    try:
        detector, embedder, clahe = build_models(cfg)
        hub = None
        if use_hub:
            from tracker.hub.session import HubSession

            hub = hub_session or HubSession.open(cfg, names)
        return _replay_loop(cfg, sources, out_dir, detector, embedder, clahe, hub, save_video, progress,
                            on_frame, owns_hub=hub_session is None)
    finally:
        for s in sources.values():
            s.close()


def _rounds(active: dict[str, Iterator[tuple[Frame, float]]]) -> Iterator[tuple[str, Frame, float, bool]]:
    """Frames in replay order: one of every camera whose source has not ended, camera by camera, round after
    round; (camera, frame, decode ms, last of its round)."""
    while active:
        batch: list[tuple[str, Frame, float]] = []
        for name in list(active):
            try:
                frame, decode_ms = next(active[name])
            except StopIteration:
                del active[name]
                continue
            batch.append((name, frame, decode_ms))
        for i, (name, frame, decode_ms) in enumerate(batch):
            yield name, frame, decode_ms, i == len(batch) - 1


def _processed(pipelines: dict[str, CameraPipeline], frames: Iterator[tuple[str, Frame, float, bool]],
               in_flight: int) -> Iterator[tuple[str, Frame, float, bool, FrameResult]]:
    """Each frame through its camera's pipeline, in order; up to ``in_flight`` frames (of any camera) are on the
    shared detector at once, so a streaming detector keeps its streams busy. Results equal one-by-one processing:
    detection does not depend on tracking, and each camera is tracked in frame order."""

    def start(item: tuple[str, Frame, float, bool]) -> DetectingFrame:
        return pipelines[item[0]].start_detect(item[1])

    def finish(item: tuple[str, Frame, float, bool],
               detecting: DetectingFrame) -> tuple[str, Frame, float, bool, FrameResult]:
        pipe = pipelines[item[0]]
        return (*item, pipe.track(pipe.finish_detect(detecting)))

    return in_order(frames, start, finish, in_flight)


def _replay_loop(cfg: Config, sources: dict[str, FrameSource], out_dir: Path, detector: object,
                 embedder: object | None, clahe: object | None, hub: object | None, save_video: bool,
                 progress: bool, on_frame: Callable[[str, Frame, FrameResult], None] | None,
                 owns_hub: bool) -> ReplaySummary:
    summary = ReplaySummary()
    local_dir = out_dir / "local" if hub is not None else out_dir
    pipelines: dict[str, CameraPipeline] = {}
    sinks: dict[str, MotSink] = {}
    videos: dict[str, object] = {}
    iters = {name: _timed_frames(src) for name, src in sources.items()}
    delay = cfg.tracker.n_init_frames + 1
    for name, src in sources.items():
        fps = src.fps or cfg.source.default_fps
        pipelines[name] = CameraPipeline(cfg, name, fps, detector, embedder, clahe)  # type: ignore[arg-type]
        sinks[name] = MotSink(local_dir / f"{name}.txt", delay)
        summary.frames[name] = 0
    total = sum(int(getattr(s, "frame_count", 0) or 0) for s in sources.values()) or None
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="frame", desc="replay", dynamic_ncols=True)
    track_ids: dict[str, set[int]] = {n: set() for n in sources}
    # frames on a streaming detector at once, across cameras and rounds (same results as one by one)
    in_flight = max(1, int(getattr(detector, "max_in_flight", 1)))
    t_start = time.perf_counter()
    ok = False
    try:
        for name, frame, decode_ms, end_of_round, result in _processed(pipelines, _rounds(dict(iters)), in_flight):
            summary.stage_ms["decode"].append(decode_ms)
            for stage, ms in result.timings_ms.items():
                summary.stage_ms.setdefault(stage, []).append(ms)
            sink = sinks[name]
            if cfg.output.backfill_tentative:
                for tid, rec in result.backfill:
                    sink.add(rec.frame_index, tid, rec.xyxy, rec.confidence)
            for u in result.updates:
                sink.add(u.frame_index, u.local_id, u.xyxy, u.confidence)
                track_ids[name].add(u.local_id)
            sink.advance(frame.index)
            summary.frames[name] += 1
            if hub is not None:
                hub.publish(name, result.updates, frame.image, frame.index,  # type: ignore[attr-defined]
                            frame.timestamp_s)
            if save_video:
                _draw(videos, out_dir, name, frame, result, hub, pipelines[name].tracker.fps)
            if on_frame is not None:
                on_frame(name, frame, result)
            if bar is not None:
                bar.update(1)
            if hub is not None and end_of_round:
                hub.step()  # type: ignore[attr-defined]
        ok = True
    finally:
        if bar is not None:
            bar.close()
        for sink in sinks.values():
            sink.close() if ok else sink.abort()
        for writer in videos.values():
            writer.release()  # type: ignore[attr-defined]
    summary.wall_s = time.perf_counter() - t_start
    summary.tracks = {n: len(ids) for n, ids in track_ids.items()}
    if hub is not None:
        hub.drain()  # type: ignore[attr-defined]
        from tracker.offline.postprocess import UNMAPPED_ID_BASE, relabel_mot_file

        gids: set[int] = set()
        for name in sources:
            mapping = hub.local_to_global(name)  # type: ignore[attr-defined]
            relabel_mot_file(local_dir / f"{name}.txt", out_dir / f"{name}.txt", mapping,
                             UNMAPPED_ID_BASE * (1 + sorted(sources).index(name)))
            gids.update(mapping.values())
        summary.global_ids = len(gids)
        if owns_hub:
            hub.close()  # type: ignore[attr-defined]
    if cfg.output.interpolate_max_gap_frames > 0:
        from tracker.offline.postprocess import interpolate_mot_file

        for name in sources:
            interpolate_mot_file(out_dir / f"{name}.txt", cfg.output.interpolate_max_gap_frames)
    summary.outputs = {n: out_dir / f"{n}.txt" for n in sources}
    return summary


_COLOURS = np.random.default_rng(7).integers(64, 256, size=(64, 3))


def _draw(videos: dict[str, object], out_dir: Path, name: str, frame: Frame, result: FrameResult,
          hub: object | None, fps: float) -> None:
    import cv2

    img = frame.image.copy()
    mapping = hub.local_to_global(name) if hub is not None else {}  # type: ignore[attr-defined]
    for u in result.updates:
        gid = mapping.get(u.local_id)
        label = f"G{gid}" if gid is not None else f"L{u.local_id}"
        colour = tuple(int(c) for c in _COLOURS[(gid or u.local_id) % len(_COLOURS)])
        x1, y1, x2, y2 = (int(round(v)) for v in u.xyxy)
        cv2.rectangle(img, (x1, y1), (x2, y2), colour, 2)
        cv2.putText(img, label, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    cv2.putText(img, f"{name} #{frame.index}", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
    writer = videos.get(name)
    if writer is None:
        h, w = img.shape[:2]
        writer = cv2.VideoWriter(str(out_dir / f"{name}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        videos[name] = writer
    writer.write(img)  # type: ignore[attr-defined]
