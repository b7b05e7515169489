"""The Kubernetes job backend when things go wrong: API faults, restarts, retries, races.

Whatever happens, a job is never created twice and its record is never lost:
transient answers (500, 429, a dropped watch, a create that timed out but
happened) are retried; final ones (403 from RBAC or the guard, a name taken
by someone else, a missing queue) are clear errors, the record says so, and
nothing is left on the cluster. A restarted server takes its jobs up again.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from mofang_lab.jobs.folder import JobFolder
from mofang_lab.jobs.states import JobState
from mofang_spawner.errors import ConfigurationError, ConflictError, PolicyError
from tests.jobs.notebooks import write_notebook
from tests.kube_emulator import KubeEmulator
from tests.kubernetes.fake_operators import FakeOperators
from tests.kubernetes.jobs_cluster import (
    NAMESPACE,
    NODES,
    backend_on,
    prepare,
    vision_plan,
    wait_until,
    with_claims,
)

OWNER = "ann"
PYTORCHJOBS = r"/apis/kubeflow\.org/v1/namespaces/default/pytorchjobs"
TWO = {"kind": "pytorch", "roles": {"Master": {"replicas": 1}, "Worker": {"replicas": 1}}}


@pytest.fixture
def kube() -> Any:
    with KubeEmulator(nodes=NODES, run_pods=True) as emulator:
        FakeOperators(emulator).install()
        yield with_claims(emulator)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "ann"
    write_notebook(root / "quick.ipynb", ["print('quick job done')"])
    write_notebook(root / "slow.ipynb", ["import time\ntime.sleep(3)\nprint('slow job done')"])
    return root


def jobs_on_cluster(kube: KubeEmulator) -> list[dict[str, Any]]:
    return kube.list("pytorchjobs", NAMESPACE)


def test_server_errors_on_create_are_retried_and_make_one_job(
    kube: KubeEmulator, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube.faults.fail(method="POST", path=PYTORCHJOBS, status=500, times=2)
    kube.faults.fail(method="POST", path=PYTORCHJOBS, status=429, times=1)

    async def main() -> None:
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            result = await backend.submit(OWNER, prepare(root, "quick.ipynb", backend, **TWO))
            final = await wait_until(backend, OWNER, result.job.id, lambda r: r.state.terminal)
            assert final.state == JobState.SUCCEEDED
            assert [j["metadata"]["name"] for j in jobs_on_cluster(kube)] == [result.job.id]

    asyncio.run(main())


def test_a_create_that_timed_out_but_happened_is_taken_as_made(
    kube: KubeEmulator, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The API server takes longer than the client waits; the retry finds the object.
    kube.faults.delay(method="POST", path=PYTORCHJOBS, seconds=1.5, times=1)

    async def main() -> None:
        async with backend_on(kube, root, vision_plan(), monkeypatch, request_timeout=1.0) as b:
            result = await b.submit(OWNER, prepare(root, "quick.ipynb", b, **TWO))
            assert result.created
            final = await wait_until(b, OWNER, result.job.id, lambda r: r.state.terminal)
            assert final.state == JobState.SUCCEEDED
            assert len(jobs_on_cluster(kube)) == 1

    asyncio.run(main())


@pytest.mark.parametrize(
    ("message", "error", "says"),
    [
        (
            "pytorchjobs.kubeflow.org is forbidden: User "
            '"system:serviceaccount:default:mofang-user-ann" cannot create resource',
            ConfigurationError,
            "not allowed to create",
        ),
        (
            'pytorchjobs.kubeflow.org "x" is forbidden: ValidatingAdmissionPolicy '
            "'mofang-jobs-guard' with binding 'mofang-jobs-guard' denied request: queue "
            "'nlp' is not one of your groups' queues (vision)",
            PolicyError,
            "queue 'nlp' is not one of your groups' queues",
        ),
    ],
)
def test_a_refused_create_is_a_clear_error_and_a_failed_record(
    kube: KubeEmulator,
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    message: str,
    error: type[Exception],
    says: str,
) -> None:
    kube.faults.fail(method="POST", path=PYTORCHJOBS, status=403, times=None, message=message)

    async def main() -> None:
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            with pytest.raises(error, match=says):
                await backend.submit(OWNER, prepare(root, "quick.ipynb", backend, **TWO))
            [record] = await backend.list(OWNER)
            assert record.state == JobState.FAILED and record.reason == "CreateFailed"
            assert says in record.message
            assert jobs_on_cluster(kube) == []

    asyncio.run(main())


def test_a_name_taken_by_someone_else_is_not_adopted(
    kube: KubeEmulator, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mofang_lab.backends.stored.new_job_id", lambda name: "quick-taken1")
    kube.create(
        {
            "apiVersion": "kubeflow.org/v1",
            "kind": "PyTorchJob",
            "metadata": {"name": "quick-taken1", "labels": {"team": "other"}},
            "spec": {"pytorchReplicaSpecs": {}},
        },
        namespace=NAMESPACE,
    )

    async def main() -> None:
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            with pytest.raises(ConflictError):
                await backend.submit(OWNER, prepare(root, "quick.ipynb", backend, **TWO))
            [record] = await backend.list(OWNER)
            assert record.state == JobState.FAILED and record.reason == "NameTaken"
            other = kube.get("pytorchjobs", NAMESPACE, "quick-taken1")
            assert other["metadata"]["labels"] == {"team": "other"}  # left alone

    asyncio.run(main())


def test_a_missing_queue_refuses_the_job_before_anything_is_made(
    kube: KubeEmulator, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube.delete("queues", None, "vision")

    async def main() -> None:
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            with pytest.raises(PolicyError, match=r"queue 'vision'.*does not exist"):
                await backend.submit(OWNER, prepare(root, "quick.ipynb", backend, **TWO))
            assert await backend.list(OWNER) == []
            assert not (root / "jobs").exists() or not any((root / "jobs").iterdir())
            assert jobs_on_cluster(kube) == []

    asyncio.run(main())


def test_the_same_submission_twice_makes_one_job(
    kube: KubeEmulator, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            prepared = prepare(root, "quick.ipynb", backend, idempotency_key="k-1", **TWO)
            first, second = await asyncio.gather(
                backend.submit(OWNER, prepared), backend.submit(OWNER, prepared)
            )
            assert {first.created, second.created} == {True, False}
            assert first.job.id == second.job.id
            again = await backend.submit(OWNER, prepared)
            assert not again.created and again.job.id == first.job.id
            other = prepare(root, "slow.ipynb", backend, idempotency_key="k-1", **TWO)
            with pytest.raises(ConflictError, match="already used"):
                await backend.submit(OWNER, other)
            assert len(jobs_on_cluster(kube)) == 1

    asyncio.run(main())


def test_dropped_watches_lose_no_state_change(
    kube: KubeEmulator, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube.faults.drop_watches(after_events=1, times=20)

    async def main() -> None:
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            result = await backend.submit(OWNER, prepare(root, "slow.ipynb", backend, **TWO))
            final = await wait_until(backend, OWNER, result.job.id, lambda r: r.state.terminal)
            assert final.state == JobState.SUCCEEDED
            states = [e.state for e in backend.store.events_since(OWNER, 0, result.job.id)]
            assert states[0] == JobState.CREATED and states[-1] == JobState.SUCCEEDED
            assert JobState.RUNNING in states

    asyncio.run(main())


def test_a_restarted_server_takes_up_a_job_that_finished_meanwhile(
    kube: KubeEmulator, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            result = await backend.submit(OWNER, prepare(root, "slow.ipynb", backend, **TWO))
            job_id = result.job.id
            # Running (or, on a slow machine, already done: the restart must still tell).
            await wait_until(backend, OWNER, job_id, lambda r: r.state != JobState.CREATED)
        # The server is down while the job ends.
        kube.wait_for(
            lambda: any(
                c["type"] == "Succeeded"
                for c in (kube.get("pytorchjobs", NAMESPACE, job_id).get("status") or {}).get(
                    "conditions", []
                )
            ),
            timeout=60,
        )
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            final = await wait_until(backend, OWNER, job_id, lambda r: r.state.terminal)
            assert final.state == JobState.SUCCEEDED
            assert len(jobs_on_cluster(kube)) == 1

    asyncio.run(main())


def test_a_restarted_server_creates_a_job_it_stored_but_never_created(
    kube: KubeEmulator, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> str:
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            # The server stops between storing the job and creating its object.
            prepared = prepare(root, "quick.ipynb", backend, **TWO)
            job_id = backend._fresh_id("quick")
            backend.store.insert(
                backend._cluster_record(OWNER, job_id, prepared.spec),
                network={"created": False},
                devices={},
            )
            backend.folder(job_id).write(prepared.spec, prepared.snapshot)
        assert jobs_on_cluster(kube) == []
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            final = await wait_until(backend, OWNER, job_id, lambda r: r.state.terminal)
            assert final.state == JobState.SUCCEEDED
        return job_id

    job_id = asyncio.run(main())
    assert [j["metadata"]["name"] for j in jobs_on_cluster(kube)] == [job_id]


def test_a_job_deleted_while_the_server_was_down_is_marked_failed(
    kube: KubeEmulator, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            result = await backend.submit(OWNER, prepare(root, "slow.ipynb", backend, **TWO))
            job_id = result.job.id
        kube.delete("pytorchjobs", NAMESPACE, job_id)
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            record = await backend.get(OWNER, job_id)
            assert record.state == JobState.FAILED and record.reason == "Deleted"
            assert "while the server was stopped" in record.message

    asyncio.run(main())


def test_an_error_reading_a_log_is_an_error_not_log_text(
    kube: KubeEmulator, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mofang_spawner.errors import MofangError

    async def main() -> None:
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            result = await backend.submit(OWNER, prepare(root, "quick.ipynb", backend, **TWO))
            await wait_until(backend, OWNER, result.job.id, lambda r: r.state.terminal)
            pod = f"{result.job.id}-master-0"
            with pytest.raises(MofangError, match="read the log of pod"):
                async for _ in backend.cluster.pod_log(pod, "no-such-container", follow=False):
                    pass

    asyncio.run(main())


def test_a_server_that_cannot_reach_a_cluster_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mofang_lab.backends.kubernetes import KubernetesBackend

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    backend = KubernetesBackend(root_dir=str(tmp_path), kubeconfig=str(tmp_path / "missing"))
    with pytest.raises(ConfigurationError, match=r"c\.KubernetesBackend\.kubeconfig"):
        asyncio.run(backend.start())


def test_a_record_that_cannot_be_stored_leaves_no_folder_and_no_object(
    kube: KubeEmulator, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The folder is written while the record is stored; a store that says no
    # (a full disk) takes the folder back, and nothing reaches the cluster.
    def full_disk(*args: Any, **kwargs: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    async def main() -> None:
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            prepared = prepare(root, "quick.ipynb", backend, **TWO)
            monkeypatch.setattr(backend.store, "insert", full_disk)
            with pytest.raises(sqlite3.OperationalError, match="full"):
                await backend.submit(OWNER, prepared)
            monkeypatch.undo()
            assert await backend.list(OWNER) == []
            assert not (root / "jobs").exists() or list((root / "jobs").iterdir()) == []
            assert jobs_on_cluster(kube) == []

    asyncio.run(main())


def test_a_folder_that_cannot_be_written_is_a_failed_record_and_no_object(
    kube: KubeEmulator, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_room(folder: JobFolder, *args: Any) -> None:
        folder.path.mkdir(parents=True)
        raise OSError(28, "No space left on device")

    async def main() -> None:
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            prepared = prepare(root, "quick.ipynb", backend, **TWO)
            monkeypatch.setattr(JobFolder, "write", no_room)
            with pytest.raises(OSError, match="No space left"):
                await backend.submit(OWNER, prepared)
            [record] = await backend.list(OWNER)
            assert record.state == JobState.FAILED and record.reason == "StorageError"
            assert "No space left" in record.message
            assert jobs_on_cluster(kube) == []

    asyncio.run(main())
