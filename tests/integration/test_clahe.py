"""CLAHE on the L channel only, the cheap mean-luma measure and the dark-frame decision, on real dev frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import read_frames

from tracker.config import ClaheConfig
from tracker.models.clahe import Clahe, mean_luma, should_equalise_detector_input

DARK_GAMMA = 2.5  # the darkening used by benchmarks/clahe_study.py (mean L ~55: CLAHE does not help)
VERY_DARK_GAMMA = 4.0  # mean L ~30: CLAHE restores detector recall
FRAMES = (1, 150, 300)


def _darken(image_bgr: np.ndarray, gamma: float = DARK_GAMMA) -> np.ndarray:
    return np.round(255.0 * (image_bgr / 255.0) ** gamma).astype(np.uint8)


@pytest.fixture(scope="module")
def frames(dev_dir: Path) -> list[np.ndarray]:
    by_index = read_frames(dev_dir / "full" / "cam1" / "video.mp4", FRAMES)
    out = [by_index[i] for i in FRAMES]
    return out


def _full_res_mean_l(image_bgr: np.ndarray) -> float:
    return float(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2Lab)[..., 0].mean())


def test_grey_image_stays_grey_and_gets_more_contrast(frames: list[np.ndarray]) -> None:
    # a low-contrast grey version of a real frame: B == G == R everywhere
    gray = cv2.cvtColor(frames[0], cv2.COLOR_BGR2GRAY).astype(np.float32)
    flat = np.clip(110 + 0.3 * (gray - gray.mean()), 0, 255).round().astype(np.uint8)
    grey = cv2.merge([flat, flat, flat])
    out = Clahe(ClaheConfig()).apply(grey)
    assert out.shape == grey.shape and out.dtype == np.uint8
    spread = out.max(axis=2).astype(int) - out.min(axis=2).astype(int)
    assert spread.max() <= 1, "CLAHE changed the hue of a grey image (chroma must be untouched)"
    assert out[..., 1].std() > 1.5 * grey[..., 1].std(), "lightness contrast should increase"


def test_only_lightness_changes_on_a_real_frame(frames: list[np.ndarray]) -> None:
    clahe = Clahe(ClaheConfig(clip_limit=2.0, tile_grid_size=8))
    for image in frames:
        before = image.copy()
        out = clahe.apply(image)
        np.testing.assert_array_equal(image, before)  # input untouched
        lab_in = cv2.cvtColor(image, cv2.COLOR_BGR2Lab).astype(int)
        lab_out = cv2.cvtColor(out, cv2.COLOR_BGR2Lab).astype(int)
        lightness_change = np.abs(lab_out[..., 0] - lab_in[..., 0]).mean()
        chroma_change = np.abs(lab_out[..., 1:] - lab_in[..., 1:]).mean()
        assert lightness_change > 3.0
        # a/b only move by the 8-bit Lab <-> BGR round trip
        assert chroma_change < 0.5 and chroma_change < lightness_change / 10


def test_clahe_equalises_a_darkened_frame(frames: list[np.ndarray]) -> None:
    dark = _darken(frames[0])
    out = Clahe(ClaheConfig()).apply(dark)
    assert _full_res_mean_l(out) > _full_res_mean_l(dark) + 10
    assert cv2.cvtColor(out, cv2.COLOR_BGR2GRAY).std() > cv2.cvtColor(dark, cv2.COLOR_BGR2GRAY).std()


def test_apply_rejects_non_bgr_input() -> None:
    with pytest.raises(ValueError, match="uint8 BGR"):
        Clahe(ClaheConfig()).apply(np.zeros((10, 10), np.uint8))


def test_mean_luma_matches_full_resolution(frames: list[np.ndarray]) -> None:
    for image in frames + [_darken(f) for f in frames]:
        assert mean_luma(image) == pytest.approx(_full_res_mean_l(image), abs=1.0)
    small = np.full((4, 6, 3), 200, np.uint8)  # smaller than the sample width: measured as is
    assert mean_luma(small) == pytest.approx(_full_res_mean_l(small), abs=1e-6)


def test_dark_frame_decision(frames: list[np.ndarray]) -> None:
    cfg = ClaheConfig()  # detector_input "dark" with the default dark_mean_luma
    assert cfg.detector_input == "dark"
    for image in frames:
        assert not should_equalise_detector_input(mean_luma(image), cfg), "a normally lit frame counts as dark"
        assert not should_equalise_detector_input(mean_luma(_darken(image, DARK_GAMMA)), cfg), \
            "a mildly dark frame (gamma 2.5, where CLAHE does not help the detector) counts as dark"
        assert should_equalise_detector_input(mean_luma(_darken(image, VERY_DARK_GAMMA)), cfg), \
            "a very dark frame (gamma 4) does not count as dark"


@pytest.mark.parametrize(("mode", "enabled", "luma", "expected"), [
    ("never", True, 5.0, False),
    ("always", True, 250.0, True),
    ("dark", True, 39.9, True),
    ("dark", True, 40.0, False),
    ("always", False, 5.0, False),
    ("dark", False, 5.0, False),
])
def test_detector_input_modes(mode: str, enabled: bool, luma: float, expected: bool) -> None:
    cfg = ClaheConfig(enabled=enabled, detector_input=mode, dark_mean_luma=40.0)  # type: ignore[arg-type]
    assert should_equalise_detector_input(luma, cfg) is expected
