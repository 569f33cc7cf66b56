"""Loading the configuration: YAML, ``--set`` overrides, type and range validation.

Every tunable of mctrack is a field of a section dataclass (``tracker/config/<component>.py``) with its default,
a description and its allowed range. The YAML file (``config/default.yaml``) mirrors them; a test keeps the two in
sync. Validation errors name the key, what was given and what is allowed, e.g.::

    ConfigError: tracker.max_cosine_distance = 3.0 is out of range: allowed 0 <= value <= 2

Override any key from the command line with ``--set section.key=value`` (the value is parsed as YAML).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

from tracker.config.app import Config
from tracker.config.errors import ConfigError
from tracker.config.fields import CrossChecked, describe_range

__all__ = ["ConfigError", "load_config", "config_from_dict", "config_to_dict", "apply_overrides"]


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is list:
        return "a list"
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def _check_range(key: str, value: float, meta: Mapping[str, Any]) -> None:
    lo, hi = meta.get("lo"), meta.get("hi")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key} = {value} is not a finite number")
    bad = (lo is not None and (value <= lo if meta.get("lo_open") else value < lo)) or \
          (hi is not None and (value >= hi if meta.get("hi_open") else value > hi))
    if bad:
        raise ConfigError(f"{key} = {value!r} is out of range: allowed {describe_range(meta, 'value')}")


def _coerce(key: str, value: Any, tp: Any, meta: Mapping[str, Any]) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(typing.cast(type, tp), value, key)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be a list, got {type(value).__name__} {value!r}")
        return [_coerce(f"{key}[{i}]", v, item_tp, {}) for i, v in enumerate(value)]
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{key} = {value!r} is not allowed: use {_type_name(tp)}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        _check_range(key, value, meta)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        value = float(value)
        _check_range(key, value, meta)
        return value
    if tp is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported type {tp}")  # pragma: no cover - programming error


def _build(cls: type, data: Any, prefix: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        where = prefix or "the config file"
        raise ConfigError(f"{where} must be a mapping of keys to values, got {type(data).__name__} {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        full = f"{prefix}.{key}" if prefix else str(key)
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown key '{full}'{hint}; allowed keys here: {', '.join(fields)}")
        kwargs[key] = _coerce(full, value, hints[key], fields[key].metadata)
    obj = cls(**kwargs)
    if isinstance(obj, CrossChecked):
        obj.check(prefix)
    return obj


def config_from_dict(data: Any) -> Config:
    """Build and validate a :class:`Config` from plain data (as parsed from YAML)."""
    return _build(Config, data, "")


def config_to_dict(cfg: Any) -> Any:
    """A config (or one of its sections) as plain nested dicts and lists."""
    return dataclasses.asdict(cfg)


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected section.key=value, e.g. --set tracker.max_age_s=5")
    key, raw = item.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"--set {item!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {item!r}: value is not valid YAML ({exc})") from None
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides to raw config data (before validation)."""
    for item in overrides or []:
        parts, value = _parse_override(item)
        node = data
        for p in parts[:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"--set {item!r}: '{p}' is not a section")
            node = nxt
        node[parts[-1]] = value
    return data


def load_config(path: str | os.PathLike[str] | None = None, overrides: list[str] | None = None) -> Config:
    """Load a YAML config (or the built-in defaults when ``path`` is None), apply overrides, validate.

    Raises:
        ConfigError: unreadable file, invalid YAML, unknown key, wrong type or out-of-range value.
    """
    data: Any = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {str(p)!r} does not exist; pass an existing YAML file with --config "
                              f"(see config/default.yaml)")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {str(p)!r} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {str(p)!r} must hold a mapping of sections, got {type(data).__name__}")
    data = apply_overrides(data, overrides)
    return config_from_dict(data)
