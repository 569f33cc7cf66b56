"""What ground-plane geometry adds to the hub's cross-camera identity assignment (appearance, geometry, both).

1. Runs the real per-camera pipeline (``tracker.models.factory.build_models`` with config/pets-dev.yaml's models,
   ``CameraPipeline.process`` per frame, frames from ``streams.factory.open_source``) once per camera of a dataset
   and caches each frame's updates (TrackletUpdate fields) and the MOT rows replay would write (updates plus
   backfilled tentative boxes) to ``<cache>/<dataset>/<camera>.npz``. Later runs read the cache.
2. Feeds an ``IdentityEngine`` directly, as the hub would: each frame's updates get ground positions from the
   dataset's ``calibration.yaml`` (``--projection worker``: ``tracker.core.ground.GroundEstimator``, what a
   calibrated worker publishes; ``shortfall``: this script's projection whose uncertainty also grows when a box is
   shorter than its track was recently, i.e. cut off by an occluder), go through the publisher's codec
   (``TrackletPublisher.encode``: the embedding cadence and ground fields, no Redis) and into ``observe``; cameras
   in sync by frame index, then ``decide`` / ``end_stale_tracks`` / ``evict`` (the hub's step),
   ``decide(force=True)`` at the end.
3. Relabels the local tracks with the global ids the events gave them (as replay does) and scores them against
   ``gt.txt`` (``tracker.offline.evaluation.evaluate_cameras``: per-camera IDF1, MTMC-IDF1 = all cameras as one
   sequence).

Variants: ``appearance`` (no positions: today's hub; on pets it reproduces ``mctrack replay``'s hub output),
``geometry`` (positions, appearance weight 0 and ground weight 1: the ground decides), ``both`` (the defaults);
``--grid KEY=V1,V2`` adds ``both`` runs with one config key changed.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/hub_geometry_study.py --dataset epfl [--projection shortfall] \\
        [--cache /tmp/hub-geometry-cache] [--set hub.ground_weight=0.5] [--grid hub.ground_handover_s=0,1,3]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import logging
import resource
import sys
import time
from pathlib import Path

import numpy as np

from tracker.bus.publisher import TrackletPublisher
from tracker.bus.schema import decode_frame
from tracker.config import Config, load_config
from tracker.config.calibration import CameraCalibration, load_calibration
from tracker.config.geometry import ground_params
from tracker.config.mapping import identity_params
from tracker.core.geometry import feet_visible, foot_points_xyxy, ground_jacobian, image_to_ground
from tracker.core.ground import GroundEstimator
from tracker.core.tracklet import TrackletUpdate
from tracker.identity import IdentityEngine, IdentityEvent, IdentityParams
from tracker.offline.evaluation import evaluate_cameras
from tracker.offline.motio import read_mot
from tracker.offline.postprocess import UNMAPPED_ID_BASE, interpolate_rows, relabel_rows

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATASETS = {
    "epfl": SHARED / "data" / "epfl-terrace1-dev",
    "pets": SHARED / "data" / "pets-s2l1-dev" / "two-cam",
}
logger = logging.getLogger("hub_geometry_study")


# ---------------------------------------------------------------------------------------------------- projection
def project_feet(h: np.ndarray, xyxy: np.ndarray, image_height_px: int, sigma_frac: float,
                 shortfall_px: np.ndarray | None = None,
                 edge_margin_px: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Foot points (bottom centre) of boxes (N, 4) -> ground positions (N, 2) metres and covariances (N, 2, 2) m^2
    through the oriented homography ``h`` (``tracker.core.geometry``).

    The pixel uncertainty is ``sigma_frac`` x box height vertically and a third of that horizontally, propagated
    through the homography's Jacobian at the foot point. ``shortfall_px`` (N,): how much shorter each box is than
    its track was recently (an occluder cut its lower part): the feet are somewhere below the box, so the foot
    point moves down by half of it and its vertical sigma grows by half of it. A box whose bottom is within
    ``edge_margin_px`` of the image's lower edge, or beyond the horizon, gets NaN.
    """
    b = np.asarray(xyxy, np.float64).reshape(-1, 4)
    short = np.zeros(len(b)) if shortfall_px is None else np.maximum(np.asarray(shortfall_px, np.float64), 0.0)
    uv = foot_points_xyxy(b)
    uv[:, 1] += 0.5 * short
    xy = image_to_ground(h, uv)
    jac = ground_jacobian(h, uv)
    height = np.maximum(b[:, 3] - b[:, 1], 1.0)
    pix_cov = np.zeros((len(b), 2, 2))
    pix_cov[:, 0, 0] = (sigma_frac * height / 3.0) ** 2
    pix_cov[:, 1, 1] = (sigma_frac * height + 0.5 * short) ** 2
    cov = jac @ pix_cov @ jac.transpose(0, 2, 1)
    bad = ~feet_visible(b, (image_height_px, 1 << 30), edge_margin_px)
    xy[bad] = np.nan
    cov[bad] = np.nan
    return xy, cov


class HeightReference:
    """Per local track, the box height it had recently: the running maximum, decaying by ``decay_per_s`` (a
    fraction per second) so a person walking away from the camera is followed. shortfall = reference - height."""

    def __init__(self, decay_per_s: float = 0.2) -> None:
        self.decay_per_s = decay_per_s
        self._ref: dict[int, tuple[float, float]] = {}  # local id -> (height px, time s)

    def shortfall(self, local_ids: np.ndarray, xyxy: np.ndarray, ts: float) -> np.ndarray:
        out = np.zeros(len(local_ids))
        for i, (lid, box) in enumerate(zip(local_ids.tolist(), np.asarray(xyxy, np.float64).reshape(-1, 4))):
            h = float(box[3] - box[1])
            ref = self._ref.get(lid)
            r = h if ref is None else max(h, ref[0] * (1.0 - self.decay_per_s) ** max(ts - ref[1], 0.0))
            self._ref[lid] = (r, ts)
            out[i] = r - h
        return out


# ---------------------------------------------------------------------------------------------------- cache
def image_hw(seq_dir: Path) -> tuple[int, int]:
    """(height, width) in pixels from a MOTChallenge seqinfo.ini."""
    info = dict(line.split("=", 1) for line in (seq_dir / "seqinfo.ini").read_text().splitlines() if "=" in line)
    return int(info["imHeight"]), int(info["imWidth"])


def run_camera(cfg: Config, video: Path, camera: str, out: Path) -> float:
    """Per-camera pipeline over ``video``; saves updates and MOT rows to ``out`` (npz). Returns CPU seconds."""
    from streams.factory import open_source
    from tracker.models.factory import build_models
    from tracker.pipeline.camera import CameraPipeline

    cpu0 = time.process_time()
    detector, embedder, clahe = build_models(cfg)
    cols: dict[str, list[object]] = {k: [] for k in ("frame", "ts", "lid", "xyxy", "conf", "emb_q", "has_emb")}
    embs: list[np.ndarray] = []
    mot: dict[tuple[int, int], tuple[np.ndarray, float]] = {}
    frames: list[tuple[int, float]] = []
    src = open_source(str(video), camera, cfg.source)
    try:
        fps = src.fps or cfg.source.default_fps
        pipe = CameraPipeline(cfg, camera, fps, detector, embedder, clahe)
        for frame in src:
            result = pipe.process(frame)
            frames.append((frame.index, frame.timestamp_s))
            for box in result.late:
                mot.setdefault((box.frame_index, box.local_id), (np.asarray(box.xyxy, np.float64), box.confidence))
            for u in result.updates:
                mot.setdefault((u.frame_index, u.local_id), (np.asarray(u.xyxy, np.float64), u.confidence))
                cols["frame"].append(u.frame_index)
                cols["ts"].append(u.timestamp_s)
                cols["lid"].append(u.local_id)
                cols["xyxy"].append(np.asarray(u.xyxy, np.float64))
                cols["conf"].append(u.confidence)
                cols["emb_q"].append(u.embedding_quality)
                cols["has_emb"].append(u.embedding is not None)
                if u.embedding is not None:
                    embs.append(np.asarray(u.embedding, np.float32))
        pipe.close()
    finally:
        src.close()
    keys = sorted(mot)
    mot_rows = np.array([[f, tid, *mot[(f, tid)][0], mot[(f, tid)][1]] for f, tid in keys], np.float64)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out, frame=np.array(cols["frame"], np.int64), ts=np.array(cols["ts"], np.float64),
        lid=np.array(cols["lid"], np.int64), xyxy=np.array(cols["xyxy"], np.float64).reshape(-1, 4),
        conf=np.array(cols["conf"], np.float64), emb_q=np.array(cols["emb_q"], np.float64),
        has_emb=np.array(cols["has_emb"], bool),
        emb=np.stack(embs) if embs else np.zeros((0, 0), np.float32),
        mot_rows=mot_rows.reshape(-1, 7), frames=np.array(frames, np.float64).reshape(-1, 2))
    return time.process_time() - cpu0


@dataclasses.dataclass
class CameraData:
    camera: str
    updates_by_frame: dict[int, list[TrackletUpdate]]
    frames: np.ndarray  # (F, 2) frame index, timestamp
    mot_rows: np.ndarray  # (N, 7) frame, local id, x1, y1, x2, y2, confidence


def load_camera(path: Path, camera: str) -> CameraData:
    z = np.load(path)
    emb_rows = np.cumsum(z["has_emb"]) - 1
    by_frame: dict[int, list[TrackletUpdate]] = {}
    for i in range(len(z["frame"])):
        emb = z["emb"][emb_rows[i]] if z["has_emb"][i] else None
        u = TrackletUpdate(camera, int(z["lid"][i]), int(z["frame"][i]), float(z["ts"][i]), z["xyxy"][i],
                           float(z["conf"][i]), emb, float(z["emb_q"][i]))
        by_frame.setdefault(u.frame_index, []).append(u)
    return CameraData(camera, by_frame, z["frames"], z["mot_rows"])


# ---------------------------------------------------------------------------------------------------- engine run
class Projector:
    """Ground positions of one camera's updates, frame by frame: ``worker`` = what a calibrated worker publishes
    (``tracker.core.ground.GroundEstimator``: foot point, covariance from ``geometry.foot_sigma_fraction``,
    smoothing), ``shortfall`` = this script's :func:`project_feet` with the truncation-aware uncertainty of
    :class:`HeightReference` (no smoothing)."""

    def __init__(self, mode: str, cfg: Config, calibration: CameraCalibration, image_hw: tuple[int, int],
                 sigma_frac: float, height_decay_per_s: float) -> None:
        fitted = calibration.for_image((image_hw[1], image_hw[0]), "study calibration")
        self.mode = mode
        self.h = fitted.image_to_ground
        self.image_hw = image_hw
        self.sigma_frac = sigma_frac
        self.estimator = GroundEstimator(self.h, image_hw, ground_params(cfg.geometry))
        self.heights = HeightReference(height_decay_per_s)

    def __call__(self, updates: list[TrackletUpdate], ts: float) -> list[TrackletUpdate]:
        """The updates with ground_xy_m / ground_cov_m2 set where there is a position."""
        if not updates:
            self.estimator.update(np.zeros(0, np.int64), np.zeros((0, 4)), ts)
            return updates
        ids = np.array([u.local_id for u in updates], np.int64)
        xyxy = np.array([np.asarray(u.xyxy, np.float64).reshape(4) for u in updates])
        if self.mode == "worker":
            est = self.estimator.update(ids, xyxy, ts)
            xy, cov = est.xy_m, est.cov_m2
        else:
            xy, cov = project_feet(self.h, xyxy, self.image_hw[0], self.sigma_frac,
                                   self.heights.shortfall(ids, xyxy, ts))
        ok = np.isfinite(xy).all(axis=1) & np.isfinite(cov).all(axis=(1, 2))
        return [dataclasses.replace(u, ground_xy_m=xy[i], ground_cov_m2=cov[i]) if ok[i] else u
                for i, u in enumerate(updates)]


def run_engine(cfg: Config, params: IdentityParams, data: dict[str, CameraData],
               projectors: dict[str, Projector] | None) -> tuple[dict[str, dict[int, int]], list[str], float]:
    """Feed the cached updates (with ground positions from ``projectors``, None: none) through the publisher's
    codec to an engine; returns (camera -> local id -> global id, event kinds, CPU s)."""
    cpu0 = time.process_time()
    counter = itertools.count(1)
    engine = IdentityEngine(params, lambda: next(counter))
    publishers = {c: TrackletPublisher(None, cfg, c) for c in data}  # type: ignore[arg-type]  # encode only
    events: list[IdentityEvent] = []
    last_frame = max(int(d.frames[-1, 0]) for d in data.values())
    ts_of = {c: dict(zip(d.frames[:, 0].astype(int), d.frames[:, 1])) for c, d in data.items()}
    for f in range(1, last_frame + 1):
        for camera in sorted(data):
            if f not in ts_of[camera]:
                continue
            ts = float(ts_of[camera][f])
            ups = data[camera].updates_by_frame.get(f, [])
            if projectors is not None:
                ups = projectors[camera](ups, ts)
            msg = decode_frame(publishers[camera].encode(ups, None, f, ts))
            pos, cov = msg.ground_per_update()
            engine.observe(camera, msg.frame_index, msg.timestamp_s, msg.local_ids.tolist(), msg.emb_index,
                           msg.embeddings, msg.quality, positions_m=pos, position_cov_m2=cov)
        events += engine.decide()
        engine.end_stale_tracks()
        engine.evict()
    events += engine.decide(force=True)
    engine.end_stale_tracks(force=True)
    # the local -> global map as the hub keeps it: every event naming a track sets its global id
    mapping: dict[str, dict[int, int]] = {c: {} for c in data}
    for e in events:
        if e.kind != "retired":
            mapping[e.camera][e.local_id] = e.gid
    kinds = [e.kind if e.cause is None else f"{e.kind}:{e.cause}" for e in events]
    return mapping, kinds, time.process_time() - cpu0


def to_mot(rows: np.ndarray) -> np.ndarray:
    """(N, 7) frame, id, x1, y1, x2, y2, conf -> (N, 10) MOTChallenge rows."""
    out = np.full((len(rows), 10), -1.0)
    out[:, 0:2] = rows[:, 0:2]
    out[:, 2:4] = rows[:, 2:4]
    out[:, 4:6] = rows[:, 4:6] - rows[:, 2:4]
    out[:, 6] = rows[:, 6]
    return out


def relabel(rows: np.ndarray, mapping: dict[int, int], offset: int, interpolate_frames: int) -> np.ndarray:
    """Local MOT rows -> global ids, as replay's relabel_mot_file (keeps the more confident of two boxes that
    share a global id in one frame) and interpolate_mot_file."""
    out = relabel_rows(to_mot(rows), mapping, offset)
    if len(out):
        order = np.lexsort((-out[:, 6], out[:, 1], out[:, 0]))
        out = out[order]
        keep = np.ones(len(out), bool)
        keep[1:] = ~((out[1:, 0] == out[:-1, 0]) & (out[1:, 1] == out[:-1, 1]))
        out = out[keep]
    if interpolate_frames > 0:
        out = interpolate_rows(out, interpolate_frames)
    return out


def score(gt_dir: Path, data: dict[str, CameraData], mapping: dict[str, dict[int, int]] | None,
          interpolate_frames: int) -> tuple[dict[str, float], float | None]:
    cams = sorted(data)
    gt = {c: read_mot(gt_dir / c / "gt.txt") for c in cams}
    pred = {}
    for k, c in enumerate(cams):
        if mapping is None:  # local ids, cameras kept apart
            pred[c] = relabel(data[c].mot_rows, {}, UNMAPPED_ID_BASE * (1 + k), interpolate_frames)
        else:
            pred[c] = relabel(data[c].mot_rows, mapping[c], UNMAPPED_ID_BASE * (1 + k), interpolate_frames)
    frames = {c: int(data[c].frames[-1, 0]) for c in cams}
    res = evaluate_cameras(gt, pred, frames)
    return {c: res.cameras[c].idf1 for c in cams}, res.mtmc_idf1


# ---------------------------------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=sorted(DATASETS), default="epfl")
    ap.add_argument("--config", default=str(REPO / "config" / "pets-dev.yaml"))
    ap.add_argument("--set", action="append", default=[], dest="overrides",
                    help="config override KEY=VALUE (repeatable), applied to the pipeline and the engine")
    ap.add_argument("--cache", default="/tmp/hub-geometry-cache")
    ap.add_argument("--projection", choices=("worker", "shortfall"), default="worker",
                    help="worker: ground positions as a calibrated worker publishes them (GroundEstimator, "
                         "geometry.* config); shortfall: this script's projection whose uncertainty also grows "
                         "when a box is shorter than its track was recently (cut off by an occluder)")
    ap.add_argument("--foot-sigma-frac", type=float, default=0.05,
                    help="shortfall projection: foot point pixel uncertainty as a fraction of the box height "
                         "(vertical; a third of it horizontal)")
    ap.add_argument("--height-decay", type=float, default=0.2,
                    help="shortfall projection: decay per second of a track's reference box height (running "
                         "max); a box shorter than it is taken as cut off at the bottom")
    ap.add_argument("--variants", default="appearance,geometry,both")
    ap.add_argument("--grid", action="append", default=[],
                    help="also run 'both' once per value: KEY=V1,V2,... (a config key, e.g. "
                         "hub.ground_weight=0.15,0.3,0.5; repeatable, one key varied at a time)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    cfg = load_config(args.config, args.overrides)
    root = DATASETS[args.dataset]
    cams = sorted(p.parent.name for p in root.glob("*/gt.txt"))
    cache = Path(args.cache) / args.dataset
    pipeline_cpu_s = 0.0
    for c in cams:
        npz = cache / f"{c}.npz"
        if not npz.is_file():
            spent = run_camera(cfg, root / c / "video.mp4", c, npz)
            pipeline_cpu_s += spent
            print(f"pipeline {args.dataset}/{c}: {spent:.1f} CPU s -> {npz}", flush=True)
    data = {c: load_camera(cache / f"{c}.npz", c) for c in cams}
    calibrations = load_calibration(root / "calibration.yaml", cams)
    interp = cfg.output.interpolate_max_gap_frames

    def projectors(run_cfg: Config) -> dict[str, Projector]:
        return {c: Projector(args.projection, run_cfg, calibrations[c], image_hw(root / c), args.foot_sigma_frac,
                             args.height_decay) for c in cams}

    base = identity_params(cfg.hub)
    variants: dict[str, tuple[IdentityParams, bool]] = {
        "appearance": (base, False),
        "geometry": (dataclasses.replace(base, ground=dataclasses.replace(base.ground, appearance_weight=0.0,
                                                                           weight=1.0)), True),
        "both": (base, True),
    }
    local_idf1, _ = score(root, data, None, interp)
    print(f"\n{args.dataset}: {', '.join(cams)}  (overrides: {' '.join(args.overrides) or 'none'}; projection "
          f"{args.projection})")
    print(f"{'variant':<40}" + "".join(f"{'IDF1 ' + c:>11}" for c in cams) + f"{'MTMC-IDF1':>11}{'ids':>5}"
          f"{'CPU s':>7}  events (besides assigned)")
    print(f"{'local ids':<40}" + "".join(f"{local_idf1[c]:>11.3f}" for c in cams))

    def report(name: str, params: IdentityParams, geo: bool, run_cfg: Config) -> None:
        mapping, kinds, cpu_s = run_engine(run_cfg, params, data, projectors(run_cfg) if geo else None)
        idf1, mtmc = score(root, data, mapping, interp)
        n_ids = len({g for m in mapping.values() for g in m.values()})
        ev = ", ".join(f"{k} {kinds.count(k)}" for k in sorted(set(kinds)) if k != "assigned")
        print(f"{name:<40}" + "".join(f"{idf1[c]:>11.3f}" for c in cams) + f"{mtmc or 0:>11.3f}{n_ids:>5}"
              f"{cpu_s:>7.1f}  {ev}", flush=True)

    for name in args.variants.split(","):
        params, geo = variants[name]
        report(name, params, geo, cfg)
    for item in args.grid:
        key, _, values = item.partition("=")
        for value in values.split(","):
            run_cfg = load_config(args.config, args.overrides + [f"{key}={value}"])
            report(f"both {key}={value}", identity_params(run_cfg.hub), True, run_cfg)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"\nCPU: pipeline {pipeline_cpu_s:.1f} s this run (0 = cached); process total "
          f"{usage.ru_utime + usage.ru_stime:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
