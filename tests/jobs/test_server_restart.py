"""The server restarts while jobs run: running jobs are taken up again, finished ones recorded."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from mofang_lab.backends.local.processes import alive, read_state
from mofang_lab.client import MofangClient, ServerInfo
from tests.jobs.notebooks import write_notebook
from tests.jobs.server import jupyter_server

WAIT_FOR_FILE = """\
import os, sys, time
print('waiting for', GO, flush=True)
while not os.path.exists(GO):
    time.sleep(0.05)
print('done, exit', CODE, flush=True)
sys.exit(CODE)
"""

pytestmark = pytest.mark.e2e


def _client(server: object) -> MofangClient:
    return MofangClient(ServerInfo(server.url, server.token))  # type: ignore[attr-defined]


def _wait(predicate: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def test_jobs_survive_a_server_restart(tmp_path: Path) -> None:
    root = tmp_path / "home"
    for name, code in (("a", 0), ("b", 3)):
        write_notebook(
            root / f"{name}.ipynb",
            [
                (f"GO = {str(tmp_path / ('go-' + name))!r}\nCODE = {code}", ["parameters"]),
                WAIT_FOR_FILE,
            ],
        )
    with jupyter_server(root, tmp_path / "state") as server:
        client = _client(server)
        a = client.submit({"notebook": "a.ipynb", "idempotency_key": "job-a"})
        b = client.submit({"notebook": "b.ipynb"})
        run_a = root / a["folder"] / ".run" / "worker-0.json"
        _wait(lambda: read_state(run_a) is not None, "job a's replica started")
        _wait(
            lambda: read_state(root / b["folder"] / ".run" / "worker-0.json") is not None,
            "job b's replica started",
        )
    # The server is gone; its jobs' replicas are not. One of them finishes meanwhile.
    state_a = read_state(run_a)
    assert state_a is not None and alive(state_a.pid, state_a.start_ticks)
    (tmp_path / "go-b").touch()
    run_b = root / b["folder"] / ".run" / "worker-0.json"
    _wait(lambda: (s := read_state(run_b)) is not None and s.exit_code is not None, "b ended")

    with jupyter_server(root, tmp_path / "state") as server:
        client = _client(server)
        taken_up = client.job(a["id"])
        assert taken_up["state"] == "Running"
        # The same submission again is still the same job, not a second one.
        assert client.submit({"notebook": "a.ipynb", "idempotency_key": "job-a"})["id"] == a["id"]
        finished_b = _final(client, b["id"])
        assert finished_b["state"] == "Failed"
        assert finished_b["replicas"][0]["exit_code"] == 3
        (tmp_path / "go-a").touch()
        finished_a = _final(client, a["id"])
        assert finished_a["state"] == "Succeeded"
        events = list(client.events(job_id=a["id"]))
        assert [e["state"] for e in events] == ["Created", "Running", "Running", "Succeeded"]
        assert events[2]["reason"] == "Reattached"
        assert [j["id"] for j in client.jobs()] == [b["id"], a["id"]]
    # Started once: the runner's state file still shows the first attempt.
    final_state = read_state(run_a)
    assert final_state is not None and final_state.attempt == 1 and final_state.exit_code == 0
    assert (root / a["folder"] / "logs" / "worker-0.log").read_text().count("waiting for") == 1
    assert json.loads((root / a["folder"] / "spec.json").read_text())["idempotency_key"] == "job-a"


def _final(client: MofangClient, job_id: str) -> dict[str, object]:
    for _event in client.events(job_id=job_id):
        pass
    return client.job(job_id)
