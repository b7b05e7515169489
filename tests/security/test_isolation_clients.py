"""Isolation through the clients users type into: the ``mofang`` command and the magics.

A real jupyter-server (subprocess) with two users, one per job backend (on
Kubernetes with the plan of Alice's server); Alice has a running job and a
finished sweep. Bob, with his own token, lists, reads, follows, cancels and
applies them through ``mofang`` and through the magics in an IPython shell;
every answer is "you have no such job/sweep", word for word what an unknown id
gets, and Alice's job and notebook are untouched.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from mofang_lab import magics
from mofang_lab.client import MofangClient, ServerInfo
from tests.jobs.conftest import stop_replicas_under
from tests.jobs.notebooks import role_notebook, write_notebook
from tests.jobs.server import Server
from tests.kube_emulator import KubeEmulator
from tests.security.conftest import backend_config, clear_jobs, server_plan, tally
from tests.security.notebooks import quick_sweep_notebook, sweep_request
from tests.security.servers import mofang, users_server

pytestmark = [pytest.mark.e2e, pytest.mark.every_backend]

UNKNOWN_JOB, UNKNOWN_SWEEP = "never-made-q1w2e3", "never-swept-r4t5y6"


class Alice:
    def __init__(self, server: Server, job: dict[str, Any], sweep: dict[str, Any]) -> None:
        self.server = server
        self.job = job
        self.sweep = sweep
        self.client = MofangClient(ServerInfo(server.url, "alice-token"))


@pytest.fixture(scope="module")
def alice(
    tmp_path_factory: pytest.TempPathFactory, backend_name: str, request: pytest.FixtureRequest
) -> Iterator[Alice]:
    base = tmp_path_factory.mktemp("clients")
    kube: KubeEmulator | None = None
    plan = None
    if backend_name == "kubernetes":
        kube = request.getfixturevalue("job_cluster")
        plan = server_plan()
    config = backend_config(backend_name, root=base / "home", cluster=kube)
    del config["ServerApp"]  # the identity provider is named by users_server
    with users_server(base / "home", base / "state", plan=plan, settings=config) as server:
        client = MofangClient(ServerInfo(server.url, "alice-token"))
        assert client.backend()["backend"] == backend_name
        role_notebook(server.root / "long.ipynb", {})
        quick_sweep_notebook(server.root / "tune.ipynb")
        job = client.submit({"notebook": "long.ipynb"})
        sweep = client.create_sweep(sweep_request("tune.ipynb"))
        deadline = time.monotonic() + 120
        while (sweep := client.sweep(sweep["id"]))["state"] == "Running":
            assert time.monotonic() < deadline, sweep
            time.sleep(0.2)
        assert sweep["best"] is not None, sweep
        while (job := client.job(job["id"]))["state"] != "Running":  # a pod starts first
            assert job["state"] == "Created" and time.monotonic() < deadline, job
            time.sleep(0.1)
        yield Alice(server, job, sweep)
    stop_replicas_under(base)
    if kube is not None:
        clear_jobs(kube)


def same_refusal(theirs: str, unknown: str, ids: tuple[str, str]) -> None:
    assert theirs.replace(ids[0], "ID") == unknown.replace(ids[1], "ID"), (theirs, unknown)


def test_the_mofang_command_shows_bob_nothing_of_alices(alice: Alice) -> None:
    server = alice.server
    write_notebook(server.root / "bob.ipynb", [("lr = 0.5", ["parameters"])])
    before = (server.root / "bob.ipynb").read_text()
    assert mofang(server, "bob-token", "jobs", "--json").stdout.strip() == "[]"
    assert mofang(server, "bob-token", "sweeps", "--json").stdout.strip() == "[]"
    tally("isolation", 2)
    job, sweep = alice.job["id"], alice.sweep["id"]
    commands = [
        (("logs", "{id}"), job, UNKNOWN_JOB),
        (("logs", "{id}", "-f", "--replica", "worker-0"), job, UNKNOWN_JOB),
        (("cancel", "{id}"), job, UNKNOWN_JOB),
        (("sweeps", "{id}"), sweep, UNKNOWN_SWEEP),
        (("sweep-cancel", "{id}"), sweep, UNKNOWN_SWEEP),
        (("apply-best", "{id}", "bob.ipynb"), sweep, UNKNOWN_SWEEP),
    ]
    for args, theirs, unknown in commands:
        results = [
            mofang(server, "bob-token", *(a.format(id=target) for a in args))
            for target in (theirs, unknown)
        ]
        assert [r.returncode for r in results] == [2, 2], results
        assert "You have no" in results[0].stderr and results[0].stdout == ""
        same_refusal(results[0].stderr, results[1].stderr, (theirs, unknown))
        tally("isolation")
    assert (server.root / "bob.ipynb").read_text() == before
    assert alice.client.job(job)["state"] == "Running"


def test_the_magics_show_bob_nothing_of_alices(
    alice: Alice, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shown: list[Any] = []
    monkeypatch.setattr(magics, "_display", shown.append)
    shell = InteractiveShell.instance()
    shell.register_magics(magics.MofangMagics)
    where = f"--url {alice.server.url} --token bob-token"

    shell.run_line_magic("mofang_jobs", where)
    assert isinstance(shown[-1], magics.JobsView) and shown[-1].jobs == []
    shell.run_line_magic("mofang_sweeps", where)
    assert "No sweeps" in capsys.readouterr().out
    tally("isolation", 2)
    job, sweep = alice.job["id"], alice.sweep["id"]
    lines = [
        ("mofang_logs", "{id}", job, UNKNOWN_JOB),
        ("mofang_logs", "{id} -f --replica worker-0", job, UNKNOWN_JOB),
        ("mofang_cancel", "{id}", job, UNKNOWN_JOB),
        ("mofang_sweeps", "{id}", sweep, UNKNOWN_SWEEP),
    ]
    for magic, line, theirs, unknown in lines:
        said = []
        for target in (theirs, unknown):
            with pytest.raises(UsageError) as refused:
                shell.run_line_magic(magic, f"{line.format(id=target)} {where}")
            said.append(str(refused.value))
        assert "You have no" in said[0]
        same_refusal(said[0], said[1], (theirs, unknown))
        tally("isolation")
    # A sweep of this notebook, started by Bob, is his own and knows nothing of Alice's.
    notebook = alice.server.root / "tune.ipynb"
    shell.run_line_magic(
        "mofang_sweep",
        f"--notebook {notebook} --param lr=double:0.1:0.2 --objective maximize:accuracy "
        f"--max-trials 1 --parallel 1 --dry-run {where}",
    )
    assert "accuracy" in capsys.readouterr().out
    assert alice.client.job(job)["state"] == "Running"
    assert [s["id"] for s in alice.client.sweeps()] == [sweep]
