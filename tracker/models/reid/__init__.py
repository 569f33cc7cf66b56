"""Re-ID appearance features: torchreid weights run with torch, ONNX Runtime or OpenVINO.

Public API: :func:`build_reid_embedder` (an ``Embedder``), :func:`export_onnx` / :func:`export_openvino` (cached
exports, used by ``mctrack export``).
"""

from tracker.models.reid.embedder import ReidEmbedder, build_reid_embedder
from tracker.models.reid.export import (
           export_onnx,
           export_openvino,
           onnx_cache_path,
           openvino_cache_path,
)

__all__ = ["ReidEmbedder", "build_reid_embedder", "export_onnx", "export_openvino", "onnx_cache_path",
           "openvino_cache_path"]
