"""Re-ID robust to lighting changes between cameras: crop colour alignment, embedding whitening, aggregation, AdaBN.

Data: person crops at the ground-truth boxes (global ids) of every --step-th frame of two camera pairs,
pets-s2l1-dev/two-cam (cam1 as recorded, cam2 darker, cooler, noisier) and epfl-terrace1-dev (c0, c1: two real
views). One camera of each pair (--perturb-camera: cam1 and c1) is re-rendered with synthetic perturbations of the
whole frame at several strengths: darkening (gamma, gain), colour cast (per-channel gains), over-exposure (gain +
clipping), blur (Gaussian, motion) and sensor noise.

Methods, each applied per camera:

* crop transforms before the network (``--transforms``): ``raw``; ``align-moments`` / ``align-hist``: the
  product's per-camera online Lab colour alignment (tracker/models/reid/colour.py); ``grayworld``: per-camera
  online white balance (running BGR means -> equal gains); ``clahe-L`` / ``clahe-V``: CLAHE per crop on Lab L / on
  HSV V;
* embedding normalisation (from all of the camera's crop embeddings): ``none``; ``mean`` (subtract the camera
  mean, the hub's default); ``whiten-cam`` (camera mean and a per-camera ZCA whitening with shrinkage towards the
  identity); ``whiten-pooled`` (camera mean, then one ZCA whitening of the pooled centred embeddings);
* aggregation of --tracklet consecutive sampled crops into a tracklet feature: ``mean`` (unit embeddings
  averaged); ``quality`` (weighted by visibility, 1 - the fraction of the box hidden by boxes in front; size,
  min(1, h / 128 px); and sharpness, min(1, var(Laplacian) / the camera's running median), the three multiplied);
  ``visible`` (visibility alone, what the pipeline's quality captures besides detector confidence);
* ``osnet-adabn``: OSNet with its BatchNorm running statistics recomputed on the camera's own crops (test-time
  adaptation, AdaBN; on the ADABN subset: torch on a CPU is slow). The OMZ IRs are compiled graphs with their
  normalisation folded into the convolutions: not possible there.

Histogram alignment, gray-world and CLAHE run on the STRONG subset of perturbations only (--full-transforms).
Embeddings are cached in --cache, so re-running for more rows costs only the new ones.

Metrics: cross-camera same-vs-different AUC of crops and of tracklets, tracklet rank-1 and mAP (both directions
averaged), over the identities seen in both cameras.

    .venv/bin/python benchmarks/reid_robustness_study.py [--models osnet,omz0277,omz0287] [--cache /tmp/x]
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from reid_colour_align import CameraColourAligner, ColourReference
from scipy.stats import rankdata
from video_frames import every_nth_frame

from tracker.models.reid.preprocess import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB, l2_normalise_rows

REPO = Path(__file__).resolve().parents[1]
INPUT_HW = (256, 128)
PAIRS = {"two-cam": ("pets-s2l1-dev/two-cam", ("cam1", "cam2"), "cam1", 8),
         "epfl": ("epfl-terrace1-dev", ("c0", "c1"), "c1", 24)}
Frame = np.ndarray
Perturb = Callable[[Frame, np.random.Generator], Frame]


# --------------------------------------------------------------------------------------------- perturbations
def _gamma(g: float) -> Perturb:
    lut = np.clip(np.rint(255.0 * (np.arange(256) / 255.0) ** g), 0, 255).astype(np.uint8)
    return lambda im, rng: cv2.LUT(im, lut)


def _gains_bgr(b: float, g: float, r: float) -> Perturb:
    gains = np.array([b, g, r], np.float32)
    return lambda im, rng: np.clip(im.astype(np.float32) * gains, 0, 255).astype(np.uint8)


def _gaussian_blur(sigma: float) -> Perturb:
    return lambda im, rng: cv2.GaussianBlur(im, (0, 0), sigma)


def _motion_blur(length: int) -> Perturb:
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    return lambda im, rng: cv2.filter2D(im, -1, kernel)


def _noise(sigma: float) -> Perturb:
    return lambda im, rng: np.clip(im.astype(np.float32) + rng.normal(0, sigma, im.shape), 0, 255).astype(np.uint8)


PERTURBATIONS: dict[str, tuple[str, Perturb | None]] = {
    "clean": ("clean", None),
    "dark-gamma2": ("dark", _gamma(2.0)),
    "dark-gamma3.5": ("dark", _gamma(3.5)),
    "dark-gain0.35": ("dark", _gains_bgr(0.35, 0.35, 0.35)),
    "cast-warm0.3": ("cast", _gains_bgr(0.7, 1.0, 1.3)),
    "cast-cool-green0.25": ("cast", _gains_bgr(1.25, 1.1, 0.75)),
    "over-gain1.6": ("over", _gains_bgr(1.6, 1.6, 1.6)),
    "over-gain2.3": ("over", _gains_bgr(2.3, 2.3, 2.3)),
    "blur-gauss2": ("blur", _gaussian_blur(2.0)),
    "blur-motion9": ("blur", _motion_blur(9)),
    "noise12": ("noise", _noise(12.0)),
}
# the subset on which the costlier variants (histogram alignment, CLAHE, AdaBN) run
STRONG = ("clean", "dark-gamma3.5", "cast-warm0.3", "over-gain2.3", "blur-gauss2")
ADABN = ("clean", "dark-gamma3.5", "cast-warm0.3", "over-gain2.3")  # torch on the CPU is slow


# --------------------------------------------------------------------------------------------- crop transforms
class GrayWorld:
    """Per-camera online white balance: running BGR means of the crops; gains make the three means equal."""

    def __init__(self, window_crops: int = 500) -> None:
        self.window, self.count, self.mean = window_crops, 0, np.zeros(3)

    def __call__(self, crop: np.ndarray) -> np.ndarray:
        self.count += 1
        self.mean += (crop.reshape(-1, 3).mean(axis=0) - self.mean) / min(self.count, self.window)
        gains = self.mean.mean() / np.maximum(self.mean, 1.0)
        return np.clip(crop.astype(np.float32) * gains.astype(np.float32), 0, 255).astype(np.uint8)


class ClaheChannel:
    """CLAHE per crop on Lab L or HSV V (clip 2, 4x8 tiles: crops are tall)."""

    def __init__(self, space: str) -> None:
        self.space = space
        self.clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 8))

    def __call__(self, crop: np.ndarray) -> np.ndarray:
        if self.space == "L":
            lab = cv2.cvtColor(crop, cv2.COLOR_BGR2Lab)
            lab[..., 0] = self.clahe.apply(np.ascontiguousarray(lab[..., 0]))
            return cv2.cvtColor(lab, cv2.COLOR_Lab2BGR)
        hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
        hsv[..., 2] = self.clahe.apply(np.ascontiguousarray(hsv[..., 2]))
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


REFERENCE = ColourReference(mean_lab=(110.0, 128.0, 130.0), std_lab=(45.0, 6.0, 8.0))  # overwritten by --reference


def make_transform(name: str, reference: ColourReference) -> Callable[[np.ndarray], np.ndarray] | None:
    if name == "raw":
        return None
    if name == "align-moments":
        return CameraColourAligner(reference, "moments")
    if name == "align-hist":
        return CameraColourAligner(reference, "histogram")
    if name == "grayworld":
        return GrayWorld()
    if name in ("clahe-L", "clahe-V"):
        return ClaheChannel(name[-1])
    raise SystemExit(f"unknown transform {name}")


# --------------------------------------------------------------------------------------------- data
@dataclass
class CameraSamples:
    """Sampled gt boxes of one camera: frames {frame: image}, rows (N,) frame, (N,) id, (N, 4) xyxy, (N,) visible."""

    frames: dict[int, np.ndarray]
    frame_of: np.ndarray
    ids: np.ndarray
    xyxy: np.ndarray
    visible: np.ndarray


def visibility(xyxy: np.ndarray) -> np.ndarray:
    """(N,) fraction of each box not covered by boxes whose bottom is lower (nearer the camera), on a 16x32 grid."""
    out = np.ones(len(xyxy))
    for i, (left, t, r, b) in enumerate(xyxy):
        gx = np.linspace(left, r, 16)[None, :]
        gy = np.linspace(t, b, 32)[:, None]
        hidden = np.zeros((32, 16), bool)
        for j, (l2, t2, r2, b2) in enumerate(xyxy):
            if j != i and b2 > b:
                hidden |= (gx >= l2) & (gx <= r2) & (gy >= t2) & (gy <= b2)
        out[i] = 1.0 - hidden.mean()
    return out


def load_camera(cam_dir: Path, step: int, min_height_px: float = 24.0) -> CameraSamples:
    gt = np.loadtxt(cam_dir / "gt.txt", delimiter=",", ndmin=2)
    frames, fr, ids, boxes, vis = {}, [], [], [], []
    for index, image in every_nth_frame(cam_dir / "video.mp4", step):
        rows = gt[gt[:, 0] == index]
        if not len(rows):
            continue
        h, w = image.shape[:2]
        xyxy = np.c_[rows[:, 2:4], rows[:, 2:4] + rows[:, 4:6]]
        xyxy = np.clip(xyxy, 0, [w, h, w, h])
        v = visibility(xyxy)
        keep = (xyxy[:, 3] - xyxy[:, 1] >= min_height_px) & (xyxy[:, 2] - xyxy[:, 0] >= 4)
        if not keep.any():
            continue
        frames[index] = image
        fr.append(np.full(int(keep.sum()), index))
        ids.append(rows[keep, 1].astype(int))
        boxes.append(xyxy[keep])
        vis.append(v[keep])
    return CameraSamples(frames, np.concatenate(fr), np.concatenate(ids), np.concatenate(boxes), np.concatenate(vis))


def crops_of(cam: CameraSamples, perturb: Perturb | None, transform: Callable[[np.ndarray], np.ndarray] | None,
             seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 256, 128, 3) uint8 BGR network inputs in frame order, (N,) sharpness, (N,) box height px."""
    rng = np.random.default_rng(seed)
    out = np.empty((len(cam.ids), *INPUT_HW, 3), np.uint8)
    sharp = np.empty(len(cam.ids))
    cache: dict[int, np.ndarray] = {}
    for i, (f, box) in enumerate(zip(cam.frame_of, cam.xyxy)):
        if f not in cache:
            cache.clear()
            image = cam.frames[int(f)]
            cache[f] = image if perturb is None else perturb(image, rng)
        image = cache[f]
        left, t = int(np.floor(box[0])), int(np.floor(box[1]))
        r, b = int(np.ceil(box[2])), int(np.ceil(box[3]))
        crop = np.ascontiguousarray(image[t:b, left:r])
        if transform is not None:
            crop = transform(crop)
        cv2.resize(crop, INPUT_HW[::-1], dst=out[i], interpolation=cv2.INTER_LINEAR)
        gray = cv2.cvtColor(cv2.resize(crop, (64, 128)), cv2.COLOR_BGR2GRAY)
        sharp[i] = cv2.Laplacian(gray, cv2.CV_32F).var()
    return out, sharp, cam.xyxy[:, 3] - cam.xyxy[:, 1]


# --------------------------------------------------------------------------------------------- models
class OmzModel:
    def __init__(self, xml: Path, threads: int, batch: int = 32) -> None:
        import openvino as ov

        core = ov.Core()
        model = core.read_model(str(xml))
        model.reshape([batch, 3, *INPUT_HW])
        self.batch = batch
        self.compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads,
                                                          "INFERENCE_PRECISION_HINT": "f32"})

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        out = []
        for s in range(0, len(crops), self.batch):
            chunk = crops[s:s + self.batch].transpose(0, 3, 1, 2).astype(np.float32)
            n = len(chunk)
            if n < self.batch:
                chunk = np.concatenate([chunk, np.zeros((self.batch - n, *chunk.shape[1:]), np.float32)])
            out.append(self.compiled(chunk)[0][:n])
        return l2_normalise_rows(np.concatenate(out))


class OsnetModel:
    def __init__(self, weights: Path, threads: int) -> None:
        import torch

        from tracker.models.reid.torch_model import build_torch_reid_model

        torch.set_num_threads(threads)
        import openvino as ov

        self.torch = torch
        self.model = build_torch_reid_model("osnet_x0_25", weights)
        ov_model = ov.convert_model(self.model, example_input=torch.zeros(1, 3, *INPUT_HW))
        ov_model.reshape([32, 3, *INPUT_HW])
        self.compiled = ov.Core().compile_model(ov_model, "CPU", {"INFERENCE_NUM_THREADS": threads,
                                                                  "INFERENCE_PRECISION_HINT": "f32"})

    def blob(self, crops: np.ndarray):  # noqa: ANN201 - torch tensor
        rgb = crops[..., ::-1].astype(np.float32) / 255.0
        return self.torch.from_numpy(((rgb - IMAGENET_MEAN_RGB) / IMAGENET_STD_RGB).transpose(0, 3, 1, 2).copy())

    def run(self, model, crops: np.ndarray) -> np.ndarray:  # noqa: ANN001
        with self.torch.no_grad():
            out = [model(self.blob(crops[s:s + 64])).numpy() for s in range(0, len(crops), 64)]
        return l2_normalise_rows(np.concatenate(out))

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        out = []
        for s in range(0, len(crops), 32):
            chunk = self.blob(crops[s:s + 32]).numpy()
            n = len(chunk)
            if n < 32:
                chunk = np.concatenate([chunk, np.zeros((32 - n, *chunk.shape[1:]), np.float32)])
            out.append(self.compiled(chunk)[0][:n])
        return l2_normalise_rows(np.concatenate(out))

    def adapted(self, crops: np.ndarray, mix: float) -> np.ndarray:
        """Embed after recomputing BatchNorm running statistics on these crops (mix 1: fully; 0.5: half-way)."""
        model = copy.deepcopy(self.model)
        bns = [m for m in model.modules() if isinstance(m, self.torch.nn.modules.batchnorm._BatchNorm)]
        saved = [(bn.running_mean.clone(), bn.running_var.clone()) for bn in bns]
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None
            bn.train()
        with self.torch.no_grad():
            for s in range(0, len(crops), 64):
                model(self.blob(crops[s:s + 64]))
        for bn, (m0, v0) in zip(bns, saved):
            bn.running_mean.mul_(mix).add_((1 - mix) * m0)
            bn.running_var.mul_(mix).add_((1 - mix) * v0)
            bn.eval()
        return self.run(model, crops)


# --------------------------------------------------------------------------------------------- methods on embeddings
def zca(cov: np.ndarray, shrink: float) -> np.ndarray:
    """(D, D) ZCA whitening matrix of cov shrunk towards (trace/D) I by ``shrink``, scaled to keep the trace."""
    d = cov.shape[0]
    scale = np.trace(cov) / d
    c = (1 - shrink) * cov + shrink * scale * np.eye(d)
    w, v = np.linalg.eigh(c)
    return (v * (np.sqrt(scale) / np.sqrt(np.maximum(w, 1e-12)))) @ v.T


def normalise(feats: dict[str, np.ndarray], method: str, shrink: float) -> dict[str, np.ndarray]:
    if method == "none":
        return feats
    centred = {c: f - f.mean(axis=0, keepdims=True) for c, f in feats.items()}
    if method == "mean":
        return {c: l2_normalise_rows(f) for c, f in centred.items()}
    if method == "whiten-cam":
        return {c: l2_normalise_rows(f @ zca(np.cov(f.T), shrink)) for c, f in centred.items()}
    if method == "whiten-pooled":
        w = zca(np.cov(np.concatenate(list(centred.values())).T), shrink)
        return {c: l2_normalise_rows(f @ w) for c, f in centred.items()}
    raise SystemExit(f"unknown normalisation {method}")


def tracklets(feat: np.ndarray, ids: np.ndarray, frames: np.ndarray, weights: np.ndarray,
              length: int) -> tuple[np.ndarray, np.ndarray]:
    out, out_ids = [], []
    for pid in np.unique(ids):
        sel = np.flatnonzero(ids == pid)
        sel = sel[np.argsort(frames[sel], kind="stable")]
        for s in range(0, len(sel) - length + 1, length):
            idx = sel[s:s + length]
            w = weights[idx] + 1e-3
            out.append((feat[idx] * w[:, None]).sum(axis=0) / w.sum())
            out_ids.append(pid)
    return l2_normalise_rows(np.array(out)), np.array(out_ids)


def auc(same: np.ndarray, diff: np.ndarray) -> float:
    ranks = rankdata(np.concatenate([same, diff]))
    return float((ranks[:len(same)].sum() - len(same) * (len(same) + 1) / 2) / (len(same) * len(diff)))


def retrieval(fa: np.ndarray, ia: np.ndarray, fb: np.ndarray, ib: np.ndarray) -> dict[str, float]:
    sim = fa @ fb.T
    same = ia[:, None] == ib[None, :]
    r1, ap = [], []
    for s, m in ((sim, same), (sim.T, same.T)):
        order = np.argsort(-s, axis=1)
        hits = np.take_along_axis(m, order, axis=1)
        r1.append(hits[:, 0].mean())
        cum = np.cumsum(hits, axis=1)
        prec = cum / np.arange(1, hits.shape[1] + 1)
        ap.append(((prec * hits).sum(axis=1) / np.maximum(hits.sum(axis=1), 1)).mean())
    return {"auc": auc(sim[same], sim[~same]), "rank1": float(np.mean(r1)), "mAP": float(np.mean(ap))}


def print_table(rows: list[dict], metric: str = "mAP") -> None:
    """Markdown: one row per model x transform x normalisation x aggregation, one column per perturbation
    (averaged over the pairs that ran it), plus the mean over the perturbations (clean excluded) when all ran."""
    perts = list(dict.fromkeys(r["perturbation"] for r in rows))
    cells: dict[tuple[str, str, str, str], dict[str, list[float]]] = {}
    for r in rows:
        key = (r["model"], r["transform"], r["norm"], r["agg"])
        cells.setdefault(key, {}).setdefault(r["perturbation"], []).append(r[metric])
    print(f"tracklet {metric}, averaged over the pairs\n")
    print("| model | crops | embeddings | aggregation | " + " | ".join(perts) + " | mean (perturbed) |")
    print("|---|---|---|---|" + "---|" * (len(perts) + 1))
    for key, by_pert in cells.items():
        vals = [float(np.mean(by_pert[p])) if p in by_pert else None for p in perts]
        perturbed = [v for p, v in zip(perts, vals) if p != "clean"]
        mean = f"{np.mean(perturbed):.3f}" if perturbed and None not in perturbed else "-"
        print(f"| {' | '.join(key)} | " + " | ".join("-" if v is None else f"{v:.3f}" for v in vals) + f" | {mean} |")


# --------------------------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--models", default="omz0287,omz0277,osnet")
    parser.add_argument("--transforms", default="raw,align-moments,align-hist,grayworld,clahe-L,clahe-V")
    parser.add_argument("--full-transforms", default="raw,align-moments",
                        help="transforms run on every perturbation; the others only on the STRONG subset")
    parser.add_argument("--perturbations", default=",".join(PERTURBATIONS))
    parser.add_argument("--pairs", default=",".join(PAIRS))
    parser.add_argument("--tracklet", type=int, default=5, help="sampled crops per tracklet")
    parser.add_argument("--shrink", type=float, default=0.5, help="whitening shrinkage towards the identity")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/reid_robustness_cache"))
    parser.add_argument("--reference", default="110,128,130,45,6,8",
                        help="colour reference: Lab mean L,a,b and std L,a,b (0..255 OpenCV scale)")
    parser.add_argument("--json", type=Path, default=None, help="write every result row here")
    args = parser.parse_args()
    ref_v = [float(v) for v in args.reference.split(",")]
    reference = ColourReference((ref_v[0], ref_v[1], ref_v[2]), (ref_v[3], ref_v[4], ref_v[5]))
    args.cache.mkdir(parents=True, exist_ok=True)
    models = args.models.split(",")
    transforms = args.transforms.split(",")
    perturbs = args.perturbations.split(",")
    started = time.perf_counter()
    nets: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    osnet: OsnetModel | None = None

    def net(name: str) -> Callable[[np.ndarray], np.ndarray]:
        nonlocal osnet
        if name not in nets:
            if name == "osnet":
                osnet = OsnetModel(args.shared / "models" / "osnet_x0_25_msmt17.pt", args.threads)
                nets[name] = osnet
            else:
                tag = name[3:]
                nets[name] = OmzModel(args.shared / "models" / f"person-reidentification-retail-{tag}" / "FP16" /
                                      f"person-reidentification-retail-{tag}.xml", args.threads)
        return nets[name]

    rows = []
    lab_stats = []
    for pair in args.pairs.split(","):
        sub, cams, perturbed, step = PAIRS[pair]
        samples = {c: load_camera(args.shared / "data" / sub / c, step) for c in cams}
        shared_ids = np.intersect1d(*[s.ids for s in samples.values()])
        print(f"{pair}: {', '.join(f'{c} {len(s.ids)} crops' for c, s in samples.items())}, "
              f"{len(shared_ids)} shared ids", file=sys.stderr)
        for tname, pname in itertools.product(transforms, perturbs):
            if tname not in args.full_transforms.split(",") and pname not in STRONG:
                continue
            kind, fn = PERTURBATIONS[pname]
            crop_sets = {}
            for c in cams:
                p = fn if (c == perturbed and fn is not None) else None
                crop_sets[c] = crops_of(samples[c], p, make_transform(tname, reference), seed=7)
                if tname == "raw" and pname == "clean":
                    small = np.stack([cv2.resize(x, (16, 32), interpolation=cv2.INTER_AREA) for x in crop_sets[c][0]])
                    lab = cv2.cvtColor(small.reshape(-1, 32 * 16, 3), cv2.COLOR_BGR2Lab).reshape(-1, 3).astype(float)
                    lab_stats.append((f"{pair}/{c}", lab.mean(0), lab.std(0)))
            variants = [(m, m) for m in models] + ([("osnet", "osnet-adabn")]
                                                    if "osnet" in models and tname == "raw" and pname in ADABN
                                                    else [])
            for base, mname in variants:
                feats = {}
                for c in cams:
                    pkey = pname if c == perturbed else "clean"
                    path = args.cache / f"{pair}_{c}_{pkey}_{tname}_{mname}.npy"
                    if path.exists():
                        feats[c] = np.load(path)
                        continue
                    model = net(base)
                    if mname == "osnet-adabn":
                        assert osnet is not None
                        feats[c] = osnet.adapted(crop_sets[c][0], 1.0)
                    else:
                        feats[c] = model(crop_sets[c][0])
                    np.save(path, feats[c])
                for norm in ("none", "mean", "whiten-cam", "whiten-pooled"):
                    view = normalise(feats, norm, args.shrink)
                    a, b = cams
                    sa, sb = samples[a], samples[b]
                    ka, kb = np.isin(sa.ids, shared_ids), np.isin(sb.ids, shared_ids)
                    crop_auc = retrieval(view[a][ka], sa.ids[ka], view[b][kb], sb.ids[kb])["auc"]
                    for agg in ("mean", "visible", "quality"):
                        ws = {}
                        for c in cams:
                            s = samples[c]
                            sharp, height = crop_sets[c][1], crop_sets[c][2]
                            if agg == "mean":
                                ws[c] = np.ones(len(s.ids))
                            elif agg == "visible":
                                ws[c] = s.visible
                            else:
                                rel_sharp = np.minimum(1.0, sharp / np.median(sharp))
                                ws[c] = s.visible * np.minimum(1.0, height / 128.0) * rel_sharp
                        ta, ia = tracklets(view[a], sa.ids, sa.frame_of, ws[a], args.tracklet)
                        tb, ib = tracklets(view[b], sb.ids, sb.frame_of, ws[b], args.tracklet)
                        ma, mb = np.isin(ia, shared_ids), np.isin(ib, shared_ids)
                        r = retrieval(ta[ma], ia[ma], tb[mb], ib[mb])
                        rows.append({"pair": pair, "perturbation": pname, "kind": kind, "transform": tname,
                                     "model": mname, "norm": norm, "agg": agg, "crop_auc": crop_auc,
                                     "tracklet_auc": r["auc"], "rank1": r["rank1"], "mAP": r["mAP"]})
            if args.json:
                args.json.write_text(json.dumps(rows, indent=0))
            print(f"  {pair} {pname} {tname} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    for name, mean, std in lab_stats:
        print(f"clean crop Lab stats {name}: mean {np.round(mean, 1)}, std {np.round(std, 1)}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=0))
    print(f"{len(rows)} rows", file=sys.stderr)
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
