"""OpenVINO Re-ID inference on static batch shapes.

On CPU a model compiled for a fixed input shape runs 15-25% faster per crop than the same model compiled for a
dynamic batch (OMZ person-reidentification-retail-0287, bf16, 1 thread, AMD EPYC AVX-512: 6.3 against 8.0 ms at
batch 1, 5.3 against 7.1 at 2, 4.9 against 5.4 at 4; docs/benchmarks.md). Re-ID calls carry a few crops each
(Re-ID on demand embeds one to three crops per frame), so the model is compiled once per batch size in
``STATIC_BATCH_SIZES`` and a call of B crops runs as chunks of the largest sizes that fit (7 = 4 + 2 + 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import openvino as ov

__all__ = ["STATIC_BATCH_SIZES", "StaticBatchModel", "batch_chunks"]

#: Batch sizes compiled (each costs about 0.6 s at start-up and a copy of the model's compiled weights).
STATIC_BATCH_SIZES = (1, 2, 4)


def batch_chunks(count: int, sizes: Sequence[int]) -> list[int]:
    """Chunk sizes, largest first, that add up to ``count`` using only ``sizes`` (which must contain 1)."""
    out: list[int] = []
    remaining = count
    for size in sorted(sizes, reverse=True):
        while remaining >= size:
            out.append(size)
            remaining -= size
    return out


class StaticBatchModel:
    """One compiled model and infer request per batch size; ``__call__``: (B, C, H, W) float32 -> (B, D) float32.

    Not thread-safe (one infer request per size), like the runners that hold it.
    """

    def __init__(self, core: ov.Core, model: ov.Model, device: str, config: dict[str, object],
                 sizes: Sequence[int] = STATIC_BATCH_SIZES) -> None:
        """
        Args:
            core: the OpenVINO core. model: the read model (NCHW input of any batch; channels, height and width
                fixed). device: "CPU" or "GPU". config: compile properties (precision hint, threads ...).
            sizes: batch sizes to compile; must contain 1.
        """
        import openvino as ov

        if 1 not in sizes:
            raise ValueError(f"static batch sizes must include 1, got {tuple(sizes)}")
        shape = model.input(0).get_partial_shape()
        channels, height, width = (int(shape[i].get_length()) for i in (1, 2, 3))
        self.sizes = tuple(sorted(set(sizes)))
        self._requests: dict[int, ov.InferRequest] = {}
        self._outputs: dict[int, ov.Output] = {}
        for size in self.sizes:
            sized = model.clone()
            sized.reshape({sized.input(0): ov.PartialShape([size, channels, height, width])})
            compiled = core.compile_model(sized, device, config)
            self._requests[size] = compiled.create_infer_request()
            self._outputs[size] = compiled.output(0)

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        parts: list[np.ndarray] = []
        start = 0
        for size in batch_chunks(len(blob), self.sizes):
            result = self._requests[size].infer({0: blob[start:start + size]})
            parts.append(np.array(result[self._outputs[size]], dtype=np.float32, copy=True).reshape(size, -1))
            start += size
        if not parts:
            raise ValueError("StaticBatchModel needs at least one crop")
        return parts[0] if len(parts) == 1 else np.concatenate(parts)
