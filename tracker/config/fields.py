"""Config fields: dataclass fields that carry a description and an optional numeric range.

Every section (``tracker/config/<component>.py``) declares its keys with :func:`_f`; the loader checks values
against the range and ``mctrack config --defaults`` prints the description and range above each key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Any, Protocol, runtime_checkable

__all__ = ["_f", "describe_range", "CrossChecked"]


def _f(default: Any, help: str, *, lo: float | None = None, hi: float | None = None,
       lo_open: bool = False, hi_open: bool = False, factory: Any = None) -> Any:
    """A dataclass field with a description and an optional numeric range (lo/hi bounds, open or closed)."""
    meta = {"help": help, "lo": lo, "hi": hi, "lo_open": lo_open, "hi_open": hi_open}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def describe_range(meta: Mapping[str, Any], name: str) -> str | None:
    """A field's allowed range written around ``name``, e.g. ``0 < x <= 1``; None when it has no bounds."""
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is None and hi is None:
        return None
    left = "" if lo is None else f"{lo:g} {'<' if meta.get('lo_open') else '<='} "
    right = "" if hi is None else f" {'<' if meta.get('hi_open') else '<='} {hi:g}"
    return f"{left}{name}{right}"


@runtime_checkable
class CrossChecked(Protocol):
    """A section with rules across its keys; the loader calls ``check`` once the section is built."""

    def check(self, key: str) -> None:
        """Raise ConfigError naming ``key`` (the section's dotted key, e.g. ``tracker``) if the values clash."""
        ...
