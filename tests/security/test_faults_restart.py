"""The jobs server crashes (SIGKILL) while jobs and a sweep run, and starts again.

Nothing is lost: every job and sweep has a record with its true state (one
that finished during the outage is Failed with its exit code, a running one is
Running, a cancelled one stays Cancelled); nothing runs that no record knows
about (every replica process on the machine is the pid the store recorded for
a Running replica); the sweep resumes and runs each trial once; and when the
jobs end, no process of theirs is left. tests/jobs/test_server_restart.py and
tests/sweeps/test_sweep_restart.py cover the graceful stop (SIGTERM).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mofang_lab.backends.local.processes import RUNNER, alive
from mofang_lab.client import MofangClient, ServerInfo
from tests.jobs.conftest import stop_replicas_under
from tests.jobs.notebooks import write_notebook
from tests.jobs.server import Server
from tests.security.conftest import tally
from tests.security.notebooks import quick_sweep_notebook, sweep_request
from tests.security.servers import users_server

pytestmark = pytest.mark.e2e

WAIT_FOR_FILE = """\
import os, sys, time
while not os.path.exists(GO):
    time.sleep(0.05)
sys.exit(CODE)
"""


def wait(predicate: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)
    return value


def recorded_replicas(root: Path) -> dict[int, tuple[str, str, str, int | None]]:
    """pid -> (job, replica, state, start ticks) of every replica the store knows a pid of."""
    with sqlite3.connect(root / ".mofang" / "jobs.sqlite") as db:
        found = db.execute(
            "SELECT pid, job_id, name, state, start_ticks FROM replicas WHERE pid IS NOT NULL"
        ).fetchall()
    return {pid: (job, name, state, ticks) for pid, job, name, state, ticks in found}


def replica_processes(root: Path) -> set[int]:
    """Every live replica runner on this machine whose state file is in ``root``."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text()
        except OSError:
            continue
        if state[state.rindex(")") + 2] in "ZX":
            continue
        if str(RUNNER).encode() in argv and any(a.startswith(str(root).encode()) for a in argv):
            found.add(int(proc.name))
    return found


def crash(server: Server) -> None:
    """Kill the server as a power cut or the OOM killer would: no shutdown at all."""
    (info,) = [json.loads(p.read_text()) for p in server.runtime.glob("jpserver-*.json")]
    os.kill(int(info["pid"]), signal.SIGKILL)
    wait(lambda: not _alive(int(info["pid"])), "the server is gone")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] not in "ZX"


def test_a_crash_loses_no_record_and_leaves_no_stray_process(tmp_path: Path) -> None:
    root, state = tmp_path / "home", tmp_path / "state"
    for name, code in (("a", 0), ("b", 3), ("c", 0), ("d", 0)):
        write_notebook(
            root / f"{name}.ipynb",
            [
                (f"GO = {str(tmp_path / ('go-' + name))!r}\nCODE = {code}", ["parameters"]),
                WAIT_FOR_FILE,
            ],
        )
    quick_sweep_notebook(root / "tune.ipynb")
    try:
        with users_server(root, state) as server:
            client = MofangClient(ServerInfo(server.url, "alice-token"))
            a = client.submit({"notebook": "a.ipynb", "idempotency_key": "a"})
            b = client.submit({"notebook": "b.ipynb"})
            c = client.submit({"notebook": "c.ipynb"})
            d = client.submit(
                {"notebook": "d.ipynb", "kind": "pytorch", "roles": {"Worker": {"replicas": 2}}}
            )
            assert client.cancel(c["id"])["state"] == "Cancelled"
            sweep = client.create_sweep(
                sweep_request("tune.ipynb", max_trials=3, parallel_trials=2, pause=2.0)
            )

            def started() -> bool:
                trials = client.sweep(sweep["id"])["trials"]
                return (
                    len(recorded_replicas(root)) >= 6 + 2
                    and len(trials) == 2
                    and all(t["job_id"] for t in trials)
                )

            wait(started, "every replica and two trials started")
            crash(server)
        # The server is gone without a word; its jobs are not. One ends meanwhile.
        (tmp_path / "go-b").touch()
        wait(
            lambda: (
                not _alive(next(p for p, r in recorded_replicas(root).items() if r[0] == b["id"]))
            ),
            "b ended",
        )

        with users_server(root, state) as server:
            client = MofangClient(ServerInfo(server.url, "alice-token"))
            jobs = {job["id"]: job for job in client.jobs()}
            assert jobs[a["id"]]["state"] == "Running"
            assert jobs[c["id"]]["state"] == "Cancelled"
            assert jobs[d["id"]]["state"] == "Running"
            final_b = wait(
                lambda: (j := client.job(b["id"]))["state"] != "Running" and j, "b recorded"
            )
            assert final_b["state"] == "Failed" and final_b["replicas"][0]["exit_code"] == 3
            assert client.sweep(sweep["id"])["state"] == "Running"
            # Every live replica is one the store recorded as Running, under that pid.
            recorded = recorded_replicas(root)
            live = replica_processes(root)
            assert live <= set(recorded), (live, recorded)
            for pid in live:
                assert recorded[pid][2] == "Running", recorded[pid]
            for pid, (job, name, replica_state, ticks) in recorded.items():
                if replica_state == "Running":
                    assert alive(pid, ticks), (job, name)
            tally("faults", len(recorded))
            # The same submission after the crash is the same job.
            assert client.submit({"notebook": "a.ipynb", "idempotency_key": "a"})["id"] == a["id"]
            for name in ("a", "d"):
                (tmp_path / f"go-{name}").touch()
            for job in (a, d):
                wait(
                    lambda job=job: client.job(job["id"])["state"] == "Succeeded",
                    f"{job['id']} succeeded",
                )
            done = wait(
                lambda: (s := client.sweep(sweep["id"]))["state"] != "Running" and s,
                "the sweep ended",
                180,
            )
            assert (done["state"], [t["state"] for t in done["trials"]]) == (
                "Succeeded",
                ["Succeeded"] * 3,
            )
            trial_jobs = [
                j
                for j in client.jobs()
                if j["spec"]["idempotency_key"]
                and j["spec"]["idempotency_key"].startswith(sweep["id"])
            ]
            assert sorted(j["spec"]["idempotency_key"] for j in trial_jobs) == [
                f"{sweep['id']}-{n}" for n in range(3)
            ]
            assert len(client.jobs()) == 4 + 3
            tally("faults", 4)
        assert replica_processes(root) == set()
    finally:
        stop_replicas_under(tmp_path)
