"""The server stops while a sweep's trials run, and starts again: no trial is lost or repeated."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from mofang_lab.client import MofangClient, ServerInfo
from tests.jobs.conftest import stop_replicas_under
from tests.jobs.server import Server, jupyter_server
from tests.sweeps.conftest import digits_notebook, sweep_body

pytestmark = pytest.mark.e2e


def _client(server: Server) -> MofangClient:
    return MofangClient(ServerInfo(server.url, server.token))


def _wait(predicate: Any, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.1)


def test_a_sweep_resumes_after_a_server_restart(tmp_path: Path) -> None:
    root, state = tmp_path / "home", tmp_path / "state"
    digits_notebook(root / "digits.ipynb")
    body = sweep_body("digits.ipynb", max_trials=4, parallel_trials=2, pause=0.4, seed=3)
    body["settings"]["parameters"] = [{"type": "double", "name": "lr", "min": 0.01, "max": 0.2}]
    try:
        with jupyter_server(root, state) as server:
            client = _client(server)
            sweep_id = client.create_sweep(body)["id"]

            def two_trials_report() -> bool:
                trials = client.sweep(sweep_id)["trials"]
                return len(trials) == 2 and all(t["reports"].get("accuracy") for t in trials)

            _wait(two_trials_report, "both first trials report accuracy")
            before = client.sweep(sweep_id)["trials"]
        # The server is gone; the trials' jobs are not. Make trial 1 look as if the
        # server had stopped after submitting its job but before recording it.
        with sqlite3.connect(root / ".mofang" / "sweeps.sqlite") as db:
            db.execute(
                "UPDATE trials SET job_id = NULL, state = 'Pending' WHERE sweep_id = ? AND "
                "number = 1",
                (sweep_id,),
            )
        with jupyter_server(root, state) as server:
            client = _client(server)
            _wait(lambda: client.sweep(sweep_id)["state"] != "Running", "the sweep ended")
            sweep = client.sweep(sweep_id)
            jobs = client.jobs()
    finally:
        stop_replicas_under(tmp_path)
    assert (sweep["state"], sweep["reason"]) == ("Succeeded", "MaxTrialsReached"), sweep
    trials = sweep["trials"]
    assert [t["number"] for t in trials] == [0, 1, 2, 3]
    assert [t["state"] for t in trials] == ["Succeeded"] * 4
    # The same two first trials, with the same jobs: trial 1's job was found by its key.
    assert [(t["job_id"], t["parameters"]) for t in trials[:2]] == [
        (t["job_id"], t["parameters"]) for t in before
    ]
    # One job per trial, each started once.
    assert sorted(j["spec"]["idempotency_key"] for j in jobs) == [
        f"{sweep_id}-{n}" for n in range(4)
    ]
    for job in jobs:
        log = (root / job["folder"] / "logs" / "worker-0.log").read_text()
        assert log.count("trial started") == 1, job["id"]
    # Every epoch's report is recorded once, however the log was followed.
    assert all(len(t["reports"]["accuracy"]) == 8 for t in trials)
