"""Pick the Re-ID path (engine, precision, threads) for this machine: measured once, cached per machine.

With ``reid.backend: auto`` or ``reid.precision: auto`` (or an explicit bf16/int8, which must pass the accuracy
check too) every candidate path from :func:`tracker.models.reid.selection.candidate_paths` is built (int8 quantised
on the crops of the even-numbered calibration frames), its embeddings of the person crops of the odd-numbered
frames of ``reid.calibration_source`` (held out from quantisation) are compared with the f32 reference's, and it is
timed on calls of 1, 2 and 4 crops, the candidates interleaved round by round for ``reid.select_budget_s``; the
decision is :func:`tracker.models.reid.selection.choose_path`. The result is cached as JSON in ``reid.cache_dir``,
keyed by the CPU (model, ISA flags, CPU count), the model (name, input size, weights sha256), the settings that
shape the choice and the engines' library versions: a machine measures once, and any change measures again.
``mctrack reid-select --reselect`` forces a new measurement.

The choice works at the runner-factory level (:data:`tracker.models.reid.backends.RUNNER_FACTORIES`) and measures
through :class:`tracker.models.reid.embedder.ReidEmbedder` (the model's own preprocessing), so any model with a
registered runner is chosen for the same way.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from tracker.config import ConfigError, ReidConfig
from tracker.models.cpu_features import CpuFeatures, read_cpu_features
from tracker.models.reid.backends import FeatureRunner, build_runner, model_weights_file
from tracker.models.reid.calibration_data import PersonFrame, calibration_key, load_person_frames
from tracker.models.reid.embedder import ReidEmbedder
from tracker.models.reid.export import export_onnx, export_openvino, onnx_cache_path
from tracker.models.reid.omz import is_ir_weights, resolve_ir_model
from tracker.models.reid.preprocess import CropTransform
from tracker.models.reid.quantize import int8_engines, quantize_onnx_int8, quantize_openvino_int8
from tracker.models.reid.selection import (
    AUTO_ENGINES,
    AccuracyBound,
    PathTrial,
    ReidChoice,
    ReidPath,
    candidate_paths,
    choose_path,
    embedding_agreement,
)
from tracker.models.reid.weights import sha256_file

__all__ = ["resolve_reid_path", "measure_reid_choice", "runner_for_path", "library_versions", "model_engines",
           "f32_model_file", "SELECTION_VERSION"]

logger = logging.getLogger(__name__)

#: Bump when the measurement or the decision changes, so cached choices are made again.
SELECTION_VERSION = "4"
PROBE_CROPS: tuple[int, ...] = (1, 2, 4)  # crops per timed call (the pipeline embeds about 1.4 per frame)
#: Crops the int8 quantisers calibrate on (evenly picked from the calibration frames' crops): more takes longer
#: (about 0.3 s a crop on a loaded 2-core machine) for no measured gain in agreement.
MAX_CALIBRATION_CROPS = 64
_MIN_ROUNDS = 2
_MAX_ROUNDS = 200
_SYNTHETIC_SEED = 0
_SYNTHETIC_HW = (480, 640)


def library_versions() -> dict[str, str]:
    """Installed versions of the inference libraries the choice depends on ("" = not installed)."""
    out = {}
    for dist in ("onnxruntime", "openvino", "nncf", "torch"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = ""
    return out


def model_engines(cfg: ReidConfig) -> tuple[str, ...]:
    """Engines that can run ``cfg``'s model here, the reference (f32) engine first: openvino alone for a prebuilt
    OpenVINO IR; for a torchreid model, those of :data:`AUTO_ENGINES` that are installed."""
    if is_ir_weights(cfg.weights):
        return ("openvino",)
    return tuple(e for e in AUTO_ENGINES if importlib.util.find_spec(e) is not None)


def f32_model_file(cfg: ReidConfig, engine: str) -> Path:
    """The f32 model file ``engine`` runs for ``cfg`` (exported and cached when needed; a prebuilt IR as it is);
    int8 is quantised from it."""
    if is_ir_weights(cfg.weights):
        return resolve_ir_model(cfg)
    return export_openvino(cfg) if engine == "openvino" else export_onnx(cfg)


def _bound(cfg: ReidConfig) -> AccuracyBound:
    return AccuracyBound(median_min=cfg.min_cosine_median, p05_min=cfg.min_cosine_p05)


def _choice_key(cfg: ReidConfig, cpu: CpuFeatures) -> dict[str, str]:
    calib = calibration_key(cfg.calibration_source, cfg.calibration_frames) if cfg.calibration_source else ""
    versions = library_versions()
    return {"version": SELECTION_VERSION, "cpu": cpu.key(), "model": cfg.model_name,
            "weights_sha256": sha256_file(model_weights_file(cfg)), "input": f"{cfg.input_height}x{cfg.input_width}",
            "backend": cfg.backend, "precision": cfg.precision, "auto_int8": str(cfg.auto_int8),
            "threads": str(cfg.num_threads),
            "calibration": calib, "bound": f"{cfg.min_cosine_median}/{cfg.min_cosine_p05}",
            "min_speedup": str(cfg.min_speedup), **{f"lib_{k}": v for k, v in versions.items()}}


def _effective(cfg: ReidConfig) -> ReidConfig:
    """``cfg`` with the backend a prebuilt OpenVINO IR can run on: openvino (or auto), whatever ``reid.backend``
    names for torchreid weights."""
    if is_ir_weights(cfg.weights) and cfg.backend not in ("auto", "openvino"):
        return dataclasses.replace(cfg, backend="openvino")
    return cfg


def _model_cache_stem(cfg: ReidConfig) -> Path:
    """Cache folder / name stem of ``cfg``'s model (the ONNX export's, or a prebuilt IR's name and hash)."""
    if is_ir_weights(cfg.weights):
        xml = resolve_ir_model(cfg)
        return Path(cfg.cache_dir).expanduser() / f"{xml.stem}_{sha256_file(xml)[:16]}"
    return onnx_cache_path(cfg).with_suffix("")


def _cache_file(cfg: ReidConfig, key: dict[str, str]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return _model_cache_stem(cfg).parent / f"reid-path-{digest}.json"


def _int8_file(cfg: ReidConfig, engine: str) -> Path:
    stem = _model_cache_stem(cfg)
    calib = calibration_key(cfg.calibration_source, cfg.calibration_frames)
    suffix = "_openvino.xml" if engine == "openvino" else ".onnx"
    return stem.parent / f"{stem.name}_int8_{calib}_even{suffix}"


def _calibration_blobs(cfg: ReidConfig, frames: list[PersonFrame],
                       crop_transform: CropTransform | None) -> list[np.ndarray]:
    """One (1, 3, H, W) model input per crop of the even-numbered ``frames`` (the odd ones are held out for the
    accuracy check), from the embedder's own preprocessing; at most :data:`MAX_CALIBRATION_CROPS`."""
    blobs = ReidEmbedder.model_inputs_for(cfg, [(f.image, f.xyxy) for f in frames[0::2]], crop_transform)
    crops = [b[i:i + 1] for b in blobs for i in range(len(b))]
    if len(crops) <= MAX_CALIBRATION_CROPS:
        return crops
    return [crops[int(i)] for i in np.linspace(0, len(crops) - 1, MAX_CALIBRATION_CROPS)]


def runner_for_path(cfg: ReidConfig, path: ReidPath, frames: list[PersonFrame] | None = None,
                    crop_transform: CropTransform | None = None) -> FeatureRunner:
    """Build ``path``'s runner; for int8, quantise first (on ``frames``, loaded from ``reid.calibration_source``
    when None) unless the quantised model is cached."""
    if path.precision != "int8":
        return build_runner(cfg, path)
    if not cfg.calibration_source:
        raise ConfigError("reid.precision int8 needs person crops to calibrate on: set reid.calibration_source to a "
                          "MOTChallenge sequence folder")
    target = _int8_file(cfg, path.engine)
    if not (target.is_file() and (path.engine != "openvino" or target.with_suffix(".bin").is_file())):
        frames = frames if frames is not None else load_person_frames(
            cfg.calibration_source, cfg.calibration_frames, cfg.min_crop_height_px)
        blobs = _calibration_blobs(cfg, frames, crop_transform)
        if path.engine == "openvino":
            quantize_openvino_int8(f32_model_file(cfg, "openvino"), blobs, target)
        else:
            quantize_onnx_int8(f32_model_file(cfg, "onnxruntime"), blobs, target)
    return build_runner(cfg, path, target)


def _probes(frames: list[PersonFrame]) -> list[PersonFrame]:
    """Timed calls: for each of :data:`PROBE_CROPS`, one frame with that many boxes (synthetic without frames)."""
    out = []
    for k in PROBE_CROPS:
        frame = next((f for f in frames if len(f.xyxy) >= k), None)
        if frame is not None:
            out.append(PersonFrame(frame.image, frame.xyxy[:k]))
    if out:
        return out
    rng = np.random.default_rng(_SYNTHETIC_SEED)
    image = rng.integers(0, 256, (*_SYNTHETIC_HW, 3), dtype=np.uint8)
    box = np.array([[100.0, 100.0, 160.0, 260.0]])
    return [PersonFrame(image, np.repeat(box, k, axis=0) + np.arange(k)[:, None] * 70.0) for k in PROBE_CROPS]


def _time_rounds(embedders: dict[ReidPath, ReidEmbedder], probes: list[PersonFrame],
                 budget_s: float) -> dict[ReidPath, float]:
    """Median ms per crop of each embedder over interleaved rounds (each round: every embedder runs every probe;
    the order rotates per round), for ``budget_s`` seconds and at least :data:`_MIN_ROUNDS` rounds."""
    for emb in embedders.values():  # warm-up: first calls allocate and compile
        for p in probes:
            emb.embed(p.image, p.xyxy)
    crops = sum(len(p.xyxy) for p in probes)
    samples: dict[ReidPath, list[float]] = {k: [] for k in embedders}
    order = list(embedders)
    deadline = time.perf_counter() + budget_s
    for rnd in range(_MAX_ROUNDS):
        if rnd >= _MIN_ROUNDS and time.perf_counter() > deadline:
            break
        for key in order[rnd % len(order):] + order[:rnd % len(order)]:
            t0 = time.perf_counter()
            for p in probes:
                embedders[key].embed(p.image, p.xyxy)
            samples[key].append((time.perf_counter() - t0) * 1e3 / crops)
    return {k: float(np.median(v)) for k, v in samples.items()}


def measure_reid_choice(cfg: ReidConfig, cpu: CpuFeatures, crop_transform: CropTransform | None = None,
                        budget_s: float | None = None) -> ReidChoice:
    """Build, check and time every candidate path; the decision of :func:`choose_path`.

    Raises:
        ConfigError: no candidate for the configured backend/precision, or none usable (each one's reason given).
    """
    cfg = _effective(cfg)
    frames = load_person_frames(cfg.calibration_source, cfg.calibration_frames, cfg.min_crop_height_px) \
        if cfg.calibration_source else []
    engines = model_engines(cfg) if cfg.backend == "auto" else (cfg.backend,)
    paths = candidate_paths(cfg.backend, cfg.precision, cfg.num_threads, cpu, engines, int8_engines(), bool(frames),
                            cfg.auto_int8)
    if not paths:
        raise ConfigError(f"reid: no way to run precision {cfg.precision} with backend {cfg.backend} on this "
                          f"machine (bf16 needs openvino; int8 needs onnxruntime, or openvino with nncf); change "
                          f"reid.backend / reid.precision")
    reference = ReidPath(engines[0] if cfg.backend == "auto" else cfg.backend, "f32", cfg.num_threads)
    errors: dict[ReidPath, str] = {}
    embedders: dict[ReidPath, ReidEmbedder] = {}
    for path in dict.fromkeys([reference, *paths]):
        try:
            embedders[path] = ReidEmbedder(runner_for_path(cfg, path, frames, crop_transform), cfg, crop_transform)
        except ConfigError:
            raise
        except Exception as exc:  # a path that cannot be built here is refused, with the library's reason
            errors[path] = f"{type(exc).__name__}: {exc}"
            logger.warning("reid: path %s cannot be built here: %s", path.label, errors[path])
    agreements = {}
    held_out = frames[1::2]  # int8 calibrated on frames[0::2]
    if held_out and reference in embedders:
        ref = np.concatenate([embedders[reference].embed(f.image, f.xyxy) for f in held_out])
        for path, emb in embedders.items():
            agreements[path] = embedding_agreement(
                ref, np.concatenate([emb.embed(f.image, f.xyxy) for f in held_out]))
    timed = {p: e for p, e in embedders.items() if p in paths}
    ms = _time_rounds(timed, _probes(frames), cfg.select_budget_s if budget_s is None else budget_s) if timed else {}
    trials = [PathTrial(p, ms.get(p), agreements.get(p), errors.get(p, "")) for p in paths]
    try:
        choice = choose_path(trials, reference if reference in paths else paths[0], _bound(cfg), cfg.min_speedup)
    except ValueError as exc:
        raise ConfigError(f"reid: {exc}; set reid.precision=f32 (or another reid.backend)") from exc
    return choice


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One process measures at a time (camera processes starting together wait and then read the cache)."""
    with open(path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_cached(file: Path, key: dict[str, str]) -> ReidChoice | None:
    try:
        choice = ReidChoice.from_dict(json.loads(file.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return ReidChoice(choice.path, choice.reason, choice.bound, choice.trials, "cache", key) \
        if choice.key == key else None


def resolve_reid_path(cfg: ReidConfig, crop_transform: CropTransform | None = None, reselect: bool = False,
                      cpu: CpuFeatures | None = None) -> ReidChoice:
    """The path to run: fixed by the config (a backend and f32), else the cached choice for this machine, else
    measured now (and cached). ``reselect`` measures again even when a cached choice exists."""
    cfg = _effective(cfg)
    if cfg.backend != "auto" and (cfg.precision == "f32" or (
            cfg.precision == "auto" and (cfg.backend == "torch" or not cfg.calibration_source))):
        return ReidChoice(ReidPath(cfg.backend, "f32", cfg.num_threads), "set in the config", _bound(cfg))
    cpu = cpu or read_cpu_features()
    key = _choice_key(cfg, cpu)
    file = _cache_file(cfg, key)
    with _locked(file.with_suffix(".lock")):
        cached = None if reselect else _read_cached(file, key)
        if cached is not None:
            return cached
        started = time.perf_counter()
        logger.info("reid: choosing the Re-ID path for this machine (%s; %s) ...", cpu.model, " ".join(cpu.flags))
        choice = measure_reid_choice(cfg, cpu, crop_transform)
        choice = ReidChoice(choice.path, choice.reason, choice.bound, choice.trials, "measured", key)
        tmp = file.with_suffix(f".{os.getpid()}.part")
        tmp.write_text(json.dumps(choice.to_dict(), indent=1))
        os.replace(tmp, file)
        logger.info("reid: path choice measured in %.1f s, cached in %s", time.perf_counter() - started, file)
    return choice
