"""``mctrack config``: print the commented defaults, or validate a config file and print the result."""

from __future__ import annotations

import argparse

import yaml

from tracker.config import config_to_dict, load_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="print the default config, or validate a config file")
    p.add_argument("--defaults", action="store_true", help="print config/default.yaml (commented defaults)")
    p.add_argument("--config", help="YAML config file to validate")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a key")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.defaults:
        from tracker.config.render import render_default_yaml

        print(render_default_yaml(), end="")
        return 0
    cfg = load_config(args.config, args.set)
    print(yaml.safe_dump(config_to_dict(cfg), sort_keys=False), end="")
    return 0
