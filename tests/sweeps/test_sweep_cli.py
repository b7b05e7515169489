"""``mofang sweep / sweeps / sweep-cancel / apply-best`` through the installed entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from tests.jobs.conftest import stop_replicas_under
from tests.jobs.server import Server, jupyter_server
from tests.sweeps.conftest import digits_notebook

pytestmark = pytest.mark.e2e

MOFANG = str(Path(sys.executable).with_name("mofang"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("sweep-cli")
    with jupyter_server(base / "home", base / "state") as running:
        yield running
    stop_replicas_under(base)


def mofang(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MOFANG, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **server.env},
        cwd=server.root,
    )


def test_sweep_wait_then_apply_best(server: Server) -> None:
    notebook = digits_notebook(server.root / "cli" / "digits.ipynb")
    result = mofang(
        server,
        "sweep",
        str(notebook),
        "--param",
        "lr=double:0.01:0.2:log",
        "--param",
        "alpha=discrete:0.0001,0.001",
        "--objective",
        "maximize:accuracy",
        "--algorithm",
        "random",
        "--seed",
        "1",
        "--parallel",
        "2",
        "--max-trials",
        "2",
        "--set",
        "epochs=3",
        "--env",
        "OMP_NUM_THREADS=1",
        "--wait",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Started sweep digits-") and lines[0].endswith(": Running.")
    sweep_id = lines[0].split()[2]
    assert any(line.endswith("trial 0 Running") for line in lines)
    assert f"{sweep_id}: Succeeded 2 trials done." in result.stdout
    table = lines[lines.index(next(x for x in lines if x.startswith("#  "))) :]
    assert table[0].split() == ["#", "STATE", "ACCURACY", "STEPS", "lr", "alpha", "JOB"]
    assert [row.split()[1] for row in table[1:]] == ["Succeeded", "Succeeded"]
    assert [row.split()[3] for row in table[1:]] == ["3", "3"]  # --set epochs=3 reached them

    listed = mofang(server, "sweeps")
    assert listed.returncode == 0 and sweep_id in listed.stdout and "Succeeded" in listed.stdout
    shown = json.loads(mofang(server, "sweeps", sweep_id, "--json").stdout)
    best = shown["best"]

    applied = mofang(server, "apply-best", sweep_id, str(notebook))
    assert applied.returncode == 0, applied.stderr
    cell = nbformat.read(notebook, as_version=4).cells[0].source
    assert f"lr = {best['parameters']['lr']!r}  # learning rate of SGD" in cell
    assert f"alpha = {best['parameters']['alpha']!r}  # L2 penalty" in cell

    cancelled = mofang(server, "sweep-cancel", sweep_id)
    assert cancelled.returncode == 2 and "already finished (Succeeded)" in cancelled.stderr


def test_bad_flags_are_clear_messages(server: Server) -> None:
    notebook = digits_notebook(server.root / "cli" / "bad.ipynb")
    common = ["sweep", str(notebook), "--objective", "maximize:accuracy"]
    result = mofang(server, *common, "--param", "lr=float:0:1")
    assert result.returncode == 2
    assert "unknown type 'float'" in result.stderr and "NAME=double:MIN:MAX" in result.stderr
    result = mofang(server, *common, "--param", "depth=int:1:4")
    assert result.returncode == 2 and "does not assign depth" in result.stderr
    result = mofang(
        server, *common, "--param", "lr=double:0.1:1", "--parallel", "5", "--max-trials", "4"
    )
    assert result.returncode == 2
    assert "parallel_trials must be at most max_trials" in result.stderr
    result = mofang(server, *common, "--param", "lr=double:0.1:1", "--algorithm", "anneal")
    assert result.returncode == 2 and "invalid choice: 'anneal'" in result.stderr
    assert "bad.ipynb" not in mofang(server, "sweeps").stdout  # nothing was started
