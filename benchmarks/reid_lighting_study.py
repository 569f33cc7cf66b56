"""Re-ID across a lighting change: which crop normalisation and which weights separate identities best.

On pets-s2l1-dev two-cam (cam1 as recorded; cam2 darker, lower contrast, cooler, noisier), person crops at the
ground-truth boxes of every --step-th frame are embedded with the real OSNet-x0.25 weights. For the identities seen
in both cameras, cross-camera pairs (one crop from cam1, one from cam2) are scored by cosine similarity:

* same / diff: mean cosine of same-identity and of different-identity cross-camera pairs, and their gap;
* AUC: probability that a random same-identity pair scores above a random different-identity pair;
* rank-1: a crop's nearest crop in the other camera has the same identity (averaged over both directions);
* tracklet AUC / rank-1: the same on tracklets, the mean embedding of --tracklet consecutive sampled crops of one
  person in one camera (what the hub compares: track mean embeddings).

Variants: raw crops; CLAHE per crop (on the crop before resizing); CLAHE on the whole frame before cropping; each
with and without per-camera mean subtraction (subtract each camera's mean crop embedding over all its crops,
re-normalise); for the MSMT17 and the Market-1501 weights.

    .venv/bin/python benchmarks/reid_lighting_study.py [--step 4] [--backend onnxruntime]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import rankdata
from video_frames import every_nth_frame

from tracker.config import ClaheConfig, ReidConfig
from tracker.models.clahe import Clahe
from tracker.models.reid import build_reid_embedder
from tracker.models.reid.preprocess import l2_normalise_rows

REPO = Path(__file__).resolve().parents[1]
CAMERAS = ("cam1", "cam2")
WEIGHTS = {"msmt17": "osnet_x0_25_msmt17.pt", "market1501": "osnet_x0_25_market1501.pt"}
CROP_MODES = ("raw", "clahe-crop", "clahe-frame")


@dataclass
class CameraCrops:
    """Embeddings of every gt crop of one camera: (N, D) features, (N,) ids, (N,) frame numbers."""

    features: np.ndarray
    ids: np.ndarray
    frames: np.ndarray


def read_gt(path: Path) -> np.ndarray:
    return np.loadtxt(path, delimiter=",", ndmin=2)


def embed_camera(cam_dir: Path, step: int, embedder, clahe: Clahe, mode: str) -> CameraCrops:
    gt = read_gt(cam_dir / "gt.txt")
    feats, ids, frames = [], [], []
    for index, image in every_nth_frame(cam_dir / "video.mp4", step):
        rows = gt[gt[:, 0] == index]
        if not len(rows):
            continue
        xyxy = np.c_[rows[:, 2:4], rows[:, 2:4] + rows[:, 4:6]]
        frame = clahe.apply(image) if mode == "clahe-frame" else image
        f = embedder.embed(frame, xyxy)
        keep = np.linalg.norm(f, axis=1) > 0
        feats.append(f[keep])
        ids.append(rows[keep, 1].astype(int))
        frames.append(np.full(int(keep.sum()), index))
    return CameraCrops(np.concatenate(feats), np.concatenate(ids), np.concatenate(frames))


def subtract_camera_mean(crops: CameraCrops) -> CameraCrops:
    mean = crops.features.mean(axis=0, keepdims=True)
    return CameraCrops(l2_normalise_rows(crops.features - mean), crops.ids, crops.frames)


def tracklets(crops: CameraCrops, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean embeddings of consecutive runs of ``length`` crops per identity -> (T, D) features, (T,) ids."""
    feats, ids = [], []
    for pid in np.unique(crops.ids):
        sel = np.flatnonzero(crops.ids == pid)
        sel = sel[np.argsort(crops.frames[sel], kind="stable")]
        for start in range(0, len(sel) - length + 1, length):
            feats.append(crops.features[sel[start:start + length]].mean(axis=0))
            ids.append(pid)
    return l2_normalise_rows(np.array(feats)), np.array(ids)


def auc(same: np.ndarray, diff: np.ndarray) -> float:
    """P(a same-identity score > a different-identity score), ties counted half (Mann-Whitney U / n1 n2)."""
    ranks = rankdata(np.concatenate([same, diff]))
    u = ranks[:len(same)].sum() - len(same) * (len(same) + 1) / 2
    return float(u / (len(same) * len(diff)))


def cross_camera_scores(fa: np.ndarray, ia: np.ndarray, fb: np.ndarray, ib: np.ndarray) -> dict[str, float]:
    sim = fa @ fb.T
    same = ia[:, None] == ib[None, :]
    rank1_ab = np.mean(ib[np.argmax(sim, axis=1)] == ia)
    rank1_ba = np.mean(ia[np.argmax(sim, axis=0)] == ib)
    return {"same": float(sim[same].mean()), "diff": float(sim[~same].mean()), "auc": auc(sim[same], sim[~same]),
            "rank1": float((rank1_ab + rank1_ba) / 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--step", type=int, default=4, help="use every STEP-th frame")
    parser.add_argument("--tracklet", type=int, default=5, help="sampled crops per tracklet")
    parser.add_argument("--backend", default="onnxruntime", choices=["onnxruntime", "openvino", "torch"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache-dir", default=None, help="Re-ID export cache (default: a temporary folder)")
    parser.add_argument("--input-size", action="append", default=None, metavar="HxW",
                        help="network input size (repeatable; default 256x128, the size OSNet was trained at)")
    parser.add_argument("--weights", choices=sorted(WEIGHTS), action="append", default=None,
                        help="only these weights (repeatable; default all)")
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in (args.input_size or ["256x128"])]

    two_cam = args.shared / "data" / "pets-s2l1-dev" / "two-cam"
    clahe = Clahe(ClaheConfig(clip_limit=2.0, tile_grid_size=8))
    cache_dir = args.cache_dir or tempfile.mkdtemp(prefix="mctrack-reid-study-")
    print(f"two-cam, every {args.step}th frame, tracklets of {args.tracklet} crops, backend {args.backend}, "
          f"CLAHE clip 2.0 tiles 8\n")
    rows = []
    started = time.perf_counter()
    for (wname, wfile), (height, width) in itertools.product(
            [(k, v) for k, v in WEIGHTS.items() if args.weights is None or k in args.weights], sizes):
        if len(sizes) > 1:
            wname = f"{wname} {height}x{width}"
        cfg = ReidConfig(weights=str(args.shared / "models" / wfile), backend=args.backend, cache_dir=cache_dir,
                         num_threads=args.threads, input_height=height, input_width=width)
        plain = build_reid_embedder(cfg)
        per_crop = build_reid_embedder(cfg, crop_transform=clahe.apply)
        for mode in CROP_MODES:
            embedder = per_crop if mode == "clahe-crop" else plain
            cams = {c: embed_camera(two_cam / c, args.step, embedder, clahe, mode) for c in CAMERAS}
            shared_ids = np.intersect1d(cams["cam1"].ids, cams["cam2"].ids)
            for norm in ("none", "camera-mean"):
                view = {c: subtract_camera_mean(v) if norm == "camera-mean" else v for c, v in cams.items()}
                sel = {c: np.isin(v.ids, shared_ids) for c, v in view.items()}
                crop = cross_camera_scores(view["cam1"].features[sel["cam1"]], view["cam1"].ids[sel["cam1"]],
                                           view["cam2"].features[sel["cam2"]], view["cam2"].ids[sel["cam2"]])
                t1, i1 = tracklets(view["cam1"], args.tracklet)
                t2, i2 = tracklets(view["cam2"], args.tracklet)
                k1, k2 = np.isin(i1, shared_ids), np.isin(i2, shared_ids)
                track = cross_camera_scores(t1[k1], i1[k1], t2[k2], i2[k2])
                rows.append((wname, mode, norm, crop, track, int(sel["cam1"].sum()), int(sel["cam2"].sum()),
                             int(k1.sum()), int(k2.sum())))
            print(f"  {wname} {mode} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)

    *_, n1, n2, m1, m2 = rows[0]
    print(f"crops of the {len(shared_ids)} identities seen in both cameras: cam1 {n1}, cam2 {n2}; "
          f"tracklets: cam1 {m1}, cam2 {m2}\n")
    print("| weights | crops | camera norm | same cos | diff cos | gap | AUC | rank-1 | tracklet same | "
          "tracklet diff | tracklet AUC | tracklet rank-1 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for wname, mode, norm, c, t, *_ in rows:
        print(f"| {wname} | {mode} | {norm} | {c['same']:.3f} | {c['diff']:.3f} | {c['same'] - c['diff']:.3f} | "
              f"{c['auc']:.3f} | {c['rank1']:.3f} | {t['same']:.3f} | {t['diff']:.3f} | {t['auc']:.3f} | "
              f"{t['rank1']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
