"""``mctrack export``: make the cached Re-ID ONNX export (and OpenVINO IR when reid.backend is openvino or auto)."""

from __future__ import annotations

import argparse

from tracker.cli.common import add_config_args, config_from_args

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="export the Re-ID model to ONNX / OpenVINO IR into reid.cache_dir and print the paths",
        description="Export the torchreid Re-ID weights to ONNX (dynamic batch) and, when reid.backend is "
                    "openvino or auto, to OpenVINO IR. The files are cached in reid.cache_dir, keyed by the weights' "
                    "sha256, the model name and the input size; an existing export is reused.")
    add_config_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tracker.models.reid.export import export_onnx, export_openvino

    cfg = config_from_args(args).reid
    print(f"onnx: {export_onnx(cfg)}")
    if cfg.backend in ("openvino", "auto"):  # auto may choose OpenVINO
        print(f"openvino: {export_openvino(cfg)}")
    return 0
