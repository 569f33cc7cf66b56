"""Reshape a fixed-size Ultralytics YOLO OpenVINO IR to another input size (e.g. 640x480 for a 4:3 camera).

A static Ultralytics export bakes its input size into a few constants, so ``ov.Model.reshape`` alone fails:

- Reshape target shapes that name the feature-map grid: YOLO11's attention block (C2PSA) views the 20 x 20 map of
  a 640x640 input as ``[1, 2, 128, 400]`` and back as ``[1, 128, 20, 20]``; the DFL head uses ``[1, 4, 16, 8400]``.
- The detect head's anchor points ``(1, 2, A)`` (cell centres x, y in grid units) and strides ``(1, 1, A)``, A = 8400
  anchors for 640x640 at strides 8, 16, 32.

:func:`reshape_yolo_ir` rewrites those for the new size, then sets the input shape; OpenVINO infers every other
shape. The anchors and strides are first checked against the values Ultralytics computes for the export size
(``make_anchors``), so an IR laid out differently is refused with :class:`IrReshapeError` instead of being decoded
wrongly. The network's weights and quantisation are untouched: only the spatial extent changes.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import numpy as np

__all__ = ["DETECT_STRIDES", "IrModel", "IrReshapeError", "anchor_points", "reshape_yolo_ir"]

logger = logging.getLogger(__name__)

#: Strides of the YOLO detect head's three levels (P3, P4, P5).
DETECT_STRIDES = (8, 16, 32)
_ANCHOR_OFFSET = 0.5  # anchor points are cell centres (Ultralytics' make_anchors grid_cell_offset)


class IrModel(Protocol):
    """The calls :func:`reshape_yolo_ir` makes on an ``openvino.Model``. OpenVINO ships .pyi stubs but no
    ``py.typed`` marker, so mypy does not read them: its nodes stay ``Any`` here."""

    def get_ordered_ops(self) -> list[Any]:
        """The graph's nodes (``openvino.Node``) in topological order."""
        ...

    def get_parameters(self) -> list[Any]:
        """The model's inputs (``openvino.op.Parameter``)."""
        ...

    def validate_nodes_and_infer_types(self) -> None:
        """Re-infer every node's output shape and type (raises RuntimeError when they do not fit)."""
        ...


class IrReshapeError(ValueError):
    """The IR is not a fixed-size Ultralytics YOLO detect export this module knows how to reshape."""


def anchor_points(hw: tuple[int, int], strides: tuple[int, ...] = DETECT_STRIDES) -> tuple[np.ndarray, np.ndarray]:
    """Ultralytics' anchors for an (h, w) input: points (2, A) float32 (x, y cell centres in grid units, level by
    level, row-major) and strides (A,) float32."""
    points, level_strides = [], []
    for stride in strides:
        grid_h, grid_w = hw[0] // stride, hw[1] // stride
        ys, xs = np.meshgrid(np.arange(grid_h) + _ANCHOR_OFFSET, np.arange(grid_w) + _ANCHOR_OFFSET, indexing="ij")
        points.append(np.stack([xs.ravel(), ys.ravel()]))
        level_strides.append(np.full(grid_h * grid_w, float(stride)))
    return np.concatenate(points, axis=1).astype(np.float32), np.concatenate(level_strides).astype(np.float32)


def reshape_yolo_ir(model: IrModel, export_hw: tuple[int, int], new_hw: tuple[int, int],
                    strides: tuple[int, ...] = DETECT_STRIDES) -> int:
    """Make ``model`` (an ``openvino.Model`` read from a fixed-size YOLO detect IR exported at ``export_hw``) take a
    ``(1, 3, *new_hw)`` input, in place. Returns how many constants were rewritten.

    Raises:
        IrReshapeError: ``new_hw`` is not a multiple of the largest stride, or the IR's anchors/strides are not
            the expected ones.
    """
    import openvino as ov
    import openvino.opset13 as opset

    step = max(strides)
    if new_hw[0] % step or new_hw[1] % step or min(new_hw) <= 0:
        raise IrReshapeError(f"input {new_hw[0]}x{new_hw[1]} is not a positive multiple of the stride {step}")
    old_points, old_strides = anchor_points(export_hw, strides)
    new_points, new_strides = anchor_points(new_hw, strides)
    old_anchors = old_points.shape[1]
    grids = {(export_hw[0] // s, export_hw[1] // s): (new_hw[0] // s, new_hw[1] // s) for s in strides}
    counts = {(export_hw[0] // s) * (export_hw[1] // s): (new_hw[0] // s) * (new_hw[1] // s) for s in strides}
    counts[old_anchors] = new_points.shape[1]
    rewritten = 0
    found_anchors = found_strides = False
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind == "Reshape":
            source = op.input_value(1).get_node()
            if source.get_type_name() != "Constant":
                continue
            old = source.get_data()
            shape = [int(v) for v in old.tolist()]
            new = list(shape)
            last_two = (new[-2], new[-1]) if len(new) >= 2 else None
            if last_two is not None and last_two in grids:  # [..., grid_h, grid_w]
                new[-2:] = grids[last_two]
            elif new and new[-1] in counts:  # [..., cells of one level] or [..., all anchors]
                new[-1] = counts[new[-1]]
            if new != shape:
                op.input(1).replace_source_output(opset.constant(np.array(new, dtype=old.dtype)).output(0))
                rewritten += 1
        elif kind == "Constant":
            shape = list(op.get_output_shape(0))
            if len(shape) != 3 or shape[0] != 1 or shape[2] != old_anchors or shape[1] not in (1, 2):
                continue
            value = op.get_data()
            expected, replacement = ((old_points, new_points) if shape[1] == 2
                                     else (old_strides[None], new_strides[None]))
            if not np.array_equal(value[0], expected):
                raise IrReshapeError(f"constant {op.get_friendly_name()} {shape} is not Ultralytics' anchors/strides "
                                     f"for {export_hw[0]}x{export_hw[1]}")
            found_anchors |= shape[1] == 2
            found_strides |= shape[1] == 1
            constant = opset.constant(replacement[None].astype(value.dtype))
            for target in list(op.output(0).get_target_inputs()):
                target.replace_source_output(constant.output(0))
            rewritten += 1
    if not (found_anchors and found_strides):
        raise IrReshapeError("no anchor/stride constants found: not an Ultralytics YOLO detect export with a "
                             "built-in box decoder")
    parameter = model.get_parameters()[0]
    parameter.set_partial_shape(ov.PartialShape([1, 3, new_hw[0], new_hw[1]]))
    try:
        model.validate_nodes_and_infer_types()
    except RuntimeError as exc:
        raise IrReshapeError(f"the IR does not reshape to {new_hw[0]}x{new_hw[1]}: {exc}") from exc
    logger.debug("reshaped YOLO IR %dx%d -> %dx%d (%d constants rewritten)", *export_hw, *new_hw, rewritten)
    return rewritten
