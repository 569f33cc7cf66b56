"""Re-ID embedder with the real OSNet weights on real person crops: backends agree, identities separate, caching."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from paths import MODELS

from tracker.config import ConfigError, ReidConfig
from tracker.core.protocols import Embedder
from tracker.models.reid import (
    build_reid_embedder,
    export_onnx,
    export_openvino,
    onnx_cache_path,
)
from tracker.models.reid.preprocess import (
    IMAGENET_MEAN_RGB,
    IMAGENET_STD_RGB,
    clip_boxes_xyxy,
    crops_to_blob,
)
from tracker.models.reid.weights import OFFLINE_ENV

FRAME_STEP = 40  # frames 1, 41, 81, ... of the dev clip
MIN_BACKEND_COSINE = 0.999
MIN_SAME_VS_DIFF_MARGIN = 0.15


def _cfg(reid_weights: Path, cache_dir: Path, **kw: object) -> ReidConfig:
    return ReidConfig(weights=str(reid_weights), cache_dir=str(cache_dir), num_threads=2, **kw)  # type: ignore


@pytest.fixture(scope="module")
def samples(dev_dir: Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """[(frame, (N, 4) gt xyxy, (N,) ids)] for every FRAME_STEP-th frame of full/cam1."""
    cam = dev_dir / "full" / "cam1"
    gt = np.loadtxt(cam / "gt.txt", delimiter=",", ndmin=2)
    cap = cv2.VideoCapture(str(cam / "video.mp4"))
    out, index = [], 0
    while True:
        ok, image = cap.read()
        if not ok:
            break
        index += 1
        if (index - 1) % FRAME_STEP == 0:
            rows = gt[gt[:, 0] == index]
            xyxy = np.c_[rows[:, 2:4], rows[:, 2:4] + rows[:, 4:6]].astype(np.float32)
            out.append((image, xyxy, rows[:, 1].astype(int)))
    cap.release()
    assert len(out) == 10
    return out


def _embed_all(embedder: Embedder, samples: list) -> tuple[np.ndarray, np.ndarray]:
    feats = [embedder.embed(image, xyxy) for image, xyxy, _ in samples]
    return np.concatenate(feats), np.concatenate([ids for _, _, ids in samples])


@pytest.fixture(scope="module")
def torch_features(reid_weights: Path, reid_cache_dir: Path, samples: list) -> tuple[np.ndarray, np.ndarray]:
    return _embed_all(build_reid_embedder(_cfg(reid_weights, reid_cache_dir, backend="torch")), samples)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_exported_backends_match_torch(backend: str, reid_weights: Path, reid_cache_dir: Path, samples: list,
                                       torch_features: tuple[np.ndarray, np.ndarray]) -> None:
    embedder = build_reid_embedder(_cfg(reid_weights, reid_cache_dir, backend=backend))
    assert isinstance(embedder, Embedder) and embedder.dim == 512 and embedder.backend == backend
    feats, _ = _embed_all(embedder, samples)
    reference, _ = torch_features
    assert feats.shape == reference.shape and feats.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)
    cosine = np.sum(feats * reference, axis=1)
    assert cosine.min() >= MIN_BACKEND_COSINE, f"{backend} vs torch: worst crop cosine {cosine.min():.5f}"


def test_same_person_is_more_similar_than_different_people(torch_features: tuple[np.ndarray, np.ndarray]) -> None:
    feats, ids = torch_features
    assert len(np.unique(ids)) >= 5
    sim = feats @ feats.T
    same = (ids[:, None] == ids[None, :]) & ~np.eye(len(ids), dtype=bool)
    diff = ids[:, None] != ids[None, :]
    mean_same, mean_diff = float(sim[same].mean()), float(sim[diff].mean())
    assert mean_same > mean_diff + MIN_SAME_VS_DIFF_MARGIN, f"same-id {mean_same:.3f} vs diff-id {mean_diff:.3f}"
    # rank-1: the nearest other crop is mostly the same person
    np.fill_diagonal(sim, -np.inf)
    has_partner = same.any(axis=1)
    rank1 = np.mean(ids[np.argmax(sim, axis=1)][has_partner] == ids[has_partner])
    assert rank1 >= 0.8, f"rank-1 {rank1:.2f}"


def test_zero_rows_for_tiny_and_outside_boxes(reid_weights: Path, reid_cache_dir: Path, samples: list) -> None:
    cfg = _cfg(reid_weights, reid_cache_dir, min_crop_height_px=24.0)
    embedder = build_reid_embedder(cfg)
    image, xyxy, _ = samples[0]
    height, width = image.shape[:2]
    boxes = np.array([
        xyxy[0],                                  # a person: embedded
        [10, 10, 30, 30],                         # 20 px tall: below min_crop_height_px
        [width + 5, 10, width + 50, 200],         # right of the image
        [-80, -90, -10, -5],                      # above-left of the image
        [100, 100, 100, 200],                     # zero width
        [width - 20, height - 100, width + 40, height + 40],  # partly outside: clipped, still embedded
        [np.nan, 0, 10, 10],                      # garbage
    ], np.float32)
    feats = embedder.embed(image, boxes)
    assert feats.shape == (len(boxes), embedder.dim) and feats.dtype == np.float32
    norms = np.linalg.norm(feats, axis=1)
    np.testing.assert_allclose(norms[[0, 5]], 1.0, atol=1e-5)
    assert np.all(norms[[1, 2, 3, 4, 6]] == 0.0)
    assert embedder.embed(image, np.zeros((0, 4), np.float32)).shape == (0, embedder.dim)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_batching_does_not_change_features(backend: str, reid_weights: Path, reid_cache_dir: Path,
                                           samples: list) -> None:
    """OpenVINO runs a call as chunks of static batch sizes (7 crops: 4 + 2 + 1): the same features."""
    image, xyxy, _ = samples[3]
    assert len(xyxy) >= 4
    big = build_reid_embedder(_cfg(reid_weights, reid_cache_dir, batch_size=16, backend=backend)).embed(image, xyxy)
    small = build_reid_embedder(_cfg(reid_weights, reid_cache_dir, batch_size=3, backend=backend)).embed(image, xyxy)
    np.testing.assert_allclose(np.sum(big * small, axis=1), 1.0, atol=1e-4)


def test_crop_transform_is_applied_per_crop(reid_weights: Path, reid_cache_dir: Path, samples: list) -> None:
    from tracker.config import ClaheConfig
    from tracker.models.clahe import Clahe

    image, xyxy, _ = samples[2]
    seen: list[tuple[int, ...]] = []
    clahe = Clahe(ClaheConfig())

    def transform(crop: np.ndarray) -> np.ndarray:
        seen.append(crop.shape)
        return clahe.apply(crop)

    cfg = _cfg(reid_weights, reid_cache_dir)
    plain = build_reid_embedder(cfg).embed(image, xyxy)
    equalised = build_reid_embedder(cfg, crop_transform=transform).embed(image, xyxy)
    assert len(seen) == len(xyxy)
    cosine = np.sum(plain * equalised, axis=1)
    assert np.all(cosine < 0.999) and np.all(cosine > 0.5)


def test_crops_to_blob_matches_a_plain_reference() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(120, 90, 3), dtype=np.uint8)
    boxes = clip_boxes_xyxy(np.array([[10.4, 5.0, 50.6, 100.2], [-5, -5, 20, 30]], np.float32), 90, 120)
    np.testing.assert_array_equal(boxes, [[10, 5, 51, 101], [0, 0, 20, 30]])
    blob = crops_to_blob(image, boxes, 32, 64)
    assert blob.shape == (2, 3, 64, 32) and blob.dtype == np.float32 and blob.flags.c_contiguous
    for i, (left, top, right, bottom) in enumerate(boxes):
        crop = cv2.resize(image[top:bottom, left:right], (32, 64), interpolation=cv2.INTER_LINEAR)
        rgb = crop[..., ::-1].astype(np.float32) / 255.0
        expected = ((rgb - IMAGENET_MEAN_RGB) / IMAGENET_STD_RGB).transpose(2, 0, 1)
        np.testing.assert_allclose(blob[i], expected, atol=1e-5)


def test_onnx_export_is_cached_and_keyed(reid_weights: Path, tmp_path: Path) -> None:
    cfg = _cfg(reid_weights, tmp_path / "cache", backend="onnxruntime")
    first = export_onnx(cfg)
    assert first.is_file() and first.parent == tmp_path / "cache" and first == onnx_cache_path(cfg)
    assert cfg.model_name in first.name and "256x128" in first.name
    mtime = first.stat().st_mtime_ns
    embedder = build_reid_embedder(cfg)  # the onnxruntime backend reuses the cached export
    assert export_onnx(cfg) == first and first.stat().st_mtime_ns == mtime
    assert embedder.dim == 512
    other_size = export_onnx(_cfg(reid_weights, tmp_path / "cache", input_height=128, input_width=64))
    assert other_size != first and other_size.is_file()
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted([first.name, other_size.name])
    ir = export_openvino(cfg)
    assert ir.is_file() and ir.with_suffix(".bin").is_file()
    ir_mtime = ir.stat().st_mtime_ns
    build_reid_embedder(_cfg(reid_weights, tmp_path / "cache", backend="openvino"))
    assert ir.stat().st_mtime_ns == ir_mtime and first.stat().st_mtime_ns == mtime
    assert not [p for p in (tmp_path / "cache").iterdir() if ".part" in p.name], "temporary files left behind"


def test_state_dict_with_module_prefix_and_no_classifier(reid_weights: Path, tmp_path: Path, samples: list,
                                                         torch_features: tuple[np.ndarray, np.ndarray]) -> None:
    import torch

    state = torch.load(reid_weights, map_location="cpu", weights_only=True)
    stripped = {f"module.{k}": v for k, v in state.items() if not k.startswith("classifier.")}
    path = tmp_path / "osnet_dataparallel_noclassifier.pth"
    torch.save({"state_dict": stripped, "epoch": 1}, path)
    embedder = build_reid_embedder(ReidConfig(weights=str(path), backend="torch", cache_dir=str(tmp_path)))
    image, xyxy, _ = samples[0]
    reference = torch_features[0][:len(xyxy)]
    np.testing.assert_allclose(np.sum(embedder.embed(image, xyxy) * reference, axis=1), 1.0, atol=1e-5)


def test_missing_weights_error_names_the_key(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pt"
    with pytest.raises(ConfigError, match="reid.weights") as info:
        build_reid_embedder(ReidConfig(weights=str(missing), cache_dir=str(tmp_path)))
    assert str(missing) in str(info.value) and "--set reid.weights=" in str(info.value)
    with pytest.raises(ConfigError, match="reid.weights"):
        build_reid_embedder(ReidConfig(weights="not_a_zoo_model.pt", cache_dir=str(tmp_path)))


def test_model_zoo_name_is_not_downloaded_when_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(OFFLINE_ENV, "1")
    with pytest.raises(ConfigError, match="reid.weights") as info:
        build_reid_embedder(ReidConfig(weights="osnet_x0_25_msmt17.pt", cache_dir=str(tmp_path)))
    assert OFFLINE_ENV in str(info.value)
    assert not (tmp_path / "weights").exists() or not any((tmp_path / "weights").iterdir())


def test_weights_that_do_not_fit_the_model(reid_weights: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="reid.model_name") as info:
        build_reid_embedder(ReidConfig(weights=str(reid_weights), model_name="osnet_x1_0", backend="torch",
                                       cache_dir=str(tmp_path)))
    assert "reid.weights" in str(info.value)
    with pytest.raises(ConfigError, match="reid.model_name"):
        build_reid_embedder(ReidConfig(weights=str(reid_weights), model_name="no_such_net", backend="torch",
                                       cache_dir=str(tmp_path)))


def test_export_command_prints_the_paths(reid_weights: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from tracker.cli import main

    cache = tmp_path / "cli-cache"
    rc = main(["export", "--set", f"reid.weights={reid_weights}", "--set", f"reid.cache_dir={cache}",
               "--set", "reid.backend=openvino"])
    assert rc == 0
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.strip().splitlines())
    assert set(lines) == {"onnx", "openvino"}
    assert Path(lines["onnx"]).is_file() and Path(lines["openvino"]).is_file()
    assert Path(lines["onnx"]).parent == cache
    assert main(["export", "--set", f"reid.weights={tmp_path / 'missing.pt'}"]) == 2


# ---------------------------------------------------------------- prebuilt OpenVINO IR (Open Model Zoo) models
OMZ_MODELS = ("person-reidentification-retail-0277", "person-reidentification-retail-0287")


def _omz_dir(name: str) -> Path:
    path = MODELS / name
    if not path.is_dir():
        pytest.skip(f"{path} not found (see shared/models/MANIFEST.md)")
    return path


@pytest.mark.parametrize("name", OMZ_MODELS)
def test_ir_model_embeds_unit_vectors_that_separate_people(name: str, tmp_path: Path, samples: list) -> None:
    embedder = build_reid_embedder(ReidConfig(weights=str(_omz_dir(name)), cache_dir=str(tmp_path), num_threads=2))
    assert isinstance(embedder, Embedder) and embedder.dim == 256 and embedder.backend == "openvino-ir"
    assert embedder.model_id == name
    image, xyxy, ids = samples[3]
    assert len(np.unique(ids)) >= 3
    feats = embedder.embed(image, xyxy)
    assert feats.shape == (len(xyxy), 256) and feats.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)
    # the same crop mirrored is closer than any other person
    width = image.shape[1]
    mirrored_boxes = np.c_[width - xyxy[:, 2], xyxy[:, 1], width - xyxy[:, 0], xyxy[:, 3]]
    mirrored = embedder.embed(np.ascontiguousarray(image[:, ::-1]), mirrored_boxes)
    sim = feats @ mirrored.T
    assert np.all(np.diag(sim) > 0.9)
    other = ids[:, None] != ids[None, :]
    assert np.all(np.diag(sim)[:, None] > np.where(other, sim, -1.0))
    # one batch or one crop at a time: the same features
    single = np.concatenate([embedder.embed(image, xyxy[i:i + 1]) for i in range(len(xyxy))])
    np.testing.assert_allclose(np.sum(single * feats, axis=1), 1.0, atol=1e-4)


def test_ir_model_is_found_from_xml_or_folder_and_reads_its_input_size(tmp_path: Path) -> None:
    folder = _omz_dir(OMZ_MODELS[1])
    xml = folder / "FP16" / f"{OMZ_MODELS[1]}.xml"
    from tracker.models.reid.backends import build_runner

    for weights in (folder, xml):
        runner = build_runner(ReidConfig(weights=str(weights), cache_dir=str(tmp_path), input_height=64))
        assert (runner.input_height, runner.input_width) == (256, 128) and runner.dim == 256  # from the IR


def test_ir_model_missing_or_corrupt_files_are_config_errors(tmp_path: Path) -> None:
    folder = _omz_dir(OMZ_MODELS[1])
    xml = folder / "FP16" / f"{OMZ_MODELS[1]}.xml"
    lonely = tmp_path / "lonely" / "model.xml"
    lonely.parent.mkdir()
    lonely.write_bytes(xml.read_bytes())
    with pytest.raises(ConfigError, match="reid.weights.*model.bin"):
        build_reid_embedder(ReidConfig(weights=str(lonely), cache_dir=str(tmp_path)))
    broken = tmp_path / "broken" / "model.xml"
    broken.parent.mkdir()
    broken.write_text("<net>not a model")
    broken.with_suffix(".bin").write_bytes(b"\0" * 16)
    with pytest.raises(ConfigError, match="cannot read the OpenVINO IR"):
        build_reid_embedder(ReidConfig(weights=str(broken), cache_dir=str(tmp_path)))
    with pytest.raises(ConfigError, match="reid.weights"):
        build_reid_embedder(ReidConfig(weights=str(tmp_path / "nope.xml"), cache_dir=str(tmp_path)))


def test_omz_name_offline_without_cache_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OFFLINE_ENV, "1")
    with pytest.raises(ConfigError, match=f"{OFFLINE_ENV} forbids downloading"):
        build_reid_embedder(ReidConfig(weights=OMZ_MODELS[0], cache_dir=str(tmp_path)))


def test_omz_name_uses_the_cached_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OFFLINE_ENV, "1")
    source = _omz_dir(OMZ_MODELS[1]) / "FP16"
    cached = tmp_path / "weights" / OMZ_MODELS[1] / "FP16"
    cached.mkdir(parents=True)
    for suffix in (".xml", ".bin"):
        (cached / f"{OMZ_MODELS[1]}{suffix}").write_bytes((source / f"{OMZ_MODELS[1]}{suffix}").read_bytes())
    embedder = build_reid_embedder(ReidConfig(weights=OMZ_MODELS[1], cache_dir=str(tmp_path)))
    assert embedder.dim == 256 and embedder.model_id == OMZ_MODELS[1]
