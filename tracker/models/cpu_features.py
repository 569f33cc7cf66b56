"""What this CPU can do for inference: its model name and the ISA extensions that decide the fast Re-ID path.

Pure parsing of Linux ``/proc/cpuinfo`` text (:func:`parse_cpuinfo`); :func:`read_cpu_features` reads the file,
falling back to :mod:`platform` where there is none. The flags that matter:

- ``avx2``/``fma``: the baseline for f32 kernels;
- ``avx512f`` (and ``avx512bw``/``avx512vl``): wider f32 and int8 kernels;
- ``avx512_vnni`` / ``avx_vnni``: int8 dot products in one instruction (INT8 pays off; without them it gave nothing,
  docs/benchmarks.md "Why the ratio stays near 0.85");
- ``avx512_bf16``: bf16 dot products; ``amx_tile``/``amx_bf16``/``amx_int8``: Intel AMX tile units (bf16 and int8
  matrix multiplies several times faster than AVX-512).
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CpuFeatures", "INFERENCE_FLAGS", "parse_cpuinfo", "read_cpu_features"]

#: The ISA flags reported by ``mctrack bench`` and used for the Re-ID path choice, in this order.
INFERENCE_FLAGS: tuple[str, ...] = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni",
                                    "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")

_CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class CpuFeatures:
    """model: the CPU's name; flags: the :data:`INFERENCE_FLAGS` it has (in that order); logical_cpus: CPUs this
    process may run on."""

    model: str
    flags: tuple[str, ...]
    logical_cpus: int

    def has(self, flag: str) -> bool:
        return flag in self.flags

    @property
    def int8_dot(self) -> bool:
        """Hardware int8 dot products (VNNI or AMX): INT8 inference can beat f32."""
        return any(self.has(f) for f in ("avx512_vnni", "avx_vnni", "amx_int8"))

    @property
    def bf16(self) -> bool:
        """Hardware bf16 arithmetic (AVX512_BF16 or AMX-BF16): bf16 inference can beat f32."""
        return self.has("avx512_bf16") or self.has("amx_bf16")

    @property
    def amx(self) -> bool:
        return self.has("amx_tile")

    def key(self) -> str:
        """Identifies the machine kind for cached per-machine choices: model, flags and CPU count."""
        return f"{self.model}|{','.join(self.flags)}|{self.logical_cpus}"


def parse_cpuinfo(text: str, logical_cpus: int = 0) -> CpuFeatures:
    """Parse ``/proc/cpuinfo`` text (x86 ``model name``/``flags`` lines; the first processor's).

    Args:
        text: the file's content.
        logical_cpus: CPUs usable by this process; 0 = count the ``processor`` entries in ``text``.
    Returns:
        the CPU's model (``"unknown"`` when the text has none) and which :data:`INFERENCE_FLAGS` it lists.
    """
    model = ""
    found: set[str] = set()
    processors = 0
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if key == "processor":
            processors += 1
        elif key in ("model name", "cpu model", "hardware") and not model:
            model = " ".join(value.split())
        elif key in ("flags", "features") and not found:
            found = set(value.split())
    flags = tuple(f for f in INFERENCE_FLAGS if f in found)
    return CpuFeatures(model=model or "unknown", flags=flags, logical_cpus=logical_cpus or max(processors, 1))


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def read_cpu_features(path: Path = _CPUINFO) -> CpuFeatures:
    """This machine's :class:`CpuFeatures` (``/proc/cpuinfo``; elsewhere the :mod:`platform` name and no flags)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return CpuFeatures(model=platform.processor() or platform.machine() or "unknown", flags=(),
                           logical_cpus=_usable_cpus())
    return parse_cpuinfo(text, _usable_cpus())
