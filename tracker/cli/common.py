"""Arguments shared by several subcommands."""

from __future__ import annotations

import argparse

from tracker.config import Config, load_config

__all__ = ["add_config_args", "config_from_args"]


def add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="YAML config (defaults: config/default.yaml values)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set detector.weights=PATH (repeatable)")


def config_from_args(args: argparse.Namespace, extra: list[str] | None = None) -> Config:
    """Load the config named by --config with --set overrides (then ``extra`` overrides) applied."""
    return load_config(args.config, list(args.set) + list(extra or []))
