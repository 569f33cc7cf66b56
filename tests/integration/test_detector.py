"""The Ultralytics person detector on real frames of the dev video with the real INT8 OpenVINO model."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import read_frames
from scipy.optimize import linear_sum_assignment

from tracker.config import ConfigError, DetectorConfig
from tracker.core.detections import Detections
from tracker.core.protocols import Detector, StreamingDetector
from tracker.models.detector import (
    UltralyticsDetector,
    detector_streams,
    filter_min_size_xyxy,
    letterbox_blob,
    resolve_detector_weights,
    unletterbox_xyxy,
)

FRAMES = (1, 80, 160, 240, 320)
IOU_MATCH = 0.5
MIN_RECALL = 0.8


def _iou_matrix(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """(N, 4), (M, 4) -> (N, M) IoU."""
    lt = np.maximum(a_xyxy[:, None, :2], b_xyxy[None, :, :2])
    rb = np.minimum(a_xyxy[:, None, 2:], b_xyxy[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a_xyxy[:, 2:] - a_xyxy[:, :2], axis=1)
    area_b = np.prod(b_xyxy[:, 2:] - b_xyxy[:, :2], axis=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def _true_positives(gt_xyxy: np.ndarray, pred_xyxy: np.ndarray) -> int:
    if len(gt_xyxy) == 0 or len(pred_xyxy) == 0:
        return 0
    iou = _iou_matrix(gt_xyxy, pred_xyxy)
    rows, cols = linear_sum_assignment(-iou)
    return int(np.sum(iou[rows, cols] >= IOU_MATCH))


@pytest.fixture(scope="module")
def detector(detector_weights: Path) -> UltralyticsDetector:
    return UltralyticsDetector(DetectorConfig(weights=str(detector_weights)))


@pytest.fixture(scope="module")
def frames_and_gt(dev_dir: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    cam = dev_dir / "full" / "cam1"
    gt = np.loadtxt(cam / "gt.txt", delimiter=",", ndmin=2)
    by_index = read_frames(cam / "video.mp4", FRAMES)
    out = []
    for index in FRAMES:
        rows = gt[gt[:, 0] == index]
        out.append((by_index[index], np.c_[rows[:, 2:4], rows[:, 2:4] + rows[:, 4:6]].astype(np.float32)))
    return out


def test_implements_detector_protocol_and_reports_its_model(detector: UltralyticsDetector) -> None:
    assert isinstance(detector, Detector)
    assert detector.info.backend_format == "openvino"
    assert detector.info.fixed_input_size and detector.info.imgsz == (640, 640)
    assert "yolo11n" in str(detector.info) and "640x640" in str(detector.info)


def test_recall_against_ground_truth(detector: UltralyticsDetector,
                                     frames_and_gt: list[tuple[np.ndarray, np.ndarray]]) -> None:
    matched = total = 0
    for image, gt_xyxy in frames_and_gt:
        dets = detector.detect(image)
        assert isinstance(dets, Detections)
        assert dets.xyxy.dtype == np.float32 and dets.xyxy.shape == (len(dets), 4)
        assert np.all((dets.confidence >= DetectorConfig().conf_threshold) & (dets.confidence <= 1))
        assert np.all(np.diff(dets.confidence) <= 0), "detections should be sorted by score"
        assert np.all(dets.xyxy[:, [0, 1]] >= 0) and np.all(dets.xyxy[:, 2] <= image.shape[1])
        assert np.all(dets.xyxy[:, 3] <= image.shape[0])
        matched += _true_positives(gt_xyxy, dets.xyxy)
        total += len(gt_xyxy)
    assert total > 20
    recall = matched / total
    assert recall >= MIN_RECALL, f"recall {recall:.3f} at IoU {IOU_MATCH} over {total} gt boxes"


@pytest.fixture(scope="module")
def export_shape_detector(detector_weights: Path) -> UltralyticsDetector:
    return UltralyticsDetector(DetectorConfig(weights=str(detector_weights), input_shape="export"))


def test_fast_path_equals_ultralytics_predict(export_shape_detector: UltralyticsDetector,
                                              frames_and_gt: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """At the export's own input size the lean path gives Ultralytics' boxes exactly."""
    detector = export_shape_detector
    assert not detector.info.fits_frame
    for image, _ in frames_and_gt[:3]:
        for view in (image, image[40:333, 17:700]):  # odd sizes exercise the letterbox rounding
            fast, reference = detector.detect(view), detector.predict_reference(view)
            assert len(fast) == len(reference) > 0
            np.testing.assert_allclose(fast.xyxy, reference.xyxy, atol=1e-3)
            np.testing.assert_allclose(fast.confidence, reference.confidence, atol=1e-5)


def test_frame_fitted_input_finds_the_same_people(detector: UltralyticsDetector,
                                                   export_shape_detector: UltralyticsDetector,
                                                   frames_and_gt: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """input_shape auto reshapes the 640x640 IR to the frame's aspect (640x480 here): same people, boxes within a
    few pixels of the square input's."""
    assert detector.info.fits_frame
    for image, _ in frames_and_gt[:3]:
        fitted, square = detector.detect(image), export_shape_detector.detect(image)
        strong_f, strong_s = fitted.xyxy[fitted.confidence >= 0.5], square.xyxy[square.confidence >= 0.5]
        assert len(strong_s) > 0 and abs(len(strong_f) - len(strong_s)) <= 1
        assert _true_positives(strong_s, strong_f) >= len(strong_s) - 1


def test_letterbox_round_trip() -> None:
    image = np.zeros((283, 701, 3), np.uint8)
    blob, gain_xy, pad_xy = letterbox_blob(image, (640, 640), 32, auto=False)
    assert blob.shape == (1, 3, 640, 640) and blob.dtype == np.float32
    boxes = np.array([[10.0, 20.0, 300.0, 250.0]], np.float32)
    net = boxes.copy()
    net[:, [0, 2]] = net[:, [0, 2]] * gain_xy[0] + pad_xy[0]
    net[:, [1, 3]] = net[:, [1, 3]] * gain_xy[1] + pad_xy[1]
    np.testing.assert_allclose(unletterbox_xyxy(net, gain_xy, pad_xy, image.shape[:2]), boxes, atol=1e-3)
    auto_blob, _, _ = letterbox_blob(image, (640, 640), 32, auto=True)
    assert auto_blob.shape[2] % 32 == 0 and auto_blob.shape[2] < 640


def test_only_person_boxes(detector: UltralyticsDetector, export_shape_detector: UltralyticsDetector) -> None:
    from ultralytics.utils import ASSETS

    image = cv2.imread(str(ASSETS / "bus.jpg"))
    assert image is not None
    # all 80 classes, through plain Ultralytics at the export's own input size
    (everything,) = export_shape_detector._model.predict(image, conf=0.25, verbose=False)
    classes = everything.boxes.cls.numpy().astype(int)
    others = everything.boxes.xyxy.numpy()[classes != 0]
    people = everything.boxes.xyxy.numpy()[classes == 0]
    assert len(others) >= 1 and len(people) >= 3, "bus.jpg should show a bus and several people"
    dets = detector.detect(image)
    matched_people = _true_positives(people, dets.xyxy)
    assert matched_people == len(people)
    best_iou_to_other = _iou_matrix(others, dets.xyxy).max(axis=1)
    assert np.all(best_iou_to_other < 0.9), "a non-person object was returned as a detection"


def test_min_size_filter(detector_weights: Path, frames_and_gt: list[tuple[np.ndarray, np.ndarray]]) -> None:
    image = frames_and_gt[0][0]
    loose = UltralyticsDetector(DetectorConfig(weights=str(detector_weights), min_box_height_px=0.0,
                                               min_box_width_px=0.0)).detect(image)
    heights = loose.xyxy[:, 3] - loose.xyxy[:, 1]
    cut = float(np.median(heights))
    strict = UltralyticsDetector(DetectorConfig(weights=str(detector_weights), min_box_height_px=cut,
                                                min_box_width_px=0.0)).detect(image)
    assert 0 < len(strict) < len(loose)
    assert np.all(strict.xyxy[:, 3] - strict.xyxy[:, 1] >= cut)
    assert len(strict) == int(np.sum(heights >= cut))


def test_filter_min_size_xyxy() -> None:
    boxes = np.array([[0, 0, 10, 30], [0, 0, 3, 30], [0, 0, 10, 7], [5, 5, 9, 13]], np.float32)
    np.testing.assert_array_equal(filter_min_size_xyxy(boxes, 4.0, 8.0), [True, False, False, True])


def test_blank_frame_gives_empty_detections(detector: UltralyticsDetector) -> None:
    dets = detector.detect(np.zeros((480, 640, 3), np.uint8))
    assert len(dets) == 0 and dets.xyxy.shape == (0, 4) and dets.confidence.shape == (0,)


def test_missing_weights_error_names_the_key(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_model_openvino_model"
    with pytest.raises(ConfigError) as info:
        UltralyticsDetector(DetectorConfig(weights=str(missing)))
    message = str(info.value)
    assert "detector.weights" in message and str(missing) in message
    assert "--set detector.weights=" in message


def test_bare_official_name_is_left_to_ultralytics_and_fails_clearly_offline(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)  # Ultralytics looks for (and would download to) the working directory
    from ultralytics.utils import SETTINGS

    name = "yolo11n.pt"
    if (Path(SETTINGS["weights_dir"]) / name).exists():
        pytest.skip(f"{name} is already in Ultralytics' weights_dir, so nothing would be downloaded")
    assert resolve_detector_weights(name) == name
    with pytest.raises(ConfigError) as info:
        UltralyticsDetector(DetectorConfig(weights=name))
    assert "detector.weights" in str(info.value) and "--set detector.weights=" in str(info.value)


def test_a_file_that_is_not_a_detector_is_a_config_error(reid_weights: Path, tmp_path: Path) -> None:
    for weights in (reid_weights, tmp_path):  # a Re-ID state dict; an empty folder
        with pytest.raises(ConfigError, match="detector.weights"):
            UltralyticsDetector(DetectorConfig(weights=str(weights)))


def test_openvino_thread_count_applies_to_every_input_size_and_threads_are_not_pinned(
        detector_weights: Path, frames_and_gt: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """detector.num_threads reaches OpenVINO for the export size and for each size the IR is reshaped to; the
    threads are not pinned to cores (camera processes on one machine would all pin to the same cores)."""
    det = UltralyticsDetector(DetectorConfig(weights=str(detector_weights), num_threads=1))
    backend = det._predictor.model.backend

    def compiled_properties() -> tuple[int, bool]:
        compiled = backend.ov_compiled_model
        return int(compiled.get_property("INFERENCE_NUM_THREADS")), bool(compiled.get_property("ENABLE_CPU_PINNING"))

    assert compiled_properties() == (1, False)  # the export size (640x640)
    det.detect(frames_and_gt[0][0])  # a 768x576 frame: the IR is reshaped to 480x640
    assert det.input_hw == (480, 640)
    assert compiled_properties() == (1, False)


def test_streams_resolve_from_the_thread_count() -> None:
    assert detector_streams(DetectorConfig(streams=3)) == 3
    assert detector_streams(DetectorConfig(num_threads=1)) == 1  # e.g. one of 4 camera processes on 2 cores
    assert detector_streams(DetectorConfig(num_threads=2)) == 2
    assert detector_streams(DetectorConfig(num_threads=0), cpu_count=1) == 1
    assert detector_streams(DetectorConfig(num_threads=0), cpu_count=16) == 2


def test_streams_detect_several_frames_at_once_with_the_same_boxes(
        detector_weights: Path, frames_and_gt: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """With 2 OpenVINO streams, ``start`` keeps up to 3 frames pending (2 running, 1 queued) and each gives exactly
    what ``detect`` gives for it; the streaming copy is compiled with 2 streams sharing num_threads, unpinned."""
    det = UltralyticsDetector(DetectorConfig(weights=str(detector_weights), streams=2, num_threads=2))
    assert isinstance(det, StreamingDetector) and det.max_in_flight == 3 and "2 streams" in str(det.info)
    images = [image for image, _ in frames_and_gt]
    expected = [det.detect(image) for image in images]
    pending = [det.start(image) for image in images[:det.max_in_flight]]
    got = [p.result() for p in pending] + [det.start(image).result() for image in images[det.max_in_flight:]]
    for want, have in zip(expected, got):
        assert len(want) > 0
        np.testing.assert_array_equal(have.xyxy, want.xyxy)
        np.testing.assert_array_equal(have.confidence, want.confidence)
    request = det._ir_inputs.take_stream_request(*det.input_hw)
    compiled = request.get_compiled_model()
    det._ir_inputs.give_back(request, *det.input_hw)
    assert int(compiled.get_property("NUM_STREAMS")) == 2
    assert int(compiled.get_property("INFERENCE_NUM_THREADS")) == 2
    assert not bool(compiled.get_property("ENABLE_CPU_PINNING"))


def test_starting_more_frames_than_the_streams_hold_is_a_clear_error(
        detector_weights: Path, frames_and_gt: list[tuple[np.ndarray, np.ndarray]]) -> None:
    det = UltralyticsDetector(DetectorConfig(weights=str(detector_weights), streams=2, num_threads=2))
    image = frames_and_gt[0][0]
    pending = [det.start(image) for _ in range(det.max_in_flight)]
    with pytest.raises(RuntimeError, match="already pending.*take a result"):
        det.start(image)
    assert all(len(p.result()) > 0 for p in pending)
    assert len(det.start(image).result()) > 0  # results taken: its requests are free again


def test_one_stream_detects_in_start(detector_weights: Path,
                                     frames_and_gt: list[tuple[np.ndarray, np.ndarray]]) -> None:
    det = UltralyticsDetector(DetectorConfig(weights=str(detector_weights), streams=1))
    assert det.max_in_flight == 1 and "streams" not in str(det.info)
    image = frames_and_gt[0][0]
    np.testing.assert_array_equal(det.start(image).result().xyxy, det.detect(image).xyxy)
