"""Reshaping the fixed-size INT8 YOLO OpenVINO IRs in ../shared/models to other input sizes (tracker.models.yolo_ir)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tracker.config import DetectorConfig
from tracker.models.detector import UltralyticsDetector
from tracker.models.yolo_ir import IrReshapeError, anchor_points, reshape_yolo_ir

EXPORT_HW = (640, 640)


def _xml(model_dir: Path) -> Path:
    return next(model_dir.glob("*.xml"))


@pytest.fixture(scope="module", params=["yolo11n_int8_openvino_model", "yolov8n_int8_openvino_model"])
def ir_xml(request: pytest.FixtureRequest, shared_dir: Path) -> Path:
    return _xml(shared_dir / "models" / request.param)


def _run(xml: Path, hw: tuple[int, int] | None, blob: np.ndarray) -> np.ndarray:
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(xml))
    if hw is not None:
        reshape_yolo_ir(model, EXPORT_HW, hw)
    return core.compile_model(model, "CPU")(blob)[0]


def test_reshape_to_the_export_size_changes_nothing(ir_xml: Path) -> None:
    blob = np.random.default_rng(0).random((1, 3, *EXPORT_HW), dtype=np.float32)
    np.testing.assert_array_equal(_run(ir_xml, EXPORT_HW, blob), _run(ir_xml, None, blob))


def _strong_person_xyxy(out: np.ndarray, shift_xy: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Raw (1, 84, A) output -> (K, 4) xyxy of the candidates with person score > 0.5, shifted by shift_xy."""
    cand = out[0][:, out[0, 4] > 0.5]
    xy, wh = cand[:2].T + np.asarray(shift_xy, np.float32), cand[2:4].T
    return np.hstack([xy - wh / 2, xy + wh / 2])


def test_reshaped_ir_decodes_boxes_for_its_own_grid(ir_xml: Path) -> None:
    """bus.jpg (1080x810) fitted into 640x480 holds the same picture as the 640x640 letterbox minus the grey bands:
    the strong person candidates of both agree once shifted by the band (a wrong anchor grid would scatter them)."""
    import cv2
    from ultralytics.utils import ASSETS

    from tracker.core.boxes import iou_matrix
    from tracker.models.detector import letterbox_blob

    image = cv2.imread(str(ASSETS / "bus.jpg"))
    fitted, _, pad_fit = letterbox_blob(image, EXPORT_HW, 32, auto=True)
    square, _, pad_sq = letterbox_blob(image, EXPORT_HW, 32, auto=False)
    hw_fit = fitted.shape[2:]
    assert hw_fit != EXPORT_HW
    out = _run(ir_xml, hw_fit, fitted)
    assert out.shape == (1, 84, anchor_points(hw_fit)[0].shape[1])
    shifted = _strong_person_xyxy(out, (pad_sq[0] - pad_fit[0], pad_sq[1] - pad_fit[1]))
    reference = _strong_person_xyxy(_run(ir_xml, None, square))
    assert len(reference) >= 3 and len(shifted) >= 3
    iou = iou_matrix(reference, shifted)
    assert iou.max(axis=1).min() > 0.9  # every square-input candidate is there
    assert np.mean(iou.max(axis=0) > 0.9) >= 0.9  # and next to nothing else (scores near 0.5 may cross it)


@pytest.mark.parametrize("hw", [(480, 640), (640, 512), (288, 640)])
def test_reshaped_ir_runs_at_other_sizes(ir_xml: Path, hw: tuple[int, int]) -> None:
    assert _run(ir_xml, hw, np.zeros((1, 3, *hw), np.float32)).shape == (1, 84, anchor_points(hw)[0].shape[1])


def test_sizes_that_are_not_stride_multiples_are_refused(ir_xml: Path) -> None:
    import openvino as ov

    with pytest.raises(IrReshapeError, match="stride"):
        reshape_yolo_ir(ov.Core().read_model(str(ir_xml)), EXPORT_HW, (480, 650))


def test_anchor_points_match_the_export() -> None:
    points, strides = anchor_points(EXPORT_HW)
    assert points.shape == (2, 8400) and strides.shape == (8400,)
    assert points[:, 0].tolist() == [0.5, 0.5] and strides[0] == 8 and strides[-1] == 32


@pytest.mark.parametrize(("frame_hw", "input_hw"), [((576, 768), (480, 640)), ((576, 448), (640, 512)),
                                                    ((640, 640), (640, 640))])
def test_detector_input_follows_the_frame(detector_weights: Path, frame_hw: tuple[int, int],
                                          input_hw: tuple[int, int]) -> None:
    fitted = UltralyticsDetector(DetectorConfig(weights=str(detector_weights)))
    fitted.detect(np.full((*frame_hw, 3), 114, np.uint8))
    assert fitted.info.fits_frame and fitted.input_hw == input_hw
    square = UltralyticsDetector(DetectorConfig(weights=str(detector_weights), input_shape="export"))
    square.detect(np.full((*frame_hw, 3), 114, np.uint8))
    assert not square.info.fits_frame and square.input_hw == (640, 640)
