"""``mofang submit / jobs / logs / cancel`` through the installed entry point, against a server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.jobs.conftest import stop_replicas_under
from tests.jobs.notebooks import role_notebook, write_notebook
from tests.jobs.server import Server, jupyter_server

pytestmark = pytest.mark.e2e

MOFANG = str(Path(sys.executable).with_name("mofang"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("cli")
    with jupyter_server(base / "home", base / "state") as running:
        yield running
    stop_replicas_under(base)


def mofang(
    server: Server, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **(server.env if env is None else env)}
    return subprocess.run(
        [MOFANG, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=environ,
        cwd=cwd or server.root,
    )


def test_submit_wait_follows_the_job_to_success(server: Server) -> None:
    notebook = write_notebook(
        server.root / "cli" / "hello.ipynb",
        [("who = 'nobody'", ["parameters"]), "print('hello', who)"],
    )
    result = mofang(server, "submit", str(notebook), "-p", "who='cli'", "--wait")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Submitted hello-") and "(python, Workerx1)" in lines[0]
    assert lines[-1].endswith("Succeeded: worker-0 finished successfully.")
    job_id = lines[0].split()[1]
    logs = mofang(server, "logs", job_id)
    assert (logs.returncode, logs.stdout) == (0, "hello cli\n")
    listed = mofang(server, "jobs")
    assert listed.returncode == 0 and job_id in listed.stdout and "Succeeded" in listed.stdout


def test_a_failing_job_makes_submit_wait_fail(server: Server) -> None:
    notebook = role_notebook(server.root / "cli" / "fail.ipynb", {"Worker": "exit4"})
    result = mofang(server, "submit", str(notebook), "--wait")
    assert result.returncode == 1
    assert "Failed: worker-0 exited with code 4" in result.stdout
    assert "Its log: jobs/" in result.stdout


def test_bad_flags_are_clear_errors_and_start_nothing(server: Server) -> None:
    notebook = write_notebook(server.root / "cli" / "ok.ipynb", ["print(1)"])
    before = mofang(server, "jobs", "--json").stdout
    for args, message in [
        (["-p", "lr=0.1.2"], "does not parse as a Python literal"),
        (["-p", "2x=1"], "is not a Python variable name"),
        (["--kind", "pytorch", "--workers", "0"], "--workers must be at least 1"),
        (["--kind", "tensorflow", "--workers", "-1"], "replicas must be at least 1"),
        (["--kind", "python", "--ps", "1"], "--ps and --chief apply to tensorflow jobs only"),
        (["--backend", "kubernetes"], "runs jobs with the 'local' backend"),
    ]:
        result = mofang(server, "submit", str(notebook), *args)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
    missing = mofang(server, "submit", str(server.root / "nope.ipynb"))
    assert missing.returncode == 2 and "There is no notebook 'nope.ipynb'" in missing.stderr
    outside = write_notebook(server.root.parent / "outside.ipynb", ["print(1)"])
    refused = mofang(server, "submit", str(outside))
    assert refused.returncode == 2 and "is outside your files" in refused.stderr
    unknown = mofang(server, "submit", str(notebook), "--kind", "caffe")
    assert unknown.returncode == 2 and "invalid choice: 'caffe'" in unknown.stderr
    assert mofang(server, "jobs", "--json").stdout == before


def test_dry_run_prints_the_program_and_processes(server: Server) -> None:
    notebook = write_notebook(server.root / "cli" / "dry.ipynb", ["print('dry')"])
    before = mofang(server, "jobs", "--json").stdout
    result = mofang(
        server, "submit", str(notebook), "--kind", "pytorch", "--workers", "2", "--dry-run"
    )
    assert result.returncode == 0, result.stderr
    assert '"WORLD_SIZE": "2"' in result.stdout and "print('dry')" in result.stdout
    assert mofang(server, "jobs", "--json").stdout == before


def test_cancel_and_follow_logs(server: Server) -> None:
    notebook = role_notebook(server.root / "cli" / "sleepy.ipynb", {})
    submitted = mofang(server, "submit", str(notebook))
    job_id = submitted.stdout.split()[1]
    cancelled = mofang(server, "cancel", job_id)
    assert (cancelled.returncode, cancelled.stdout) == (0, f"{job_id}: Cancelled\n")
    followed = mofang(server, "logs", job_id, "-f")  # ends: the replica is finished
    assert followed.returncode == 0
    again = mofang(server, "cancel", "no-such-job1")
    assert again.returncode == 2 and "You have no job 'no-such-job1'" in again.stderr


def test_the_server_is_found_without_being_told(server: Server) -> None:
    # As in a terminal of JupyterLab: the server's runtime file, the current directory.
    notebook = write_notebook(server.root / "cli" / "found.ipynb", ["print('found')"])
    env = {"JUPYTER_RUNTIME_DIR": str(server.runtime)}
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("MOFANG_", "JUPYTERHUB_"))}
    result = subprocess.run(
        [MOFANG, "submit", notebook.name, "--wait"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**environ, **env},
        cwd=notebook.parent,
    )
    assert result.returncode == 0, result.stderr
    nowhere = subprocess.run(
        [MOFANG, "jobs"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**environ, "JUPYTER_RUNTIME_DIR": str(server.root / "empty")},
    )
    assert nowhere.returncode == 2 and "No Jupyter server found" in nowhere.stderr
