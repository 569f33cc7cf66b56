"""Intel Open Model Zoo Re-ID models (prebuilt OpenVINO IR): finding the .xml of ``reid.weights``, and (online
only) downloading a bare OMZ model name into ``reid.cache_dir``.

``reid.weights`` selects an IR model when it is an ``.xml`` file, a folder holding exactly one ``.xml`` (searched
recursively, FP16 preferred), or one of :data:`OMZ_MODELS` by bare name (cached in
``<cache_dir>/weights/<name>/FP16/<name>.xml``; downloaded from storage.openvinotoolkit.org when missing and
online).
"""

from __future__ import annotations

import logging
import os
import tempfile
import urllib.request
from pathlib import Path

from tracker.config import ConfigError, ReidConfig
from tracker.models.reid.weights import OFFLINE_ENV, offline, sha256_file

__all__ = ["OMZ_MODELS", "OMZ_BASE_URL", "is_ir_weights", "resolve_ir_model"]

logger = logging.getLogger(__name__)

OMZ_BASE_URL = "https://storage.openvinotoolkit.org/repositories/open_model_zoo/2023.0/models_bin/1"
_PRECISION_DIR = "FP16"
_DOWNLOAD_TIMEOUT_S = 60.0
# name -> (sha256 of .xml, sha256 of .bin), as in shared/models/MANIFEST.md (Intel's release files).
OMZ_MODELS: dict[str, tuple[str, str]] = {
    "person-reidentification-retail-0277": (
        "82039b1bb986231c50345550e59def94e63579998e9cddbd1a312f293eb87729",
        "6bb69e09d07733cc3896b29081d2627f92db7b9aacd50f1a8c3df491cb10f1b7"),
    "person-reidentification-retail-0287": (
        "95125bc630208d9a27370b11bd04d220f93f64b60fe4be5bc576e9aebb69603d",
        "8811b3db2f6ebacbf2c05510593783316026ff779d9b048b6ca2581f17baf86c"),
}
_EXAMPLE = "../shared/models/person-reidentification-retail-0277"


def is_ir_weights(weights: str) -> bool:
    """Whether ``reid.weights`` names a prebuilt OpenVINO IR model (an .xml, a folder, or an OMZ name)."""
    path = Path(weights).expanduser()
    return path.suffix.lower() == ".xml" or path.is_dir() or weights in OMZ_MODELS


def _error(cfg: ReidConfig, why: str) -> ConfigError:
    return ConfigError(f"reid.weights = {cfg.weights!r}: {why}. Pass an OpenVINO IR .xml (with its .bin beside "
                       f"it) or a folder holding one, e.g. --set reid.weights={_EXAMPLE}")


def _xml_in_folder(cfg: ReidConfig, folder: Path) -> Path:
    found = sorted(folder.rglob("*.xml"))
    preferred = [p for p in found if p.parent.name == _PRECISION_DIR] or found
    if len(preferred) != 1:
        raise _error(cfg, f"the folder holds {len(found)} .xml files ({[str(p) for p in found[:4]]}), not one")
    return preferred[0]


def resolve_ir_model(cfg: ReidConfig) -> Path:
    """Path of the IR .xml for ``reid.weights`` (its .bin checked to exist).

    Raises:
        ConfigError: no such file/folder, no .bin beside the .xml, or an OMZ name that is neither cached nor
            downloadable.
    """
    path = Path(cfg.weights).expanduser()
    if cfg.weights in OMZ_MODELS and not path.exists():
        xml = _cached_or_downloaded(cfg, cfg.weights)
    elif path.is_dir():
        xml = _xml_in_folder(cfg, path)
    elif path.is_file():
        xml = path
    else:
        raise _error(cfg, f"no such file or folder ({path.resolve()})")
    if not xml.with_suffix(".bin").is_file():
        raise _error(cfg, f"{xml} has no weights file {xml.with_suffix('.bin').name} beside it")
    return xml


def _cached_or_downloaded(cfg: ReidConfig, name: str) -> Path:
    folder = Path(cfg.cache_dir).expanduser() / "weights" / name / _PRECISION_DIR
    xml = folder / f"{name}.xml"
    if xml.is_file() and xml.with_suffix(".bin").is_file():
        return xml
    if offline():
        raise _error(cfg, f"not found in {folder} and {OFFLINE_ENV} forbids downloading it")
    folder.mkdir(parents=True, exist_ok=True)
    for suffix, expected in zip((".bin", ".xml"), reversed(OMZ_MODELS[name]), strict=True):  # .bin first
        _download(cfg, f"{OMZ_BASE_URL}/{name}/{_PRECISION_DIR}/{name}{suffix}", xml.with_suffix(suffix), expected)
    return xml


def _download(cfg: ReidConfig, url: str, target: Path, expected_sha256: str) -> None:
    """Download ``url`` to ``target`` (temporary file, checksum, then rename)."""
    fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        logger.info("downloading Re-ID model file %s into %s", url, target.parent)
        try:
            with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response, open(tmp, "wb") as fh:
                fh.write(response.read())
        except OSError as exc:
            raise _error(cfg, f"not cached and the download from {url} failed ({exc})") from exc
        if sha256_file(tmp) != expected_sha256:
            raise _error(cfg, f"the file downloaded from {url} does not have the expected sha256 {expected_sha256}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
