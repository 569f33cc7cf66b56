"""Same- vs different-person cosine statistics of Re-ID models on the dev sets (ground-truth boxes).

For each model and camera: embeddings of every ``--step``-th frame's gt boxes (boxes overlapping another by IoU >
0.3 or shorter than 24 px left out), then

- single crops within a camera: *different* = two people in the same frame; *same* = one person 1-5 s apart (the
  pairs a tracker sees without ground truth: tracks seen together are different people, one track over time is one
  person);
- track means across cameras (what the hub compares), raw and after subtracting each camera's mean of track means.

Prints medians/quantiles, AUC, and the derived scale (``tracker.identity.scale``) per model.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/reid_model_stats.py --step 5 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from tracker.config import ReidConfig
from tracker.models.reid import build_reid_embedder

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
MODELS = REPO.parent / "shared" / "models"
SETS = {"pets-two-cam": [DATA / "pets-s2l1-dev/two-cam/cam1", DATA / "pets-s2l1-dev/two-cam/cam2"],
        "epfl": [DATA / "epfl-terrace1-dev/c0", DATA / "epfl-terrace1-dev/c1"]}
WEIGHTS = {"osnet_x0_25_msmt17": MODELS / "osnet_x0_25_msmt17.pt",
           "omz-0277": MODELS / "person-reidentification-retail-0277",
           "omz-0287": MODELS / "person-reidentification-retail-0287"}
MAX_IOU = 0.3
SAME_GAP_S = (1.0, 5.0)
QUANTILES = (5, 25, 50, 75, 95)


def fps_of(cam: Path) -> float:
    for line in (cam / "seqinfo.ini").read_text().splitlines():
        if line.lower().startswith("framerate"):
            return float(line.split("=")[1])
    return 7.0


def iou(a: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], a[None, :, :2])
    rb = np.minimum(a[:, None, 2:], a[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = np.prod(a[:, 2:] - a[:, :2], axis=1)
    out = inter / (area[:, None] + area[None, :] - inter + 1e-9)
    np.fill_diagonal(out, 0)
    return out


def embed_camera(embedder: object, cam: Path, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frames (N,), ids (N,), feats (N, D)) of clean gt crops."""
    gt = np.loadtxt(cam / "gt.txt", delimiter=",", ndmin=2)
    cap = cv2.VideoCapture(str(cam / "video.mp4"))
    frames, ids, feats, index = [], [], [], 0
    while True:
        ok, image = cap.read()
        if not ok:
            break
        index += 1
        if index % step:
            continue
        rows = gt[gt[:, 0] == index]
        if not len(rows):
            continue
        xyxy = np.c_[rows[:, 2:4], rows[:, 2:4] + rows[:, 4:6]]
        keep = (iou(xyxy).max(axis=1, initial=0) <= MAX_IOU) & (rows[:, 5] >= 24)
        if not keep.any():
            continue
        f = embedder.embed(image, xyxy[keep])  # type: ignore[attr-defined]
        frames += [index] * int(keep.sum())
        ids += rows[keep, 1].astype(int).tolist()
        feats.append(f)
    return np.array(frames), np.array(ids), np.concatenate(feats)


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    scores = np.r_[pos, neg]
    ranks = scores.argsort().argsort() + 1.0
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def within(frames: np.ndarray, ids: np.ndarray, feats: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    sim = feats @ feats.T
    same_frame = frames[:, None] == frames[None, :]
    same_id = ids[:, None] == ids[None, :]
    gap = np.abs(frames[:, None] - frames[None, :]) / fps
    upper = np.triu(np.ones_like(same_frame), 1)
    neg = sim[same_frame & ~same_id & upper]
    pos = sim[same_id & (gap >= SAME_GAP_S[0]) & (gap <= SAME_GAP_S[1]) & upper]
    return pos, neg


def summary(x: np.ndarray) -> dict[str, float]:
    return {"n": int(len(x)), "mean": round(float(x.mean()), 3), "std": round(float(x.std()), 3),
            **{f"p{q}": round(float(np.percentile(x, q)), 3) for q in QUANTILES}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--step", type=int, default=5)
    ap.add_argument("--models", default=",".join(WEIGHTS))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    report: dict[str, dict[str, object]] = {}
    for model in args.models.split(","):
        embedder = build_reid_embedder(ReidConfig(weights=str(WEIGHTS[model]), num_threads=1))
        for set_name, cams in SETS.items():
            per_cam = [embed_camera(embedder, cam, args.step) for cam in cams]
            pos, neg = [], []
            for cam, (fr, ids, fe) in zip(cams, per_cam, strict=True):
                p, n = within(fr, ids, fe, fps_of(cam))
                pos.append(p)
                neg.append(n)
            pos_a, neg_a = np.concatenate(pos), np.concatenate(neg)
            means = []
            for _, ids, fe in per_cam:
                uniq = np.unique(ids)
                m = np.stack([fe[ids == i].mean(0) for i in uniq])
                means.append((uniq, m / np.linalg.norm(m, axis=1, keepdims=True)))
            cross: dict[str, dict[str, object]] = {}
            for mode in ("raw", "centred"):
                (ia, ma), (ib, mb) = means
                if mode == "centred":
                    ma, mb = ma - ma.mean(0), mb - mb.mean(0)
                    ma /= np.linalg.norm(ma, axis=1, keepdims=True)
                    mb /= np.linalg.norm(mb, axis=1, keepdims=True)
                s = ma @ mb.T
                eq = ia[:, None] == ib[None, :]
                cross[mode] = {"same": summary(s[eq]), "diff": summary(s[~eq]), "auc": round(auc(s[eq], s[~eq]), 3)}
            entry = {"within_same": summary(pos_a), "within_diff": summary(neg_a),
                     "within_auc": round(auc(pos_a, neg_a), 3), "cross_tracks": cross}
            report[f"{model}/{set_name}"] = entry
            print(model, set_name, json.dumps(entry), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
