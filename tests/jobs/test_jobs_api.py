"""The jobs REST API through a real jupyter-server, running real local jobs."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from tornado import web
from tornado.httpclient import HTTPClientError

from mofang_lab.backends.local.processes import alive, read_state
from mofang_lab.handlers import routes
from tests.jobs.conftest import Fetch, api, log_of, wait_finished
from tests.jobs.notebooks import DDP_TRAINING, role_notebook, write_notebook

ROOT = Path(__file__).resolve().parents[2]


async def error_of(jp_fetch: Fetch, *parts: str, **kw: Any) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as info:
        await api(jp_fetch, *parts, **kw)
    assert info.value.response is not None
    return info.value.code, json.loads(info.value.response.body)["message"]


def processes_of(root: Path, job: dict[str, Any]) -> list[int]:
    """Every pid the job's replicas had: runners, and the children they reported."""
    folder = root / job["folder"]
    pids = [state.pid for f in (folder / ".run").glob("*.json") if (state := read_state(f))]
    pids += [int(f.read_text()) for f in folder.glob("child-*.pid")]
    return pids


def assert_all_stopped(root: Path, job: dict[str, Any]) -> None:
    pids = processes_of(root, job)
    assert pids
    assert [pid for pid in pids if alive(pid, None)] == []


async def test_a_python_job_runs_in_its_folder(jp_fetch: Fetch, jp_root_dir: Path) -> None:
    write_notebook(
        jp_root_dir / "work" / "hello.ipynb",
        [("who = 'nobody'", ["parameters"]), "import os\nprint('hello', who, os.getcwd())"],
    )
    created = await api(
        jp_fetch,
        "jobs",
        method="POST",
        body={"notebook": "work/hello.ipynb", "parameters": {"who": "world"}},
    )
    assert created["state"] == "Running" and created["owner"]
    assert created["folder"] == f"jobs/{created['id']}"
    job = await wait_finished(jp_fetch, created["id"])
    assert job["state"] == "Succeeded"
    folder = jp_root_dir / job["folder"]
    assert log_of(jp_root_dir, job, "worker-0") == f"hello world {folder}\n"
    assert (folder / "notebook.ipynb").is_file() and (folder / "program.py").is_file()
    assert json.loads((folder / "spec.json").read_text())["parameters"] == {"who": "world"}
    listed = await api(jp_fetch, "jobs")
    assert [j["id"] for j in listed["jobs"]] == [job["id"]]
    logs = await jp_fetch("mofang", "api", "jobs", job["id"], "logs")
    assert logs.body.decode() == f"hello world {folder}\n"


async def test_ddp_training_on_two_replicas_ends_with_identical_weights(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    write_notebook(jp_root_dir / "ddp.ipynb", DDP_TRAINING)
    created = await api(
        jp_fetch,
        "jobs",
        method="POST",
        body={
            "notebook": "ddp.ipynb",
            "kind": "pytorch",
            "roles": {"Worker": {"replicas": 1}},
            "env": {"OMP_NUM_THREADS": "1"},
        },
    )
    job = await wait_finished(jp_fetch, created["id"])
    master, worker = log_of(jp_root_dir, job, "master-0"), log_of(jp_root_dir, job, "worker-0")
    assert job["state"] == "Succeeded", master + worker
    assert "rank 0 of 2; RANK=0 LOCAL_RANK=None" in master
    assert "rank 1 of 2; RANK=1" in worker
    assert "rank 0: weights identical on 2 ranks" in master


async def test_a_failing_replica_fails_the_job_and_stops_the_others(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    role_notebook(jp_root_dir / "f.ipynb", {"Worker-1": "exit3"})
    created = await api(
        jp_fetch,
        "jobs",
        method="POST",
        body={
            "notebook": "f.ipynb",
            "kind": "tensorflow",
            "roles": {"PS": {"replicas": 1}, "Worker": {"replicas": 2}},
        },
    )
    job = await wait_finished(jp_fetch, created["id"])
    assert job["state"] == "Failed" and job["reason"] == "ReplicaFailed"
    assert job["message"].startswith("worker-1 exited with code 3; see its log jobs/")
    states = {r["name"]: (r["state"], r["exit_code"]) for r in job["replicas"]}
    assert states["worker-1"] == ("Failed", 3)
    assert states["ps-0"][0] == states["worker-0"][0] == "Stopped"
    assert_all_stopped(jp_root_dir, job)
    assert "Worker-1 exits with 3" in log_of(jp_root_dir, job, "worker-1")  # logs are kept
    assert "PS-0 started" in log_of(jp_root_dir, job, "ps-0")


async def test_cancel_stops_every_process(jp_fetch: Fetch, jp_root_dir: Path) -> None:
    role_notebook(jp_root_dir / "c.ipynb", {})
    created = await api(
        jp_fetch,
        "jobs",
        method="POST",
        body={"notebook": "c.ipynb", "kind": "pytorch", "roles": {"Worker": {"replicas": 1}}},
    )
    folder = jp_root_dir / created["folder"]
    for _ in range(400):  # until both replicas have started their child process
        if len(list(folder.glob("child-*.pid"))) == 2:
            break
        await wait_a_little()
    assert all(alive(pid, None) for pid in processes_of(jp_root_dir, created))
    job = await api(jp_fetch, "jobs", created["id"], "cancel", method="POST")
    assert job["state"] == "Cancelled"
    assert {r["state"] for r in job["replicas"]} == {"Stopped"}
    assert_all_stopped(jp_root_dir, job)
    # Cancelling again is harmless.
    assert (await api(jp_fetch, "jobs", job["id"], "cancel", method="POST"))["state"] == "Cancelled"


async def wait_a_little() -> None:
    await asyncio.sleep(0.05)


async def test_a_job_past_its_timeout_fails(jp_fetch: Fetch, jp_root_dir: Path) -> None:
    role_notebook(jp_root_dir / "t.ipynb", {})
    created = await api(
        jp_fetch, "jobs", method="POST", body={"notebook": "t.ipynb", "timeout_seconds": 1}
    )
    job = await wait_finished(jp_fetch, created["id"])
    assert job["state"] == "Failed" and job["reason"] == "DeadlineExceeded"
    assert "timeout of 1 s" in job["message"]
    assert_all_stopped(jp_root_dir, job)


async def test_restart_policies(jp_fetch: Fetch, jp_root_dir: Path) -> None:
    role_notebook(jp_root_dir / "r.ipynb", {"Worker": "fail-once"})
    once = await api(
        jp_fetch,
        "jobs",
        method="POST",
        body={"notebook": "r.ipynb", "restart_policy": "OnFailure", "backoff_limit": 2},
    )
    job = await wait_finished(jp_fetch, once["id"])
    assert job["state"] == "Succeeded" and job["restarts"] == 1
    assert job["replicas"][0]["restarts"] == 1
    assert "second attempt succeeds" in log_of(jp_root_dir, job, "worker-0")
    events = await jp_fetch("mofang", "api", "events", params={"job": job["id"]})
    states = [
        json.loads(line[5:])["state"]
        for line in events.body.decode().splitlines()
        if line.startswith("data:")
    ]
    assert states == ["Created", "Running", "Restarting", "Running", "Succeeded"]

    # ExitCode: 1-127 is a permanent failure, not retried.
    role_notebook(jp_root_dir / "e.ipynb", {"Worker": "exit3"})
    permanent = await api(
        jp_fetch, "jobs", method="POST", body={"notebook": "e.ipynb", "restart_policy": "ExitCode"}
    )
    job = await wait_finished(jp_fetch, permanent["id"])
    assert job["state"] == "Failed" and job["restarts"] == 0


async def test_the_same_submission_twice_is_one_job(jp_fetch: Fetch, jp_root_dir: Path) -> None:
    role_notebook(jp_root_dir / "d.ipynb", {"Worker": "exit0"})
    body = {"notebook": "d.ipynb", "idempotency_key": "k-1"}
    first = await jp_fetch("mofang", "api", "jobs", method="POST", body=json.dumps(body))
    again = await jp_fetch("mofang", "api", "jobs", method="POST", body=json.dumps(body))
    assert (first.code, again.code) == (201, 200)
    assert json.loads(first.body)["id"] == json.loads(again.body)["id"]
    assert len((await api(jp_fetch, "jobs"))["jobs"]) == 1
    assert len(list((jp_root_dir / "jobs").iterdir())) == 1
    code, message = await error_of(
        jp_fetch, "jobs", method="POST", body={**body, "kind": "pytorch"}
    )
    assert code == 409 and "already used for job" in message


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"notebook": "ok.ipynb", "kind": "caffe"}, 400, "kind: Input should be"),
        (
            {"notebook": "ok.ipynb", "kind": "pytorch", "roles": {"Worker": {"replicas": 0}}},
            400,
            "replicas must be at least 1",
        ),
        (
            {"notebook": "ok.ipynb", "kind": "mpi", "roles": {"Worker": {"replicas": -1}}},
            400,
            "replicas must be at least 1",
        ),
        (
            {"notebook": "ok.ipynb", "kind": "tensorflow", "roles": {"Master": {"replicas": 1}}},
            400,
            "tensorflow jobs have the roles Chief, PS, Worker; 'Master'",
        ),
        ({"notebook": "missing.ipynb"}, 404, "There is no notebook 'missing.ipynb'"),
        ({"notebook": "../outside.ipynb"}, 403, "is outside your files"),
        ({"notebook": "link.ipynb"}, 403, "is outside your files"),
        ({"notebook": "/etc/passwd"}, 403, "is outside your files"),
        ({"notebook": "broken.ipynb"}, 400, "is not a notebook Jupyter can read"),
        ({"notebook": "ok.ipynb", "parameters": {"not valid": 1}}, 400, "not a valid Python"),
        ({"notebook": "ok.ipynb", "surprise": 1}, 400, "surprise: Extra inputs"),
        ({"notebook": "ok.ipynb", "backend": "kubernetes"}, 400, "'local' backend"),
        (
            {
                "notebook": "ok.ipynb",
                "roles": {"Worker": {"replicas": 1, "resources": {"gpus": 1}}},
            },
            403,
            "asks for 1 GPUs in all; this server has 0",
        ),
    ],
)
async def test_bad_input_is_a_clear_error_and_changes_nothing(
    jp_fetch: Fetch, jp_root_dir: Path, body: dict[str, Any], status: int, message: str
) -> None:
    write_notebook(jp_root_dir / "ok.ipynb", ["print(1)"])
    write_notebook(jp_root_dir.parent / "outside.ipynb", ["print(1)"])
    (jp_root_dir / "link.ipynb").symlink_to(jp_root_dir.parent / "outside.ipynb")
    (jp_root_dir / "broken.ipynb").write_text("{not a notebook")
    code, text = await error_of(jp_fetch, "jobs", method="POST", body=body)
    assert (code, message in text) == (status, True), text
    assert (await api(jp_fetch, "jobs"))["jobs"] == []
    assert not (jp_root_dir / "jobs").exists()


async def test_a_body_that_is_not_json_is_400(jp_fetch: Fetch) -> None:
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("mofang", "api", "jobs", method="POST", body="{nope")
    assert info.value.code == 400


async def test_unknown_jobs_and_replicas_are_404(jp_fetch: Fetch, jp_root_dir: Path) -> None:
    assert (await error_of(jp_fetch, "jobs", "nope-123456"))[0] == 404
    assert (await error_of(jp_fetch, "jobs", "Bad..ID"))[0] == 404
    assert (await error_of(jp_fetch, "jobs", "nope-123456", "cancel", method="POST"))[0] == 404
    role_notebook(jp_root_dir / "x.ipynb", {"Worker": "exit0"})
    job = await api(jp_fetch, "jobs", method="POST", body={"notebook": "x.ipynb"})
    code, message = await error_of(
        jp_fetch, "jobs", job["id"], "logs", params={"replica": "worker-9"}
    )
    assert code == 404 and "its replicas: worker-0" in message
    job = await wait_finished(jp_fetch, job["id"])
    code, message = await error_of(jp_fetch, "jobs", job["id"], "cancel", method="POST")
    assert code == 409 and "already finished (Succeeded)" in message


async def test_following_logs_streams_until_the_replica_ends(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    write_notebook(
        jp_root_dir / "slow.ipynb",
        ["import time\nfor i in range(5):\n    print('line', i, flush=True)\n    time.sleep(0.2)"],
    )
    job = await api(jp_fetch, "jobs", method="POST", body={"notebook": "slow.ipynb"})
    response = await jp_fetch(
        "mofang", "api", "jobs", job["id"], "logs", params={"follow": "1"}, request_timeout=120
    )
    assert response.body.decode() == "".join(f"line {i}\n" for i in range(5))
    assert response.headers["Content-Type"].startswith("text/plain")


async def test_events_resume_after_a_sequence_number(jp_fetch: Fetch, jp_root_dir: Path) -> None:
    role_notebook(jp_root_dir / "x.ipynb", {"Worker": "exit0"})
    job = await api(jp_fetch, "jobs", method="POST", body={"notebook": "x.ipynb"})
    await wait_finished(jp_fetch, job["id"])
    body = (await jp_fetch("mofang", "api", "events", params={"job": job["id"]})).body.decode()
    ids = [int(line[4:]) for line in body.splitlines() if line.startswith("id: ")]
    assert len(ids) == 3 and ids == sorted(ids)
    later = await jp_fetch(
        "mofang", "api", "events", params={"job": job["id"]}, headers={"Last-Event-ID": str(ids[1])}
    )
    assert [line for line in later.body.decode().splitlines() if line.startswith("id: ")] == [
        f"id: {ids[2]}"
    ]


async def test_a_dry_run_describes_and_starts_nothing(jp_fetch: Fetch, jp_root_dir: Path) -> None:
    write_notebook(jp_root_dir / "ok.ipynb", ["print(1)"])
    result = await api(
        jp_fetch,
        "jobs",
        method="POST",
        body={"notebook": "ok.ipynb", "kind": "pytorch", "dry_run": True},
    )
    assert result["backend"] == "local" and "print(1)" in result["program"]
    assert [o["replica"] for o in result["objects"]] == ["master-0"]
    assert result["objects"][0]["env"]["WORLD_SIZE"] == "1"
    assert (await api(jp_fetch, "jobs"))["jobs"] == []
    assert not (jp_root_dir / "jobs").exists()


async def test_the_backend_declares_its_capabilities(jp_fetch: Fetch) -> None:
    capabilities = await api(jp_fetch, "backend")
    assert capabilities["backend"] == "local"
    assert {"pytorch", "tensorflow", "python"} <= set(capabilities["kinds"])
    assert capabilities["images"] is False and capabilities["survives_restart"] is True


async def test_every_endpoint_needs_authentication(jp_fetch: Fetch) -> None:
    for parts, method in [
        (("jobs",), "GET"),
        (("jobs",), "POST"),
        (("jobs", "x-123456"), "GET"),
        (("jobs", "x-123456", "cancel"), "POST"),
        (("jobs", "x-123456", "logs"), "GET"),
        (("events",), "GET"),
        (("backend",), "GET"),
    ]:
        with pytest.raises(HTTPClientError) as info:
            await jp_fetch(
                "mofang",
                "api",
                *parts,
                method=method,
                body="{}" if method == "POST" else None,
                headers={"Authorization": ""},
            )
        assert info.value.code == 403, parts


def test_the_openapi_document_lists_every_route_and_method() -> None:
    document = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    assert document["openapi"].startswith("3.1")
    documented = {
        re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path): operations
        for path, operations in document["paths"].items()
    }
    assert set(documented) == {pattern for pattern, _handler in routes()}
    for pattern, handler in routes():
        implemented = {
            method
            for method in ("get", "post", "put", "patch", "delete")
            if getattr(handler, method) is not getattr(web.RequestHandler, method)
        }
        assert set(documented[pattern]) - {"parameters"} == implemented, pattern


async def test_a_notebook_that_is_not_utf8_is_refused_with_what_to_do(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    (jp_root_dir / "latin1.ipynb").write_bytes('{"cells": "caf\xe9"}'.encode("latin-1"))
    for route, body in (
        ("jobs", {"notebook": "latin1.ipynb"}),
        ("sweeps", {"notebook": "latin1.ipynb", "dry_run": True}),  # what it offers to search
    ):
        code, message = await error_of(jp_fetch, route, method="POST", body=body)
        assert code == 400, message
        assert message.startswith("latin1.ipynb is not UTF-8 text, so not a notebook.")
        assert "save it in JupyterLab" in message
    assert not (jp_root_dir / "jobs").exists()
