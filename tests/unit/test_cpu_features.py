"""CPU model and ISA flags from /proc/cpuinfo text (pure parsing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracker.config import ConfigError
from tracker.models.cpu_features import INFERENCE_FLAGS, isa_cap_flags, parse_cpuinfo, read_cpu_features

_EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu vme sse sse2 avx fma avx2 avx512f avx512dq avx512bw avx512vl avx512_bf16 avx512vbmi avx512_vnni
bogomips\t: 5192.29

processor\t: 1
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu vme sse sse2 avx fma avx2 avx512f avx512dq avx512bw avx512vl avx512_bf16 avx512vbmi avx512_vnni
"""

_SAPPHIRE_RAPIDS = """processor	: 0
model name	: Intel(R) Xeon(R) Platinum 8480+
flags		: fpu avx2 fma avx512f avx512bw avx512vl avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8 avx_vnni
"""

_SKYLAKE_CLIENT = """processor	: 0
model name	: Intel(R) Core(TM) i7-6700 CPU @ 3.40GHz
flags		: fpu sse2 avx avx2 fma
processor	: 1
model name	: Intel(R) Core(TM) i7-6700 CPU @ 3.40GHz
flags		: fpu sse2 avx avx2 fma
processor	: 2
processor	: 3
"""


def test_epyc_with_avx512_vnni_and_bf16_but_no_amx() -> None:
    cpu = parse_cpuinfo(_EPYC)
    assert cpu.model == "AMD EPYC" and cpu.logical_cpus == 2
    assert cpu.flags == ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16")
    assert cpu.int8_dot and cpu.bf16 and not cpu.amx


def test_sapphire_rapids_has_amx_and_flags_come_in_a_fixed_order() -> None:
    cpu = parse_cpuinfo(_SAPPHIRE_RAPIDS, logical_cpus=8)
    assert cpu.model == "Intel(R) Xeon(R) Platinum 8480+" and cpu.logical_cpus == 8
    assert cpu.flags == tuple(f for f in INFERENCE_FLAGS)  # every flag, in INFERENCE_FLAGS order
    assert cpu.amx and cpu.int8_dot and cpu.bf16


def test_avx2_only_cpu_has_neither_int8_dot_products_nor_bf16() -> None:
    cpu = parse_cpuinfo(_SKYLAKE_CLIENT)
    assert cpu.flags == ("avx2", "fma") and cpu.logical_cpus == 4
    assert not cpu.int8_dot and not cpu.bf16 and not cpu.amx


def test_machine_key_changes_with_model_flags_and_cpu_count() -> None:
    keys = {parse_cpuinfo(_EPYC).key(), parse_cpuinfo(_EPYC, logical_cpus=16).key(),
            parse_cpuinfo(_SAPPHIRE_RAPIDS).key(), parse_cpuinfo(_SKYLAKE_CLIENT).key()}
    assert len(keys) == 4


def test_text_without_model_or_flags() -> None:
    cpu = parse_cpuinfo("processor : 0\nBogoMIPS : 100\n")
    assert cpu.model == "unknown" and cpu.flags == () and cpu.logical_cpus == 1


def test_missing_cpuinfo_falls_back_to_platform(tmp_path: Path) -> None:
    cpu = read_cpu_features(tmp_path / "no-cpuinfo")
    assert cpu.flags == () and cpu.logical_cpus >= 1 and cpu.model


def test_onednn_isa_cap_drops_the_flags_above_it(tmp_path: Path) -> None:
    """ONEDNN_MAX_CPU_ISA=AVX2 makes an AVX-512 BF16 machine choose as an AVX2-only one (and says so in its key)."""
    info = tmp_path / "cpuinfo"
    info.write_text(_EPYC)
    capped = read_cpu_features(info, isa_cap="avx2")
    assert capped.flags == ("avx2", "fma") and capped.isa_cap == "AVX2"
    assert not capped.bf16 and not capped.int8_dot
    assert capped.key() != read_cpu_features(info, isa_cap="").key()
    vnni = read_cpu_features(info, isa_cap="AVX512_CORE_VNNI")
    assert vnni.int8_dot and not vnni.bf16
    for uncapped in ("", "ALL", "AVX512_CORE_AMX"):
        assert read_cpu_features(info, isa_cap=uncapped) == parse_cpuinfo(_EPYC, vnni.logical_cpus)


def test_unknown_isa_cap_is_a_config_error_naming_the_levels(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ONEDNN_MAX_CPU_ISA='AVX3'.*AVX2, AVX2_VNNI"):
        isa_cap_flags("AVX3")
