"""Re-ID paths on this CPU: ms per crop and cosine agreement with f32, for OSNet-x0.25 (ONNX Runtime and OpenVINO,
f32 / bf16 / int8) and Intel's person-reidentification-retail-0277 / -0287 IRs (OpenVINO f32 / bf16 / int8).

Crops are the ground-truth boxes of PETS full/cam1 (every --step-th frame); int8 is calibrated on EPFL c0 crops
(another dataset), as ``reid.precision: auto`` does with config/pets-dev.yaml. Rows are timed interleaved
(round-robin, --reps rounds, batches of 1 and 4 crops), so background load hits them alike. The agreement is each
path's cosine to its own model's f32 embedding of the same crop (median / 5th percentile / minimum) and whether it
passes the bound of tracker.models.reid.selection.

    .venv/bin/python benchmarks/reid_paths_bench.py [--reps 10] [--threads 1] [--no-omz] [--no-int8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tracker.config import ReidConfig
from tracker.models.cpu_features import read_cpu_features
from tracker.models.reid.autoselect import runner_for_path
from tracker.models.reid.calibration_data import PersonFrame, load_person_frames
from tracker.models.reid.embedder import ReidEmbedder
from tracker.models.reid.preprocess import clip_boxes_xyxy
from tracker.models.reid.quantize import quantize_openvino_int8
from tracker.models.reid.selection import AccuracyBound, ReidPath, embedding_agreement

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
OMZ = ("person-reidentification-retail-0277", "person-reidentification-retail-0287")
BATCHES = (1, 4)
Run = Callable[[np.ndarray], np.ndarray]  # (B, 3, 256, 128) blob -> (B, D) features


def _raw_bgr_blobs(frames: list[PersonFrame]) -> np.ndarray:
    """(N, 3, 256, 128) float32 BGR 0..255 crops: the OMZ IRs' input (they normalise inside)."""
    import cv2

    out = []
    for f in frames:
        for left, top, right, bottom in clip_boxes_xyxy(f.xyxy, f.image.shape[1], f.image.shape[0]):
            if bottom - top >= 24 and right > left:
                crop = cv2.resize(f.image[top:bottom, left:right], (128, 256), interpolation=cv2.INTER_LINEAR)
                out.append(crop.transpose(2, 0, 1).astype(np.float32))
    return np.stack(out)


def _omz_runs(name: str, precision: str, threads: int, calib: np.ndarray, cache: Path) -> dict[int, Run]:
    """One compiled model per batch size (the IRs have a fixed batch of 1; reshaped)."""
    import openvino as ov

    xml = SHARED / "models" / name / "FP16" / f"{name}.xml"
    if precision == "int8":
        xml = quantize_openvino_int8(xml, [calib[i:i + 1] for i in range(min(64, len(calib)))],
                                     cache / f"{name}_int8.xml")
    core = ov.Core()
    runs: dict[int, Run] = {}
    for batch in BATCHES:
        model = core.read_model(str(xml))
        model.reshape([batch, 3, 256, 128])
        compiled = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads,
                                                     "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16"
                                                     else "f32"})
        request = compiled.create_infer_request()
        runs[batch] = (lambda r, c: lambda b: np.array(r.infer({0: b})[c.output(0)], copy=True))(request, compiled)
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--step", type=int, default=20, help="every n-th PETS frame gives crops")
    ap.add_argument("--no-omz", action="store_true")
    ap.add_argument("--no-int8", action="store_true")
    args = ap.parse_args()
    cpu = read_cpu_features()
    print(f"cpu: {cpu.model} ({cpu.logical_cpus} CPUs; {' '.join(cpu.flags)}); threads {args.threads}")
    cache = Path(tempfile.mkdtemp(prefix="reid-paths-"))
    pets = load_person_frames(str(SHARED / "data/pets-s2l1-dev/full/cam1"), 795 // args.step)
    cfg = ReidConfig(weights=str(SHARED / "models/osnet_x0_25_msmt17.pt"), cache_dir=str(cache),
                     calibration_source=str(SHARED / "data/epfl-terrace1-dev/c0"), num_threads=args.threads)
    blobs = np.concatenate(ReidEmbedder.model_inputs_for(cfg, [(f.image, f.xyxy) for f in pets]))
    rows: dict[str, dict[int, Run]] = {}
    features: dict[str, np.ndarray] = {}
    precisions = ("f32", "bf16") + (() if args.no_int8 else ("int8",))
    for engine in ("onnxruntime", "openvino"):
        for precision in precisions:
            if engine == "onnxruntime" and precision == "bf16":
                continue
            runner = runner_for_path(cfg, ReidPath(engine, precision, args.threads))
            rows[f"osnet {engine} {precision}"] = {b: runner for b in BATCHES}
    raw = _raw_bgr_blobs(pets)
    if not args.no_omz:
        calib = _raw_bgr_blobs(load_person_frames(cfg.calibration_source, 40))
        for name in OMZ:
            for precision in precisions:
                rows[f"{name[-4:]} openvino {precision}"] = _omz_runs(name, precision, args.threads, calib, cache)
    for label, runs in rows.items():
        data = raw if not label.startswith("osnet") else blobs
        features[label] = np.concatenate([runs[1](data[i:i + 1]) for i in range(len(data))])
    times: dict[str, dict[int, list[float]]] = {k: {b: [] for b in BATCHES} for k in rows}
    for rep in range(args.reps):
        order = list(rows)[rep % len(rows):] + list(rows)[:rep % len(rows)]
        for label in order:
            data = raw if not label.startswith("osnet") else blobs
            for batch in BATCHES:
                n = 8 * batch
                t0 = time.perf_counter()
                for i in range(0, n, batch):
                    rows[label][batch](data[i:i + batch])
                times[label][batch].append((time.perf_counter() - t0) * 1e3 / n)
    bound = AccuracyBound()
    print(f"{len(blobs)} PETS crops; {args.reps} interleaved rounds; agreement: cosine to the same model's f32")
    print(f"{'path':<24} {'ms/crop b1':>10} {'ms/crop b4':>10} {'cos med':>8} {'cos p05':>8} {'cos min':>8}  bound")
    for label in rows:
        model = label.split(" ", 1)[0]
        ref = features["osnet onnxruntime f32" if model == "osnet" else f"{model} openvino f32"]
        agree = embedding_agreement(ref, features[label])
        print(f"{label:<24} {np.median(times[label][1]):10.2f} {np.median(times[label][4]):10.2f} "
              f"{agree.median:8.4f} {agree.p05:8.4f} {agree.min:8.4f}  {'ok' if agree.within(bound) else 'REFUSED'}")


if __name__ == "__main__":
    main()
