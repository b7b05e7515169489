"""The submit benchmark's quick mode runs, so it never rots (how fast is for benchmarks/ to say)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_submit_local_benchmark_runs_in_quick_mode(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.submit_local", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ratio mofang / torchrun" in result.stdout
    data = json.loads(out.read_text())
    assert set(data["submit_local"]) == {"mofang", "torchrun", "by_hand"}
    assert data["ratio"] > 0
