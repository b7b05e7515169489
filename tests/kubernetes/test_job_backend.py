"""The Kubernetes job backend end to end on the emulator, with fake operators running replicas.

Submit creates the operator's object; the fake operator and kubelet run the
replicas as local processes; the backend's watch turns conditions and pods
into job and replica states; logs come from the pods; cancel deletes the
object and its pods; a job that cannot be scheduled says why.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest

from mofang_lab.backends.base import JobRecord
from mofang_lab.jobs.states import JobState, ReplicaState
from tests.jobs.notebooks import (
    DDP_TRAINING,
    MPI_ALLREDUCE,
    TF_CHECK,
    role_notebook,
    write_notebook,
)
from tests.kube_emulator import KubeEmulator
from tests.kubernetes.fake_operators import FakeOperators
from tests.kubernetes.jobs_cluster import (
    NAMESPACE,
    NODES,
    backend_on,
    prepare,
    read_all,
    vision_plan,
    wait_until,
    with_claims,
)

OWNER = "ann"


@pytest.fixture
def kube() -> Any:
    with KubeEmulator(nodes=NODES, run_pods=True) as emulator:
        FakeOperators(emulator).install()
        yield with_claims(emulator)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_a_python_job_runs_to_success_with_its_log(
    kube: KubeEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ann"
    write_notebook(
        root / "exp" / "hello.ipynb",
        [("greeting = 'hi'", ["parameters"]), "print(greeting, 'from the cluster')"],
    )

    async def main() -> None:
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            prepared = prepare(root, "exp/hello.ipynb", backend, parameters={"greeting": "hello"})
            result = await backend.submit(OWNER, prepared)
            assert result.created and result.job.state == JobState.CREATED
            job = kube.get("jobs", NAMESPACE, result.job.id)
            assert job["metadata"]["labels"]["mofang.io/job-id"] == result.job.id
            final = await wait_until(backend, OWNER, result.job.id, lambda r: r.state.terminal)
            assert final.state == JobState.SUCCEEDED, final
            final = await wait_until(
                backend, OWNER, final.id, lambda r: r.replicas[0].state == ReplicaState.SUCCEEDED
            )
            log = await read_all(await backend.logs(OWNER, final.id, None, follow=False))
            assert "hello from the cluster" in log
            events = backend.store.events_since(OWNER, 0, final.id)
            assert events[0].state == JobState.CREATED
            assert events[-1].state == JobState.SUCCEEDED

    run(main())


def test_a_two_replica_ddp_job_trains_and_each_replica_has_its_log(
    kube: KubeEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch", reason="torch is a dev dependency; install .[dev]")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    root = tmp_path / "ann"
    write_notebook(root / "ddp.ipynb", DDP_TRAINING)

    async def main() -> None:
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            prepared = prepare(
                root,
                "ddp.ipynb",
                backend,
                kind="pytorch",
                roles={"Master": {"replicas": 1}, "Worker": {"replicas": 1}},
            )
            result = await backend.submit(OWNER, prepared)
            obj = kube.get("pytorchjobs", NAMESPACE, result.job.id)
            assert obj["spec"]["runPolicy"]["schedulingPolicy"]["minAvailable"] == 2
            final = await wait_until(
                backend, OWNER, result.job.id, lambda r: r.state.terminal, timeout=120
            )
            assert final.state == JobState.SUCCEEDED, final
            final = await wait_until(
                backend, OWNER, final.id, lambda r: r.replicas[0].state.finished
            )
            states = {r.name: r.state for r in final.replicas}
            assert states["master-0"] == ReplicaState.SUCCEEDED
            # The operator ends the job with its Master; a Worker still finishing is stopped.
            assert states["worker-0"] in (ReplicaState.SUCCEEDED, ReplicaState.STOPPED)
            master = await read_all(await backend.logs(OWNER, final.id, "master-0", follow=False))
            worker = await read_all(await backend.logs(OWNER, final.id, "worker-0", follow=False))
            assert "rank 0 of 2" in master and "rank 1 of 2" in worker

    run(main())


def test_tensorflow_replicas_get_a_consistent_tf_config(
    kube: KubeEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ann"
    write_notebook(root / "tf.ipynb", TF_CHECK)

    async def main() -> None:
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            prepared = prepare(
                root,
                "tf.ipynb",
                backend,
                kind="tensorflow",
                roles={"Chief": {"replicas": 1}, "PS": {"replicas": 1}, "Worker": {"replicas": 2}},
            )
            result = await backend.submit(OWNER, prepared)
            final = await wait_until(backend, OWNER, result.job.id, lambda r: r.state.terminal, 90)
            assert final.state == JobState.SUCCEEDED, final
            chief = await read_all(await backend.logs(OWNER, final.id, None, follow=False))
            assert "TF_CONFIG complete and consistent, 3 peers" in chief

    run(main())


@pytest.mark.skipif(shutil.which("mpirun") is None, reason="mpirun not found: install openmpi-bin")
def test_an_mpi_job_runs_its_ranks_from_the_launcher(
    kube: KubeEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mpi4py", reason="mpi4py is a dev dependency; install .[dev]")
    root = tmp_path / "ann"
    write_notebook(root / "mpi.ipynb", MPI_ALLREDUCE)

    async def main() -> None:
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            prepared = prepare(
                root, "mpi.ipynb", backend, kind="mpi", roles={"Worker": {"replicas": 2}}
            )
            result = await backend.submit(OWNER, prepared)
            obj = kube.get("mpijobs", NAMESPACE, result.job.id)
            assert obj["spec"]["mpiReplicaSpecs"]["Launcher"]["replicas"] == 1
            final = await wait_until(backend, OWNER, result.job.id, lambda r: r.state.terminal, 90)
            assert final.state == JobState.SUCCEEDED, final
            log = await read_all(await backend.logs(OWNER, final.id, None, follow=False))
            assert "rank 1 of 2: allreduce 3" in log

    run(main())


def test_a_failed_replica_fails_the_job_and_says_which(
    kube: KubeEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ann"
    role_notebook(root / "roles.ipynb", {"Master": "sleep", "Worker": "exit3"})

    async def main() -> None:
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            prepared = prepare(
                root,
                "roles.ipynb",
                backend,
                kind="pytorch",
                roles={"Master": {"replicas": 1}, "Worker": {"replicas": 1}},
            )
            result = await backend.submit(OWNER, prepared)
            final = await wait_until(backend, OWNER, result.job.id, lambda r: r.state.terminal)
            assert final.state == JobState.FAILED
            assert "worker-0 exited with code 3" in final.message
            worker = next(r for r in final.replicas if r.name == "worker-0")
            assert worker.state == ReplicaState.FAILED and worker.exit_code == 3

    run(main())


def test_cancel_deletes_the_job_and_its_pods(
    kube: KubeEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ann"
    role_notebook(root / "roles.ipynb", {})  # every replica sleeps

    async def main() -> None:
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            prepared = prepare(
                root,
                "roles.ipynb",
                backend,
                kind="pytorch",
                roles={"Master": {"replicas": 1}, "Worker": {"replicas": 2}},
            )
            result = await backend.submit(OWNER, prepared)
            job_id = result.job.id
            await wait_until(backend, OWNER, job_id, lambda r: r.state == JobState.RUNNING)
            follow = await backend.logs(OWNER, job_id, "worker-1", follow=True)
            assert "Worker-1 started" in await anext(follow)
            cancelled = await backend.cancel(OWNER, job_id)
            assert cancelled.state == JobState.CANCELLED
            assert all(r.state != ReplicaState.RUNNING for r in cancelled.replicas)
            assert kube.find("pytorchjobs", NAMESPACE, job_id) is None
            selector = f"mofang.io/job-id={job_id}"
            kube.wait_for(lambda: not kube.list("pods", NAMESPACE, label_selector=selector))
            # A second cancel answers the same; the deletion is not taken for a failure.
            assert (await backend.cancel(OWNER, job_id)).state == JobState.CANCELLED
            await asyncio.sleep(0.3)
            assert (await backend.get(OWNER, job_id)).state == JobState.CANCELLED

    run(main())


def waiting_job(
    root: Path, monkeypatch: pytest.MonkeyPatch, workers: int, reason: str, queue: Any = None
) -> JobRecord:
    """A PyTorch job (1 Master, ``workers`` Workers), held, once it waits for ``reason``.

    ``queue``: the vision queue's capability and allocation, if not the default's.
    """
    role_notebook(root / "roles.ipynb", {})

    async def main(kube: KubeEmulator) -> JobRecord:
        if queue is not None:
            kube.patch("queues", None, "vision", {"spec": {"capability": queue["capability"]}})
            kube.patch_status("queues", None, "vision", {"allocated": queue["allocated"]})
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            roles = {"Master": {"replicas": 1}, "Worker": {"replicas": workers}}
            prepared = prepare(root, "roles.ipynb", backend, kind="pytorch", roles=roles)
            result = await backend.submit(OWNER, prepared)
            return await wait_until(backend, OWNER, result.job.id, lambda r: r.reason == reason)

    with KubeEmulator(nodes=NODES, run_pods=True) as kube:
        FakeOperators(kube, hold=True).install()
        waiting: JobRecord = run(main(with_claims(kube)))
    return waiting


def test_a_job_that_cannot_be_scheduled_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    waiting = waiting_job(tmp_path / "ann", monkeypatch, 3, "Unschedulable")
    assert waiting.state == JobState.CREATED
    assert "gang scheduling" in waiting.message and "4 minAvailable" in waiting.message


def test_a_job_its_queue_cannot_hold_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Other jobs of the group hold all but 1 GiB of the queue's memory.
    queue = {"capability": {"memory": "256Gi"}, "allocated": {"memory": "255Gi"}}
    waiting = waiting_job(tmp_path / "ann", monkeypatch, 1, "QueueFull", queue)
    assert waiting.state == JobState.CREATED
    assert waiting.message.startswith("Queue 'vision' has 1 GiB memory free of 256 GiB")


def test_another_owner_cannot_see_or_touch_the_job(
    kube: KubeEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mofang_spawner.errors import NotFoundError

    root = tmp_path / "ann"
    write_notebook(root / "a.ipynb", ["print('mine')"])

    async def main() -> None:
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            result = await backend.submit(OWNER, prepare(root, "a.ipynb", backend))
            for call in (
                backend.get("bob", result.job.id),
                backend.cancel("bob", result.job.id),
                backend.logs("bob", result.job.id, None, follow=False),
                backend.events("bob", since=0, job_id=result.job.id),
            ):
                with pytest.raises(NotFoundError):
                    await call
            assert await backend.list("bob") == []
            assert backend.store.events_since("bob", 0, None) == []

    run(main())
