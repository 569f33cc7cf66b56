"""The code's own rules, run inside the test suite: the import layering (import-linter), ruff and mypy.

Settings live in pyproject.toml ([tool.importlinter], [tool.ruff], [tool.mypy]); each check runs the tool the
way a developer would from the repository root and shows its report when it fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(*command: str, timeout_s: float = 600.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout_s)


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in {BIN}: install the test extras (pip install -e '.[test]')")
    return str(path)


def test_import_layering_contract_is_kept() -> None:
    """A package never imports one above it; streams imports nothing from tracker; core and identity stay pure."""
    result = _run(_tool("lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout and "Contracts: " in result.stdout


def test_ruff_finds_nothing() -> None:
    result = _run(_tool("ruff"), "check", "--no-cache", "tracker", "streams", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing() -> None:
    result = _run(sys.executable, "-m", "mypy", "--cache-dir", str(REPO / ".cache" / "mypy"))
    assert result.returncode == 0, result.stdout + result.stderr
