"""Appearance thresholds in the Re-ID model's own units: the scale, its lookup, and the mapping onto cosines."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest

from tracker.config import ConfigError, HubConfig, ReidConfig, TrackerConfig
from tracker.config.mapping import identity_params, tracker_params
from tracker.identity.scale import KNOWN_SCALES, REFERENCE_SCALE, AppearanceScale
from tracker.models.reid.stats import appearance_scale, reid_model_id, scale_file

OMZ = AppearanceScale(same_cosine=0.67, diff_cosine=0.16)


def test_standardised_similarity_maps_the_typical_pairs_to_0_and_1() -> None:
    assert math.isclose(OMZ.cosine(0.0), 0.16) and math.isclose(OMZ.cosine(1.0), 0.67)
    assert math.isclose(OMZ.standardise(OMZ.cosine(0.37)), 0.37)
    assert math.isclose(OMZ.span, 0.51)
    # centring moves a typical different pair to 0 and a typical same pair to span / (1 - diff)
    assert OMZ.centred_cosine(0.0) == 0.0 and math.isclose(OMZ.centred_cosine(1.0), 0.51 / 0.84)


@pytest.mark.parametrize(("same", "diff"), [(0.5, 0.5), (0.4, 0.6), (1.2, 0.1), (0.5, -1.5)])
def test_impossible_scales_are_rejected(same: float, diff: float) -> None:
    with pytest.raises(ValueError, match="diff_cosine < same_cosine"):
        AppearanceScale(same_cosine=same, diff_cosine=diff)


def test_one_standardised_threshold_gives_each_model_its_own_cosine() -> None:
    """The defaults stay near OSNet's former hand-tuned cosines (via its floor) and give OMZ its own."""
    osnet_t, omz_t = tracker_params(TrackerConfig(), REFERENCE_SCALE), tracker_params(TrackerConfig(), OMZ)
    # the gate: u = 0.5, or OSNet's floor (its 95th-percentile different pair) where that is stricter
    assert math.isclose(osnet_t.max_cosine_distance, 1 - REFERENCE_SCALE.cosine(REFERENCE_SCALE.match_floor()))
    assert math.isclose(osnet_t.max_cosine_distance, 0.32, abs_tol=0.005)
    assert math.isclose(omz_t.max_cosine_distance, 1 - (0.16 + 0.5 * 0.51), abs_tol=1e-9)  # 0.585
    osnet_h, omz_h = identity_params(HubConfig(), REFERENCE_SCALE), identity_params(HubConfig(), OMZ)
    # OSNet's different people spread widely: its match threshold is floored at its 95th-percentile pair
    assert math.isclose(osnet_h.match_threshold, REFERENCE_SCALE.match_floor() * 0.52)
    assert math.isclose(osnet_h.match_threshold, 0.36, abs_tol=0.005)
    assert math.isclose(omz_h.match_threshold, 0.55 * 0.51 / 0.84)
    assert math.isclose(omz_h.correction_margin / osnet_h.correction_margin, OMZ.centred_span / 0.52)
    assert math.isclose(omz_h.ground.weight, 0.58 * OMZ.centred_span)
    assert omz_h.ground.merge_min_similarity == 0.0


def test_the_match_threshold_is_floored_at_the_95th_percentile_different_pair() -> None:
    wide = AppearanceScale(same_cosine=0.7, diff_cosine=0.5, diff_p95_cosine=0.65)
    assert math.isclose(wide.match_floor(), 0.75)
    assert math.isclose(identity_params(HubConfig(match_threshold=0.5), wide).match_threshold,
                        wide.centred_cosine(0.75))
    assert math.isclose(identity_params(HubConfig(match_threshold=0.9), wide).match_threshold,
                        wide.centred_cosine(0.9))
    assert OMZ.match_floor() == -math.inf
    with pytest.raises(ValueError, match="diff_p95_cosine"):
        AppearanceScale(same_cosine=0.7, diff_cosine=0.5, diff_p95_cosine=0.4)


def test_without_camera_normalisation_thresholds_are_raw_cosines() -> None:
    hub = HubConfig(camera_normalization="none", match_threshold=1.0, ground_merge_min_similarity=0.0)
    params = identity_params(hub, OMZ)
    assert math.isclose(params.match_threshold, 0.67) and math.isclose(params.ground.merge_min_similarity, 0.16)
    assert math.isclose(params.correction_margin, 0.1 * 0.51)


@pytest.mark.parametrize(("weights", "model_id"), [
    ("../shared/models/osnet_x0_25_msmt17.pt", "osnet_x0_25_msmt17"),
    ("osnet_x0_25_msmt17.pt", "osnet_x0_25_msmt17"),
    ("../shared/models/person-reidentification-retail-0277", "person-reidentification-retail-0277"),
    ("../shared/models/person-reidentification-retail-0277/", "person-reidentification-retail-0277"),
    ("m/person-reidentification-retail-0287/FP16/person-reidentification-retail-0287.xml",
     "person-reidentification-retail-0287"),
    ("person-reidentification-retail-0287", "person-reidentification-retail-0287"),
])
def test_model_id_of_the_weights(weights: str, model_id: str) -> None:
    assert reid_model_id(weights) == model_id


def test_scale_lookup_prefers_a_measured_file_then_the_builtin_figures(tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    cfg = ReidConfig(weights="x/person-reidentification-retail-0277", cache_dir=str(tmp_path))
    assert appearance_scale(cfg) == KNOWN_SCALES["person-reidentification-retail-0277"]
    path = scale_file(cfg)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"same_cosine": 0.7, "diff_cosine": 0.2, "diff_p95_cosine": 0.4}))
    measured = appearance_scale(cfg)
    assert (measured.same_cosine, measured.diff_cosine, measured.diff_p95_cosine, measured.source) == (
        0.7, 0.2, 0.4, str(path))
    path.write_text(json.dumps({"same_cosine": 0.1, "diff_cosine": 0.2}))
    with pytest.raises(ConfigError, match="appearance statistics"):
        appearance_scale(cfg)
    with caplog.at_level(logging.WARNING):
        unknown = appearance_scale(ReidConfig(weights="my_new_model.pt", cache_dir=str(tmp_path)))
    assert unknown == REFERENCE_SCALE and "no appearance statistics for model 'my_new_model'" in caplog.text


def test_known_scales_are_the_measured_medians_of_docs_reid() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "reid.md").read_text()
    for model_id, scale in KNOWN_SCALES.items():
        assert (f"| {model_id} | {scale.same_cosine:.2f} | {scale.diff_cosine:.2f} | {scale.diff_p95_cosine:.2f} |"
                in text)
