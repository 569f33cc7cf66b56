"""The ``mctrack`` command line. Each subcommand lives in its own module with ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main"]

# (module, subcommand) in help order; each module defines register(subparsers) that sets func=run(args)->int.
_SUBCOMMANDS = [
    "replay",
    "eval",
    "bench",
    "export",
    "reid_select",
    "run",
    "worker",
    "hub",
    "query",
    "hub_bench",
    "status",
    "soak",
    "config",
    "calibrate",
    "ui",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mctrack",
        description="Multi-camera person tracking with one global identity per person (see README.md).",
    )
    parser.add_argument("--log-level", default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="override logging.level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _SUBCOMMANDS:
        try:
            module = importlib.import_module(f"tracker.cli.{name}_cmd")
        except ModuleNotFoundError as exc:
            if exc.name == f"tracker.cli.{name}_cmd":
                continue  # subcommand not built in this version
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from streams.base import SourceError
    from tracker.config import ConfigError
    from tracker.telemetry.logs import setup_logging

    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level or "INFO")
    try:
        return int(args.func(args) or 0)
    except (ConfigError, SourceError, FileNotFoundError) as exc:
        print(f"mctrack: error: {exc}", file=sys.stderr)  # once, plainly: not also as a log line
        return 2
    except KeyboardInterrupt:
        print("mctrack: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
