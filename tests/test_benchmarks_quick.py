"""The benchmarks' quick mode runs, so they never rot (how fast is for benchmarks/ to say)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_benchmark(name: str, *args: str) -> str:
    """Run ``benchmarks.<name> --quick ARGS``; its stdout, or a failure with its stderr."""
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", "--quick", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.e2e
def test_spawn_local_benchmark_runs_in_quick_mode(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    assert "ratio Mofang / plain" in run_benchmark("spawn_local", "--json", str(out))
    assert out.read_text().count('"median"') == 3


@pytest.mark.e2e
def test_submit_local_benchmark_runs_in_quick_mode(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    assert "ratio mofang / torchrun" in run_benchmark("submit_local", "--json", str(out))
    data = json.loads(out.read_text())
    assert set(data["submit_local"]) == {"mofang", "torchrun", "by_hand"}
    assert data["ratio"] > 0


def test_plan_scale_benchmark_runs_in_quick_mode() -> None:
    assert "per plan: median" in run_benchmark("plan_scale")
