"""Isolation on the cluster: the Kubernetes backend shows and follows its own user's objects only.

Users' servers share a namespace, and anyone there can create objects carrying
Mofang's labels: the cluster's guard holds a job object to its creator's own
``mofang.io/user``, not to the job id it names, and does not look at pods.
Here Alice's server runs beside objects made by hand for Bob: a job with its
pod, made before her server starts and while it runs, and a job and a pod that
carry the id of one of *her* jobs.

Through her server Bob's job answers exactly as an id that never existed; her
backend's every list and watch asks for her objects only and never names his;
his objects carrying her job's id change nothing of her job, and are never
where her job's log is read from.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from mofang_lab.jobs.states import JobState, ReplicaState
from tests.jobs.conftest import Fetch, api
from tests.jobs.notebooks import role_notebook, write_notebook
from tests.kube_emulator import KubeEmulator
from tests.kubernetes.jobs_cluster import NAMESPACE, backend_on, prepare, wait_until
from tests.security.conftest import answer_of, refusal, server_plan, tally, wait_end, wait_state
from tests.security.test_isolation_rest import UNKNOWN_JOB, same_shape, stream_for
from tests.security.users import auth

pytestmark = pytest.mark.backends("kubernetes")

ALICE = auth("alice")
#: Bob's jobs, made by his own server (here by hand): one before Alice's server starts, one after.
BOBS_EARLY, BOBS_LATE = "bobs-early-k2l3m4", "bobs-late-n5p6q7"
#: The kinds of collection Alice's backend lists and watches (Katib's trials are found by
#: their Experiment, which is hers).
WATCHED = ("jobs", "pytorchjobs", "tfjobs", "mpijobs", "pods", "experiments")


def bobs_job(name: str, job_id: str, output: str, exit_code: int = 0) -> dict[str, Any]:
    """A batch Job as Bob's server makes it, labelled for Bob, whose pod prints ``output``."""
    labels = {
        "app.kubernetes.io/managed-by": "mofang",
        "mofang.io/user": "bob",
        "mofang.io/job-id": job_id,
    }
    program = f"print({output!r}, flush=True); raise SystemExit({exit_code})"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {**labels, "mofang.io/replica-type": "worker"}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "python",  # as Mofang names a python job's container
                            "image": "python",
                            "command": [sys.executable, "-c", program],
                        }
                    ],
                },
            },
        },
    }


def bobs_pod(name: str, job_id: str, output: str, exit_code: int = 0) -> dict[str, Any]:
    """A pod labelled for Bob that claims to be replica worker-0 of job ``job_id``."""
    template = bobs_job(name, job_id, output, exit_code)["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {**template["metadata"], "name": name},
        "spec": template["spec"],
    }


def finished(kube: KubeEmulator, plural: str, name: str) -> None:
    def done() -> bool:
        obj = kube.find(plural, NAMESPACE, name)
        if obj is None:
            return False
        if plural == "pods":
            return (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        return bool((obj.get("status") or {}).get("conditions"))

    kube.wait_for(done, timeout=30)


@pytest.fixture
def bobs_early_job(cluster: KubeEmulator) -> str:
    """Bob's job, on the cluster before Alice's server starts (her start lists what is there)."""
    cluster.create(bobs_job(BOBS_EARLY, BOBS_EARLY, "bob's early job"), namespace=NAMESPACE)
    finished(cluster, "jobs", BOBS_EARLY)
    cluster.clear_requests()
    return BOBS_EARLY


def requests_of_alices_server(kube: KubeEmulator) -> list[Any]:
    return [r for r in kube.requests if r.path.startswith(("/api/", "/apis/"))]


async def test_another_users_job_objects_are_invisible_through_this_server(
    bobs_early_job: str, jp_fetch: Fetch, jp_root_dir: Path, cluster: KubeEmulator
) -> None:
    write_notebook(jp_root_dir / "n.ipynb", ["print('hi')"])
    mine = await api(jp_fetch, "jobs", method="POST", body={"notebook": "n.ipynb"}, headers=ALICE)
    cluster.create(bobs_job(BOBS_LATE, BOBS_LATE, "bob's late job"), namespace=NAMESPACE)
    finished(cluster, "jobs", BOBS_LATE)
    assert (await wait_end(jp_fetch, mine["id"], 30, headers=ALICE))["state"] == "Succeeded"

    for bobs in (bobs_early_job, BOBS_LATE):
        for parts, method, params in [
            (("jobs", "{id}"), "GET", None),
            (("jobs", "{id}", "logs"), "GET", None),
            (("jobs", "{id}", "logs"), "GET", {"replica": "worker-0", "follow": "1"}),
            (("jobs", "{id}", "cancel"), "POST", None),
            (("events",), "GET", {"job": "{id}", "since": "0"}),
        ]:
            answers = [
                await refusal(
                    jp_fetch,
                    *(p.format(id=target) for p in parts),
                    method=method,
                    headers=ALICE,
                    params={k: v.format(id=target) for k, v in (params or {}).items()},
                )
                for target in (bobs, UNKNOWN_JOB)
            ]
            same_shape(answers[0], answers[1], (bobs, UNKNOWN_JOB))
            tally("isolation")
    assert [j["id"] for j in (await api(jp_fetch, "jobs", headers=ALICE))["jobs"]] == [mine["id"]]
    stream = await stream_for(jp_fetch, 1.0, headers=ALICE, params={"since": "0"})
    assert mine["id"] in stream and "bobs-" not in stream
    tally("isolation", 2)

    # Bob's objects are as he left them: nothing of Alice's server deleted or changed them.
    for bobs in (bobs_early_job, BOBS_LATE):
        job = cluster.get("jobs", NAMESPACE, bobs)
        assert job["metadata"]["labels"]["mofang.io/user"] == "bob"
        assert job["metadata"]["generation"] == 1 and "deletionTimestamp" not in job["metadata"]
    # Her backend asked the cluster for her objects only, and never named his.
    for request in requests_of_alices_server(cluster):
        assert "bobs-" not in request.path, request
        collection = request.path.rstrip("/").rsplit("/", 1)[-1]
        if request.method == "GET" and collection in WATCHED:
            selector = ",".join(request.query.get("labelSelector", []))
            assert "mofang.io/user=alice" in selector.split(","), request
    tally("isolation", 2)


async def test_another_users_objects_with_this_servers_job_id_are_never_adopted(
    jp_fetch: Fetch, jp_root_dir: Path, cluster: KubeEmulator
) -> None:
    role_notebook(jp_root_dir / "a.ipynb", {})  # runs until cancelled
    mine = await api(jp_fetch, "jobs", method="POST", body={"notebook": "a.ipynb"}, headers=ALICE)
    await wait_state(jp_fetch, mine["id"], "Running", headers=ALICE)
    # Bob's job and pod carry the id of Alice's job, and fail.
    cluster.create(bobs_job("bobs-forged-job", mine["id"], "forged", 7), namespace=NAMESPACE)
    cluster.create(bobs_pod("bobs-forged-pod", mine["id"], "forged"), namespace=NAMESPACE)
    finished(cluster, "jobs", "bobs-forged-job")
    finished(cluster, "pods", "bobs-forged-pod")
    await asyncio.sleep(1.0)  # time for a watch event, had one been sent
    job = await api(jp_fetch, "jobs", mine["id"], headers=ALICE)
    assert job["state"] == "Running", job
    assert [(r["state"], r["exit_code"]) for r in job["replicas"]] == [("Running", None)], job
    log = await jp_fetch("mofang", "api", "jobs", mine["id"], "logs", headers=ALICE)
    assert "forged" not in log.body.decode()
    tally("isolation", 3)
    cancelled = await api(jp_fetch, "jobs", mine["id"], "cancel", method="POST", headers=ALICE)
    assert cancelled["state"] == "Cancelled"
    assert cluster.find("jobs", NAMESPACE, "bobs-forged-job") is not None


async def test_a_finished_jobs_log_never_comes_from_another_users_pod(
    jp_fetch: Fetch, jp_root_dir: Path, cluster: KubeEmulator
) -> None:
    """Once a job's pods are gone (deleted after it finished), its log is gone: a pod of Bob's
    carrying the job's id is not its replica."""
    write_notebook(jp_root_dir / "n.ipynb", ["print('alice was here', flush=True)"])
    mine = await api(jp_fetch, "jobs", method="POST", body={"notebook": "n.ipynb"}, headers=ALICE)
    assert (await wait_end(jp_fetch, mine["id"], 30, headers=ALICE))["state"] == "Succeeded"
    log = await jp_fetch("mofang", "api", "jobs", mine["id"], "logs", headers=ALICE)
    assert log.body.decode() == "alice was here\n"
    for pod in cluster.list("pods", NAMESPACE, label_selector=f"mofang.io/job-id={mine['id']}"):
        cluster.delete("pods", NAMESPACE, pod["metadata"]["name"], grace_period_seconds=0)
    cluster.create(bobs_pod("bobs-pod", mine["id"], "forged by bob"), namespace=NAMESPACE)
    finished(cluster, "pods", "bobs-pod")
    await asyncio.sleep(0.5)  # the deletions reach Alice's watch
    try:
        served = await jp_fetch("mofang", "api", "jobs", mine["id"], "logs", headers=ALICE)
    except HTTPClientError as error:
        code, body = answer_of(error)
        assert code == 404 and "is gone from the cluster" in body["message"], (code, body)
    else:
        pytest.fail(f"job {mine['id']}'s log was read from Bob's pod: {served.body.decode()!r}")
    tally("isolation")


async def test_a_restarted_server_takes_up_none_of_another_users_pods(
    cluster: KubeEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that starts again reads its running jobs' pods back: its own, never a pod of
    Bob's that carries one of their ids."""
    root = tmp_path / "alice"
    role_notebook(root / "a.ipynb", {})  # runs until cancelled
    async with backend_on(cluster, root, server_plan(), monkeypatch) as backend:
        submitted = await backend.submit("alice", prepare(root, "a.ipynb", backend))
        job_id = submitted.job.id
        await wait_until(backend, "alice", job_id, lambda r: r.state == JobState.RUNNING)
    # While the server is down, Bob's pod claims to be the job's replica, and fails.
    cluster.create(bobs_pod("zz-bobs-pod", job_id, "forged", 7), namespace=NAMESPACE)
    finished(cluster, "pods", "zz-bobs-pod")
    async with backend_on(cluster, root, server_plan(), monkeypatch) as backend:
        await asyncio.sleep(1.0)  # the watches' first lists and events
        record = await backend.get("alice", job_id)
        # (The job's own state after a restart: tests/security/test_faults_cluster.py.)
        replicas = [(r.name, r.state, r.exit_code) for r in record.replicas]
        assert replicas == [("worker-0", ReplicaState.RUNNING, None)], record
        tally("isolation")
        await backend.cancel("alice", job_id)
