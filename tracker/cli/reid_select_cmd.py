"""``mctrack reid-select``: show (or measure again) this machine's Re-ID path choice (engine, precision, threads)."""

from __future__ import annotations

import argparse
import json

from tracker.cli.common import add_config_args, config_from_args

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reid-select", help="show this machine's Re-ID path choice (engine, precision, threads); --reselect measures "
                            "it again",
        description="With reid.backend / reid.precision auto, the Re-ID path is measured once per machine (CPU, "
                    "model, settings, library versions) and cached in reid.cache_dir. This prints the cached choice "
                    "(measuring it first when there is none) with every candidate's time per crop and cosine "
                    "agreement with f32 on reid.calibration_source's person crops.")
    add_config_args(parser)
    parser.add_argument("--reselect", action="store_true", help="measure again even if a choice is cached")
    parser.add_argument("--json", action="store_true", help="print the choice as one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tracker.models.cpu_features import read_cpu_features
    from tracker.models.reid.autoselect import resolve_reid_path

    cfg = config_from_args(args).reid
    cpu = read_cpu_features()
    choice = resolve_reid_path(cfg, reselect=args.reselect, cpu=cpu)
    if args.json:
        print(json.dumps({"cpu": {"model": cpu.model, "flags": list(cpu.flags), "logical_cpus": cpu.logical_cpus},
                          **choice.to_dict()}, indent=2))
        return 0
    print(f"cpu: {cpu.model} ({cpu.logical_cpus} CPUs; {' '.join(cpu.flags)})")
    print(f"re-id path: {choice.path.label} ({choice.source}: {choice.reason})")
    print(f"accuracy bound: cosine to f32 median >= {choice.bound.median_min}, p05 >= {choice.bound.p05_min}")
    for t in choice.trials:
        ms = "failed" if t.ms_per_crop is None else f"{t.ms_per_crop:.2f} ms/crop"
        a = t.agreement
        agree = f", cosine median {a.median:.4f} p05 {a.p05:.4f} min {a.min:.4f} ({a.crops} crops)" if a else ""
        print(f"  {t.path.label:<24} {ms}{agree}{' (' + t.error + ')' if t.error else ''}")
    return 0
