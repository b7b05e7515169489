"""Distributed kinds end to end: TensorFlow-style PS/Worker/Chief, MPI, torchrun per replica."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.jobs.conftest import Fetch, api, log_of, server_config, wait_finished
from tests.jobs.notebooks import DDP_TRAINING, MPI_ALLREDUCE, TF_CHECK, write_notebook

HERE = Path(__file__).resolve().parent


def _has_mpi4py() -> bool:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture
def jp_server_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("local_backend")
    return server_config(**(marker.kwargs if marker else {}))


async def test_tensorflow_replicas_get_a_complete_tf_config_and_reach_their_peers(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    write_notebook(jp_root_dir / "tf.ipynb", TF_CHECK)
    created = await api(
        jp_fetch,
        "jobs",
        method="POST",
        body={
            "notebook": "tf.ipynb",
            "kind": "tensorflow",
            "roles": {"Chief": {"replicas": 1}, "PS": {"replicas": 1}, "Worker": {"replicas": 2}},
            "timeout_seconds": 120,
        },
    )
    job = await wait_finished(jp_fetch, created["id"])
    logs = {r["name"]: log_of(jp_root_dir, job, r["name"]) for r in job["replicas"]}
    assert job["state"] == "Succeeded", logs
    for name in ("chief-0", "ps-0", "worker-0", "worker-1"):
        assert f"{name}: TF_CONFIG complete and consistent, 3 peers" in logs[name]
        assert f"{name}: all 3 peers reachable, and reached me" in logs[name]
    assert "every replica checked in" in logs["chief-0"]
    # The parameter server never exits by itself: it was stopped when the Chief succeeded.
    assert {r["name"]: r["state"] for r in job["replicas"]}["ps-0"] == "Stopped"


@pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs Open MPI's mpirun (openmpi-bin)")
@pytest.mark.skipif(not _has_mpi4py(), reason="needs mpi4py (pip install mpi4py)")
async def test_mpi_ranks_allreduce_under_mpirun(jp_fetch: Fetch, jp_root_dir: Path) -> None:
    write_notebook(jp_root_dir / "mpi.ipynb", MPI_ALLREDUCE)
    created = await api(
        jp_fetch,
        "jobs",
        method="POST",
        body={"notebook": "mpi.ipynb", "kind": "mpi", "roles": {"Worker": {"replicas": 2}}},
    )
    job = await wait_finished(jp_fetch, created["id"])
    log = log_of(jp_root_dir, job, "launcher-0")
    assert job["state"] == "Succeeded", log
    assert "rank 0 of 2: allreduce 3" in log and "rank 1 of 2: allreduce 3" in log
    assert {r["state"] for r in job["replicas"]} == {"Succeeded"}
    assert (jp_root_dir / job["folder"] / "hostfile").read_text() == "localhost slots=2\n"


@pytest.mark.local_backend(mpirun=[sys.executable, str(HERE / "fake_mpirun.py")])
async def test_mpi_launcher_contract_with_a_stand_in_mpirun(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    # Runs where Open MPI is missing too: the Launcher gets the hostfile and -np.
    write_notebook(
        jp_root_dir / "mpi.ipynb",
        [
            "import os\nprint('rank', os.environ['OMPI_COMM_WORLD_RANK'], 'of', "
            "os.environ['OMPI_COMM_WORLD_SIZE'], os.environ['MOFANG_REPLICA_TYPE'])"
        ],
    )
    created = await api(
        jp_fetch,
        "jobs",
        method="POST",
        body={
            "notebook": "mpi.ipynb",
            "kind": "mpi",
            "roles": {"Worker": {"replicas": 2}},
            "slots_per_worker": 2,
        },
    )
    job = await wait_finished(jp_fetch, created["id"])
    log = log_of(jp_root_dir, job, "launcher-0")
    assert job["state"] == "Succeeded", log
    assert sorted(line for line in log.splitlines() if line.startswith("rank")) == [
        f"rank {r} of 4 Launcher" for r in range(4)
    ]
    assert [r["log"] for r in job["replicas"]] == [f"{job['folder']}/logs/launcher-0.log"] * 3


@pytest.mark.local_backend(mpirun=["no-such-mpirun"])
async def test_without_mpirun_mpi_jobs_are_refused_clearly(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    write_notebook(jp_root_dir / "mpi.ipynb", ["print(1)"])
    capabilities = await api(jp_fetch, "backend")
    assert "mpi" not in capabilities["kinds"]
    with pytest.raises(HTTPClientError) as info:
        await api(
            jp_fetch,
            "jobs",
            method="POST",
            body={"notebook": "mpi.ipynb", "kind": "mpi", "roles": {"Worker": {"replicas": 1}}},
        )
    assert info.value.code == 400 and info.value.response is not None
    assert "no-such-mpirun not found: install openmpi-bin" in info.value.response.body.decode()
    assert not (jp_root_dir / "jobs").exists()


async def test_pytorch_with_processes_per_replica_runs_torchrun(
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
            "nproc_per_node": 2,
            "parameters": {"steps": 5},
            "env": {"OMP_NUM_THREADS": "1"},
        },
    )
    job = await wait_finished(jp_fetch, created["id"])
    log = log_of(jp_root_dir, job, "master-0")
    assert job["state"] == "Succeeded", log
    # torchrun started two processes with LOCAL_RANK, reading the PET_* variables.
    assert "rank 0 of 2; RANK=0 LOCAL_RANK=0" in log
    assert "rank 1 of 2; RANK=1 LOCAL_RANK=1" in log
    assert "weights identical on 2 ranks" in log
