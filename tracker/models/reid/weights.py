"""Finding and reading Re-ID weights: local path, or (online only) a torchreid model-zoo download into the cache."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from tracker.config import ConfigError, ReidConfig

__all__ = ["resolve_reid_weights", "sha256_file", "load_state_dict", "MODEL_ZOO_URLS", "offline", "OFFLINE_ENV"]

logger = logging.getLogger(__name__)

_EXAMPLE_WEIGHTS = "../shared/models/osnet_x0_25_msmt17.pt"
_HASH_CHUNK_BYTES = 1 << 20
_DATA_PARALLEL_PREFIX = "module."
# Set to 1/true to forbid the model-zoo download (air-gapped sites, tests).
OFFLINE_ENV = "MCTRACK_OFFLINE"

# torchreid model-zoo files (Google Drive ids as published by torchreid / BoxMOT). Only these names are downloaded.
MODEL_ZOO_URLS: dict[str, str] = {
    "osnet_x0_25_msmt17.pt": "https://drive.google.com/uc?id=1sSwXSUlj4_tHZequ_iZ8w_Jh0VaRQMqF",
    "osnet_x0_25_market1501.pt": "https://drive.google.com/uc?id=1z1UghYvOTtjx7kEoRfmqSMu-z62J6MAj",
    "osnet_x0_5_msmt17.pt": "https://drive.google.com/uc?id=1UT3AxIaDvS2PdxzZmbkLmjtiqq7AIKCv",
    "osnet_x0_75_msmt17.pt": "https://drive.google.com/uc?id=1QEGO6WnJ-BmUzVPd3q9NoaO_GsPNlmWc",
}
# Known checksums (see shared/models/MANIFEST.md); a download that does not match is rejected.
_MODEL_ZOO_SHA256: dict[str, str] = {
    "osnet_x0_25_msmt17.pt": "6f57607fed9f502b9efed546108132ee715df5a5b6e6932c6269bacb47f59f99",
    "osnet_x0_25_market1501.pt": "c0ff09177a21417a19bc73bbf5af4eb5d2b097c2074ed35e67819ee6cd93612c",
}


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _missing(cfg: ReidConfig, why: str) -> ConfigError:
    return ConfigError(f"reid.weights = {cfg.weights!r}: {why}. Pass a local torchreid state dict, e.g. "
                       f"--set reid.weights={_EXAMPLE_WEIGHTS}")


def offline() -> bool:
    """Whether MCTRACK_OFFLINE forbids downloads."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def resolve_reid_weights(cfg: ReidConfig) -> Path:
    """Local path of ``reid.weights``; a bare model-zoo name is looked up in, or downloaded into, ``reid.cache_dir``.

    Raises:
        ConfigError: naming ``reid.weights`` when the file does not exist and cannot be downloaded.
    """
    if not cfg.weights:
        raise _missing(cfg, "is empty")
    path = Path(cfg.weights).expanduser()
    if path.is_file():
        return path
    is_bare_name = Path(cfg.weights).name == cfg.weights
    if not (is_bare_name and cfg.weights in MODEL_ZOO_URLS):
        raise _missing(cfg, f"no such file ({path.resolve()})")
    cached = Path(cfg.cache_dir).expanduser() / "weights" / cfg.weights
    if cached.is_file():
        return cached
    if offline():
        raise _missing(cfg, f"not found locally and {OFFLINE_ENV} forbids downloading it")
    return _download_model_zoo(cfg, cached)


def _download_model_zoo(cfg: ReidConfig, target: Path) -> Path:
    """Download a model-zoo file with gdown to ``target`` (temp file, checksum, then rename)."""
    url = MODEL_ZOO_URLS[cfg.weights]
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        logger.info("downloading Re-ID weights %s from %s into %s", cfg.weights, url, target.parent)
        try:
            import gdown

            got = gdown.download(url, str(tmp), quiet=True)
        except Exception as exc:  # noqa: BLE001 - gdown raises many kinds (network, quota, HTML pages)
            raise _missing(cfg, f"not found locally and the download from {url} failed ({exc})") from exc
        if not got or not tmp.is_file() or tmp.stat().st_size == 0:
            raise _missing(cfg, f"not found locally and the download from {url} failed")
        expected = _MODEL_ZOO_SHA256.get(cfg.weights)
        if expected is not None and sha256_file(tmp) != expected:
            raise _missing(cfg, f"the file downloaded from {url} does not have the expected sha256 {expected}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a torchreid state dict (plain, or a checkpoint with ``state_dict``), ``module.`` prefixes removed.

    Returns:
        {parameter name: torch.Tensor}.
    Raises:
        ConfigError: naming ``reid.weights`` when the file is not a state dict.
    """
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - pickle/zip errors of many kinds
        raise ConfigError(f"reid.weights = {str(path)!r} is not a readable torch state dict ({exc}); pass a "
                          f"torchreid .pt/.pth file, e.g. {_EXAMPLE_WEIGHTS}") from exc
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise ConfigError(f"reid.weights = {str(path)!r} holds {type(obj).__name__}, not a state dict; pass a "
                          f"torchreid .pt/.pth file, e.g. {_EXAMPLE_WEIGHTS}")
    return {k.removeprefix(_DATA_PARALLEL_PREFIX): v for k, v in obj.items()}
