"""The Re-ID path choice on the real OSNet model and real person crops: the accuracy guard on real embeddings of two
real paths, a real (short) measurement, its cache, and its refusal of a path outside the bound."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from paths import EPFL

from tracker.config import ConfigError, ReidConfig
from tracker.models.cpu_features import read_cpu_features
from tracker.models.reid.autoselect import resolve_reid_path, runner_for_path
from tracker.models.reid.calibration_data import load_person_frames
from tracker.models.reid.embedder import ReidEmbedder
from tracker.models.reid.selection import AccuracyBound, ReidPath, embedding_agreement

CALIBRATION = EPFL / "c0"
FRAMES = 8


def _cfg(reid_weights: Path, cache_dir: Path, **kw: object) -> ReidConfig:
    return ReidConfig(weights=str(reid_weights), cache_dir=str(cache_dir), calibration_source=str(CALIBRATION),
                      calibration_frames=FRAMES, select_budget_s=0.5, **kw)  # type: ignore[arg-type]


def test_calibration_frames_are_real_person_boxes() -> None:
    frames = load_person_frames(str(CALIBRATION), FRAMES)
    assert len(frames) == FRAMES
    for f in frames:
        assert f.image.ndim == 3 and f.image.dtype == np.uint8 and len(f.xyxy) >= 1
        assert np.all(f.xyxy[:, 2] > f.xyxy[:, 0]) and np.all(f.xyxy[:, 3] - f.xyxy[:, 1] >= 24)


def test_missing_calibration_source_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MOTChallenge sequence folder"):
        load_person_frames(str(tmp_path), 4)


def test_guard_on_real_embeddings_of_f32_and_bf16(reid_weights: Path, reid_cache_dir: Path) -> None:
    """bf16 (OpenVINO's precision hint; emulated where the CPU has no bf16) drifts a little from f32 on real crops:
    inside the documented bound, outside a bound tighter than its drift."""
    cfg = _cfg(reid_weights, reid_cache_dir)
    frames = load_person_frames(str(CALIBRATION), FRAMES)
    f32 = ReidEmbedder(runner_for_path(cfg, ReidPath("onnxruntime", "f32", 1)), cfg)
    bf16 = ReidEmbedder(runner_for_path(cfg, ReidPath("openvino", "bf16", 1)), cfg)
    ref = np.concatenate([f32.embed(f.image, f.xyxy) for f in frames])
    got = np.concatenate([bf16.embed(f.image, f.xyxy) for f in frames])
    agreement = embedding_agreement(ref, got)
    assert agreement.crops == len(ref) and agreement.crops >= FRAMES
    assert agreement.median < 1.0 - 1e-6  # really a different arithmetic
    assert agreement.within(AccuracyBound())
    assert not agreement.within(AccuracyBound(median_min=1.0 - 1e-6, p05_min=1.0 - 1e-6))
    assert embedding_agreement(ref, ref).within(AccuracyBound(1.0 - 1e-6, 1.0 - 1e-6))


def test_measured_choice_is_cached_and_reused(reid_weights: Path, reid_cache_dir: Path) -> None:
    cfg = _cfg(reid_weights, reid_cache_dir, backend="auto", precision="bf16")
    cpu = read_cpu_features()
    first = resolve_reid_path(cfg, cpu=cpu, reselect=True)
    assert first.source == "measured" and first.path == ReidPath("openvino", "bf16", cfg.num_threads)
    trial = first.trials[0]
    assert trial.ms_per_crop is not None and trial.ms_per_crop > 0 and not trial.error
    assert first.agreement is not None and first.agreement.within(first.bound)
    assert first.key["cpu"] == cpu.key() and first.key["precision"] == "bf16"
    again = resolve_reid_path(cfg, cpu=cpu)
    assert again.source == "cache" and again.path == first.path and again.trials == first.trials
    cached = list(reid_cache_dir.glob("reid-path-*.json"))
    assert any(json.loads(p.read_text())["path"]["precision"] == "bf16" for p in cached)


def test_path_outside_the_bound_is_refused(reid_weights: Path, reid_cache_dir: Path) -> None:
    cfg = _cfg(reid_weights, reid_cache_dir, backend="openvino", precision="bf16", min_cosine_median=0.999999,
               min_cosine_p05=0.999999)
    with pytest.raises(ConfigError, match=r"openvino/bf16/1t: outside the accuracy bound.*reid.precision=f32"):
        resolve_reid_path(cfg, reselect=True)


def test_fixed_f32_path_is_not_measured(reid_weights: Path, reid_cache_dir: Path) -> None:
    choice = resolve_reid_path(_cfg(reid_weights, reid_cache_dir, backend="onnxruntime", precision="f32"))
    assert choice.source == "config" and choice.path == ReidPath("onnxruntime", "f32", 1) and not choice.trials
