"""What this CPU can do for inference: its model name and the ISA extensions that decide the fast Re-ID path.

Pure parsing of Linux ``/proc/cpuinfo`` text (:func:`parse_cpuinfo`); :func:`read_cpu_features` reads the file,
falling back to :mod:`platform` where there is none. The flags that matter:

- ``avx2``/``fma``: the baseline for f32 kernels;
- ``avx512f`` (and ``avx512bw``/``avx512vl``): wider f32 and int8 kernels;
- ``avx512_vnni`` / ``avx_vnni``: int8 dot products in one instruction (INT8 pays off; without them it gave nothing,
  docs/benchmarks.md "Why the ratio stays near 0.85");
- ``avx512_bf16``: bf16 dot products; ``amx_tile``/``amx_bf16``/``amx_int8``: Intel AMX tile units (bf16 and int8
  matrix multiplies several times faster than AVX-512).

oneDNN's ``ONEDNN_MAX_CPU_ISA`` environment variable (which OpenVINO's CPU plugin honours) caps the kernels to an
older instruction set, e.g. ``AVX2`` to see how an AVX-512 machine behaves as an AVX2-only one. The flags above that
cap are then dropped too (:func:`isa_cap_flags`), so the Re-ID path choice does not offer bf16 or int8 kernels the
engine will not run, and ``mctrack bench`` reports the cap. ONNX Runtime ignores the variable.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

from tracker.config import ConfigError

__all__ = ["CpuFeatures", "INFERENCE_FLAGS", "ISA_CAP_ENV", "isa_cap_flags", "parse_cpuinfo", "read_cpu_features"]

#: The ISA flags reported by ``mctrack bench`` and used for the Re-ID path choice, in this order.
INFERENCE_FLAGS: tuple[str, ...] = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni",
                                    "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")

_CPUINFO = Path("/proc/cpuinfo")

#: oneDNN's ISA cap (https://uxlfoundation.github.io/oneDNN/dev_guide_cpu_dispatcher_control.html).
ISA_CAP_ENV = "ONEDNN_MAX_CPU_ISA"
_AVX2 = ("avx2", "fma")
_AVX512 = (*_AVX2, "avx512f", "avx512bw", "avx512vl")
#: The :data:`INFERENCE_FLAGS` each oneDNN cap value allows (caps at or above AMX allow everything).
_CAP_FLAGS: dict[str, tuple[str, ...]] = {
    "SSE41": (), "AVX": (), "AVX2": _AVX2, "AVX2_VNNI": (*_AVX2, "avx_vnni"), "AVX2_VNNI_2": (*_AVX2, "avx_vnni"),
    "AVX512_CORE": _AVX512, "AVX512_CORE_VNNI": (*_AVX512, "avx512_vnni"),
    "AVX512_CORE_BF16": (*_AVX512, "avx512_vnni", "avx512_bf16"),
    "AVX512_CORE_FP16": (*_AVX512, "avx512_vnni", "avx512_bf16"),
}
_UNCAPPED = ("", "ALL", "DEFAULT")


@dataclass(frozen=True)
class CpuFeatures:
    """model: the CPU's name; flags: the :data:`INFERENCE_FLAGS` it has (in that order); logical_cpus: CPUs this
    process may run on."""

    model: str
    flags: tuple[str, ...]
    logical_cpus: int
    isa_cap: str = ""  # ONEDNN_MAX_CPU_ISA when set (``flags`` are then those the cap allows)

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
        return f"{self.model}|{','.join(self.flags)}|{self.logical_cpus}" + (f"|cap={self.isa_cap}" if self.isa_cap
                                                                               else "")


def isa_cap_flags(cap: str) -> tuple[str, ...] | None:
    """The :data:`INFERENCE_FLAGS` a ``ONEDNN_MAX_CPU_ISA`` value allows; None when it caps nothing (unset, ALL,
    DEFAULT, or an AMX / AVX10 level).

    Raises:
        ConfigError: a value oneDNN does not know.
    """
    name = cap.strip().upper()
    if name in _UNCAPPED or "AMX" in name or name.startswith("AVX10"):
        return None
    if name not in _CAP_FLAGS:
        raise ConfigError(f"{ISA_CAP_ENV}={cap!r} is not a oneDNN ISA level; use one of "
                         f"{', '.join(sorted(_CAP_FLAGS))}, an AMX or AVX10 level, or ALL")
    return _CAP_FLAGS[name]


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


def read_cpu_features(path: Path = _CPUINFO, isa_cap: str | None = None) -> CpuFeatures:
    """This machine's :class:`CpuFeatures` (``/proc/cpuinfo``; elsewhere the :mod:`platform` name and no flags),
    within the ISA cap (``isa_cap``; None: the ``ONEDNN_MAX_CPU_ISA`` environment variable).

    Raises:
        ConfigError: the cap is not a oneDNN ISA level (the message names the allowed ones).
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        cpu = CpuFeatures(model=platform.processor() or platform.machine() or "unknown", flags=(),
                          logical_cpus=_usable_cpus())
    else:
        cpu = parse_cpuinfo(text, _usable_cpus())
    cap = os.environ.get(ISA_CAP_ENV, "") if isa_cap is None else isa_cap
    allowed = isa_cap_flags(cap)
    if allowed is None:
        return cpu
    return CpuFeatures(cpu.model, tuple(f for f in cpu.flags if f in allowed), cpu.logical_cpus, cap.strip().upper())
