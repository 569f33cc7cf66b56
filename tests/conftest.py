"""Shared fixtures: paths to the real models and the dev data in ../shared, offline Ultralytics."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")
os.environ.setdefault("YOLO_VERBOSE", "False")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MCTRACK_SHARED", REPO.parent / "shared"))
MODELS = SHARED / "models"
DEV = SHARED / "data" / "pets-s2l1-dev"

DETECTOR_WEIGHTS = MODELS / "yolo11n_int8_openvino_model"
REID_WEIGHTS = MODELS / "osnet_x0_25_msmt17.pt"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests need ../shared (models and dev data) beside the repo")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _require(SHARED)


@pytest.fixture(scope="session")
def dev_dir() -> Path:
    return _require(DEV)


@pytest.fixture(scope="session")
def detector_weights() -> Path:
    return _require(DETECTOR_WEIGHTS)


@pytest.fixture(scope="session")
def reid_weights() -> Path:
    return _require(REID_WEIGHTS)


@pytest.fixture(scope="session")
def reid_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ONNX export cache for the whole test session (exports are slow)."""
    return tmp_path_factory.mktemp("reid-cache")


@pytest.fixture()
def model_overrides(detector_weights: Path, reid_weights: Path, reid_cache_dir: Path) -> list[str]:
    """--set overrides that point the config at the real local models."""
    return [f"detector.weights={detector_weights}", f"reid.weights={reid_weights}",
            f"reid.cache_dir={reid_cache_dir}"]
