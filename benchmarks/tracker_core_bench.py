"""Tracker core alone (Kalman predict + association update, no models) over a clip's cached detections.

The first run detects every frame and embeds every confident detection, and caches them (``--cache``). Then the
clip is replayed through ``MultiObjectTracker`` as the pipeline drives it (predict, Re-ID on demand masks the
cached embeddings, update), and the ``associate`` time (predict + update) is printed as the median per replay.
``--profile`` prints cProfile's top functions instead. ``--detector-between`` runs the detector on a frame between
tracker steps, as in the pipeline (its caches are cold then; measured: about 1.6x the time of back-to-back steps).

    .venv/bin/python benchmarks/tracker_core_bench.py --video ../shared/data/pets-s2l1-dev/full/cam1/video.mp4 \
        --config config/pets-dev.yaml [--reps 5] [--profile] [--detector-between]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")

import numpy as np  # noqa: E402

from tracker.config import Config, load_config  # noqa: E402
from tracker.config.mapping import kalman_params, tracker_params  # noqa: E402
from tracker.core.detections import Detections  # noqa: E402
from tracker.core.multi_tracker import MultiObjectTracker  # noqa: E402
from tracker.pipeline.camera import reid_refresh_frames  # noqa: E402

Frames = list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]  # (frame index, xyxy (N, 4), scores (N,), emb (N, D))


def cached_frames(cfg: Config, video: str, cache: Path) -> Frames:
    if not cache.exists():
        from streams.factory import open_source
        from tracker.models.factory import build_models

        detector, embedder, _ = build_models(cfg)
        assert embedder is not None, "reid.enabled must be true"
        xyxy, conf, emb, index = [], [], [], []
        with open_source(video, "bench", cfg.source) as src:
            for frame in src:
                dets = detector.detect(frame.image)  # type: ignore[attr-defined]
                features = np.zeros((len(dets), embedder.dim), np.float32)  # type: ignore[attr-defined]
                rows = np.flatnonzero(dets.confidence >= cfg.tracker.high_score_threshold)
                if len(rows):
                    features[rows] = embedder.embed(frame.image, dets.xyxy[rows])  # type: ignore[attr-defined]
                xyxy.append(dets.xyxy), conf.append(dets.confidence), emb.append(features), index.append(frame.index)
        np.savez(cache, n=[len(x) for x in xyxy], xyxy=np.concatenate(xyxy), conf=np.concatenate(conf),
                 emb=np.concatenate(emb), frames=index)
    z = np.load(cache)
    splits = np.cumsum(z["n"])[:-1]
    return list(zip(z["frames"].tolist(), np.split(z["xyxy"], splits), np.split(z["conf"], splits),
                    np.split(z["emb"], splits)))


def replay(cfg: Config, frames: Frames, fps: float, between: object | None = None) -> list[float]:
    """One pass over the clip; returns the associate ms (predict + update) of every frame."""
    tracker = MultiObjectTracker(tracker_params(cfg.tracker), kalman_params(cfg.kalman), fps=fps)
    refresh_frames = reid_refresh_frames(cfg.reid.refresh_s, fps)
    out = []
    for index, xyxy, conf, emb in frames:
        if between is not None:
            between()  # type: ignore[operator]
        dets = Detections(xyxy, conf)
        t0 = time.perf_counter()
        tracker.predict()
        t1 = time.perf_counter()
        if len(dets):
            want = dets.confidence >= cfg.tracker.high_score_threshold
            want &= tracker.embedding_needed(dets, refresh_frames, cfg.reid.easy_match_iou,
                                             cfg.reid.near_iou)
            dets = dets.with_embeddings(np.where(want[:, None], emb, np.float32(0)))
        t2 = time.perf_counter()
        tracker.update(dets, index)
        out.append((t1 - t0 + time.perf_counter() - t2) * 1e3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", required=True)
    ap.add_argument("--config", default=None)
    ap.add_argument("--cache", type=Path, default=None, help="cache file (default: next to /tmp, by video name)")
    ap.add_argument("--fps", type=float, default=7.0)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--detector-between", action="store_true")
    args = ap.parse_args()
    cfg = load_config(args.config)
    cache = args.cache or Path("/tmp") / f"mctrack-core-{Path(args.video).parent.name}-{Path(args.video).stem}.npz"
    frames = cached_frames(cfg, args.video, cache)
    between = None
    if args.detector_between:
        from tracker.models.factory import build_models

        detector = build_models(cfg)[0]
        image = np.random.default_rng(0).integers(0, 255, (576, 768, 3), dtype=np.uint8)
        between = lambda: detector.detect(image)  # type: ignore[attr-defined]  # noqa: E731
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        for _ in range(args.reps):
            replay(cfg, frames, args.fps, between)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return
    replay(cfg, frames, args.fps, between)  # warm-up
    medians = [statistics.median(replay(cfg, frames, args.fps, between)) for _ in range(args.reps)]
    print(f"associate (predict + update) median ms per replay: {[round(m, 3) for m in medians]}; "
          f"median {statistics.median(medians):.3f} over {len(frames)} frames")


if __name__ == "__main__":
    main()
