"""The Re-ID path decision as pure functions: candidates per CPU, the accuracy guard, the choice from timings."""

from __future__ import annotations

import numpy as np
import pytest

from tracker.models.cpu_features import parse_cpuinfo
from tracker.models.reid.selection import (
    AccuracyBound,
    Agreement,
    PathTrial,
    ReidChoice,
    ReidPath,
    candidate_paths,
    choose_path,
    embedding_agreement,
)

AVX2 = parse_cpuinfo("model name : old\nflags : avx2 fma\n")
EPYC = parse_cpuinfo("model name : AMD EPYC\nflags : avx2 fma avx512f avx512bw avx512vl avx512_vnni avx512_bf16\n")
BOTH = ("onnxruntime", "openvino")
BOUND = AccuracyBound(0.99, 0.97)
ORT32, OV32 = ReidPath("onnxruntime", "f32", 1), ReidPath("openvino", "f32", 1)
OV16, ORT8, OV8 = ReidPath("openvino", "bf16", 1), ReidPath("onnxruntime", "int8", 1), ReidPath("openvino", "int8", 1)
GOOD = Agreement(median=0.995, p05=0.985, min=0.97, crops=100)
DRIFTED = Agreement(median=0.989, p05=0.96, min=0.91, crops=100)


def test_avx2_cpu_gets_f32_paths_only() -> None:
    assert candidate_paths("auto", "auto", 1, AVX2, BOTH, BOTH, have_crops=True) == [ORT32, OV32]


def test_vnni_bf16_cpu_with_crops_gets_bf16_and_with_auto_int8_int8_too() -> None:
    assert candidate_paths("auto", "auto", 1, EPYC, BOTH, BOTH, have_crops=True) == [ORT32, OV32, OV16]
    assert candidate_paths("auto", "auto", 1, EPYC, BOTH, BOTH, True, auto_int8=True) == [ORT32, OV32, OV16, ORT8, OV8]
    assert candidate_paths("auto", "auto", 1, EPYC, BOTH, ("onnxruntime",), True, auto_int8=True) == [
        ORT32, OV32, OV16, ORT8]  # no nncf: openvino cannot quantise
    assert candidate_paths("auto", "auto", 1, AVX2, BOTH, BOTH, True, auto_int8=True) == [ORT32, OV32]


def test_without_crops_reduced_precision_cannot_be_checked_so_it_is_not_tried() -> None:
    assert candidate_paths("auto", "auto", 1, EPYC, BOTH, BOTH, False, auto_int8=True) == [ORT32, OV32]
    assert candidate_paths("auto", "auto", 1, EPYC, ("onnxruntime",), BOTH, have_crops=False) == [ORT32]


def test_explicit_backend_and_precision() -> None:
    assert candidate_paths("openvino", "bf16", 2, AVX2, BOTH, BOTH, True) == [ReidPath("openvino", "bf16", 2)]
    assert candidate_paths("onnxruntime", "bf16", 1, EPYC, BOTH, BOTH, True) == []  # ORT has no bf16 on CPU
    assert candidate_paths("onnxruntime", "auto", 1, EPYC, BOTH, BOTH, True) == [ORT32]
    assert candidate_paths("onnxruntime", "auto", 1, EPYC, BOTH, BOTH, True, auto_int8=True) == [ORT32, ORT8]
    assert candidate_paths("onnxruntime", "int8", 1, EPYC, BOTH, BOTH, True) == [ORT8]  # explicit: no auto_int8


def test_agreement_of_identical_scaled_and_drifted_features() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(50, 16))
    same = embedding_agreement(ref, 3.0 * ref)  # scale does not matter: cosine
    assert same.crops == 50 and same.median == pytest.approx(1.0) and same.p05 == pytest.approx(1.0)
    noisy = embedding_agreement(ref, ref + rng.normal(scale=0.5, size=ref.shape))
    assert noisy.min <= noisy.p05 <= noisy.median < 0.99
    assert not noisy.within(BOUND) and same.within(BOUND)


def test_agreement_skips_zero_rows_and_rejects_shape_mismatch() -> None:
    ref = np.eye(3, 4)
    got = ref.copy()
    got[1] = 0.0  # a crop one path could not embed
    assert embedding_agreement(ref, got).crops == 2
    assert not Agreement(1.0, 1.0, 1.0, crops=0).within(BOUND)
    with pytest.raises(ValueError, match="shapes differ"):
        embedding_agreement(ref, ref[:2])


def test_fastest_path_within_the_bound_wins() -> None:
    trials = [PathTrial(ORT32, 3.5, None), PathTrial(OV32, 5.1, None), PathTrial(OV16, 2.0, GOOD),
              PathTrial(OV8, 1.0, DRIFTED)]
    choice = choose_path(trials, ORT32, BOUND, min_speedup=0.1)
    assert choice.path == OV16 and choice.source == "measured"
    assert "refused: openvino/int8/1t" in choice.reason and choice.agreement == GOOD


def test_reference_is_kept_unless_another_path_is_clearly_faster() -> None:
    trials = [PathTrial(ORT32, 3.5, None), PathTrial(OV16, 3.3, GOOD)]  # 6% faster: within noise
    assert choose_path(trials, ORT32, BOUND, min_speedup=0.1).path == ORT32
    assert choose_path(trials, ORT32, BOUND, min_speedup=0.05).path == OV16


def test_unchecked_reduced_precision_and_failed_paths_are_refused() -> None:
    trials = [PathTrial(ORT32, 3.5, None), PathTrial(OV16, 1.0, None), PathTrial(ORT8, None, None, "no kernel")]
    choice = choose_path(trials, ORT32, BOUND, min_speedup=0.1)
    assert choice.path == ORT32 and "openvino/bf16/1t" in choice.reason and "onnxruntime/int8/1t" in choice.reason


def test_unusable_reference_falls_back_to_the_fastest_usable_path() -> None:
    trials = [PathTrial(ORT32, None, None, "ImportError"), PathTrial(OV32, 5.0, None)]
    assert choose_path(trials, ORT32, BOUND, 0.1).path == OV32


def test_nothing_usable_says_why() -> None:
    with pytest.raises(ValueError, match=r"openvino/int8/1t: outside the accuracy bound"):
        choose_path([PathTrial(OV8, 1.0, DRIFTED)], OV8, BOUND, 0.1)


def test_choice_round_trips_through_its_dict() -> None:
    trials = [PathTrial(ORT32, 3.5, None), PathTrial(OV16, 2.0, GOOD), PathTrial(ORT8, None, None, "x")]
    choice = choose_path(trials, ORT32, BOUND, 0.1)
    assert ReidChoice.from_dict(choice.to_dict()) == choice
