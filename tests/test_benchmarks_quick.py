"""The benchmarks' quick mode runs, so they never rot (how fast is for benchmarks/ to say).

Each test runs one benchmark with ``--quick --json`` and checks the structure
and sanity of what it reports (counts, positive times, no errors), not its
numbers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def run_json(name: str, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    out = tmp_path / "result.json"
    stdout = run_benchmark(name, "--json", str(out))
    return stdout, json.loads(out.read_text())


def is_summary(value: dict[str, float], *, n: int | None = None) -> bool:
    return (
        0 <= value["min"] <= value["median"] <= value["max"]
        and value["n"] >= 1
        and (n is None or value["n"] == n)
    )


@pytest.mark.e2e
def test_spawn_local_benchmark_runs_in_quick_mode(tmp_path: Path) -> None:
    stdout, data = run_json("spawn_local", tmp_path)
    assert "ratio Mofang / plain" in stdout
    assert set(data["spawn_local"]) == {"mofang", "plain", "floor"}
    assert all(is_summary(r, n=1) and r["min"] > 0 for r in data["spawn_local"].values())
    assert data["ratio"] > 0
    assert set(data["hub_peak_rss_mib"]) == {"mofang", "plain"}
    assert all(mib > 10 for mib in data["hub_peak_rss_mib"].values())


@pytest.mark.e2e
def test_submit_local_benchmark_runs_in_quick_mode(tmp_path: Path) -> None:
    stdout, data = run_json("submit_local", tmp_path)
    assert "ratio mofang / torchrun" in stdout
    assert set(data["submit_local"]) == {"mofang", "torchrun", "by_hand"}
    assert data["ratio"] > 0


def test_submit_kubernetes_benchmark_runs_in_quick_mode(tmp_path: Path) -> None:
    stdout, data = run_json("submit_kubernetes", tmp_path)
    assert "ratio Mofang / bare create" in stdout
    result = data["submit_kubernetes"]
    assert result["objects_created"] == result["expected_objects"]
    for name in ("bare_create", "mofang", "mofang_with_snapshot"):
        assert result[name]["n"] == 5 and 0 < result[name]["median"] < 5
    assert result["ratio"] > 0


@pytest.mark.e2e
def test_spawn_kubernetes_benchmark_runs_in_quick_mode(tmp_path: Path) -> None:
    stdout, data = run_json("spawn_kubernetes", tmp_path)
    assert "ratio MofangSpawner / KubeSpawner" in stdout
    # Quick mode leaves JupyterLab out: the emulator's pods run the stub server.
    assert set(data["spawn_kubernetes"]) == {"start", "stub"}
    for spawns in data["spawn_kubernetes"].values():
        assert set(spawns) == {"mofang", "kubespawner"}
        assert all(is_summary(r, n=1) and r["min"] > 0 for r in spawns.values())
    assert all(ratio > 0 for ratio in data["ratio"].values())
    assert all(mib > 10 for mib in data["hub_peak_rss_mib"]["stub"].values())
    assert {"image pull", "missing claim"} <= set(data["failures"])
    assert all(seconds > 0 for seconds in data["failures"].values())
    many = data["many_users"]
    for name in ("mofang", "kubespawner"):
        assert many[name]["errors"] == 0, many[name]["failures"]
        assert many[name]["spawns"] == 3
        assert many[name]["seconds"]["min"] > 0
        assert is_summary(many[name]["hub_cpu_per_spawn"], n=1)
        assert many[name]["hub_peak_rss_mib"] > 10
    assert data["many_users_cpu_ratio"] > 0


@pytest.mark.e2e
def test_status_scale_benchmark_runs_in_quick_mode(tmp_path: Path) -> None:
    stdout, data = run_json("status_scale", tmp_path)
    assert "GET /mofang/api/jobs" in stdout
    listing = data["status_scale"]
    assert set(listing) == {"jobs", "contents", "status", "contents_plain_server"}
    for r in listing.values():
        assert is_summary(r, n=10) and r["min"] > 0
        assert r["p50"] <= r["p95"] <= r["max"]
    assert data["jobs"] == 200
    assert is_summary(data["jobs_after_a_change"], n=10)
    # Every state change reached the events stream, and the polling client saw it too.
    assert data["push_ms"]["n"] == data["poll_1s_ms"]["n"] == 4
    assert data["push_ms"]["min"] >= 0 and data["push_ms"]["max"] < 10_000
    assert 0 < data["replay_ms"]["delivered"] <= data["events"] == 600
    assert data["idle"]["stream_open"] is True
    assert data["idle"]["requests_per_minute"] >= 0
    assert data["peak_rss_mib"]["mofang"] > 10 and data["peak_rss_mib"]["plain"] > 10


def test_sweep_efficiency_benchmark_runs_in_quick_mode(tmp_path: Path) -> None:
    stdout, data = run_json("sweep_efficiency", tmp_path)
    assert "ratio Mofang / random" in stdout
    results = data["sweep_efficiency"]
    assert len(results) == 2
    default, baseline = results.values()
    assert (default["algorithm"], default["early_stopping"]) == ("tpe", True)
    assert (baseline["algorithm"], baseline["early_stopping"]) == ("random", False)
    seeds = data["budget"]["seeds"]
    for r in results.values():
        assert is_summary(r["trial_seconds"], n=seeds) and r["trial_seconds"]["min"] > 0
        assert 0 <= r["reached"] <= seeds
        assert r["trials"]["max"] <= data["budget"]["trials"]
    # Early stopping stopped something; random search without it never does.
    assert default["stopped_early"] > 0 and baseline["stopped_early"] == 0
    assert len(data["per_seed_ratio"]) == seeds and data["ratio"] > 0


def test_plan_scale_benchmark_runs_in_quick_mode() -> None:
    assert "per plan: median" in run_benchmark("plan_scale")
