"""The environment contract, locally: the command and variables of every replica.

Pure functions from a ``JobSpec`` (plus the ports, paths and executables the
supervisor chose) to one :class:`Launch` per replica, giving each replica
exactly what the Kubeflow operators give a pod on a cluster:

* ``pytorch`` (Training Operator): ``MASTER_ADDR``, ``MASTER_PORT``,
  ``WORLD_SIZE`` (replicas x processes per replica), ``RANK`` (Master 0,
  Worker i -> i + 1), ``PET_MASTER_ADDR``, ``PET_MASTER_PORT``, ``PET_NNODES``,
  ``PET_NODE_RANK``, ``PET_NPROC_PER_NODE``, ``PYTHONUNBUFFERED=1``. With
  ``nproc_per_node`` the replica runs ``torchrun`` (``python -m
  torch.distributed.run``), which reads the ``PET_*`` variables as its
  arguments and starts that many processes with ``LOCAL_RANK`` and friends;
* ``tensorflow`` (TFJob): ``TF_CONFIG`` with the cluster of every role and the
  replica's own task, ``"environment": "cloud"``;
* ``mpi`` (MPIJob v2beta1): the Launcher runs ``mpirun`` over a hostfile
  named by ``OMPI_MCA_orte_default_hostfile``. Locally every Worker is this
  machine, so the hostfile is one ``localhost`` line with all the slots, and
  the Workers are the ranks ``mpirun`` starts: they are not processes the
  supervisor starts itself (``Launch.managed`` is False);
* ``python``: nothing extra.

Every replica also gets ``MOFANG_JOB_ID``, ``MOFANG_JOB_DIR``,
``MOFANG_REPLICA_TYPE`` and ``MOFANG_REPLICA_INDEX``, runs with the job
folder as its working directory, and finds modules beside the notebook on
``PYTHONPATH`` (as it would in the notebook's kernel).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from mofang_lab.jobs.spec import JobSpec, ReplicaType, replica_name

__all__ = ["Launch", "hostfile_text", "launches", "ports_needed"]


class Launch(BaseModel):
    """How one replica starts: its command and the variables of the contract."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    replica: str
    type: ReplicaType
    index: int
    argv: tuple[str, ...]
    env: dict[str, str]
    #: False for MPI Workers: their ranks are started by the Launcher's mpirun.
    managed: bool = True


def ports_needed(spec: JobSpec) -> int:
    """How many free local ports the job's replicas need to find each other."""
    if spec.kind == "pytorch":
        return 1
    if spec.kind == "tensorflow":
        return spec.total_replicas
    return 0


def hostfile_text(spec: JobSpec) -> str:
    """The MPI hostfile: every Worker is this machine, so one line with all their slots."""
    workers = spec.roles["Worker"].replicas
    return f"localhost slots={workers * spec.slots_per_worker}\n"


def launches(
    spec: JobSpec,
    *,
    job_id: str,
    job_dir: Path,
    notebook_dir: Path,
    python: str,
    mpirun: Sequence[str],
    ports: Sequence[int],
    host: str = "127.0.0.1",
    as_root: bool = False,
    devices: Mapping[str, Sequence[str]] | None = None,
) -> list[Launch]:
    """One :class:`Launch` per replica of ``spec``, in the kind's role order."""
    program = str(job_dir / "program.py")
    devices = devices or {}
    if spec.kind == "mpi":
        # The Workers' ranks are children of the Launcher's mpirun: it passes their GPUs on.
        workers = [d for name, ds in devices.items() if name.startswith("worker-") for d in ds]
        devices = {**devices, "launcher-0": workers}
    result = []
    for replica_type, index in spec.replicas():
        name = replica_name(replica_type, index)
        env = {
            **spec.env,
            "PYTHONUNBUFFERED": "1",
            "MOFANG_JOB_ID": job_id,
            "MOFANG_JOB_DIR": str(job_dir),
            "MOFANG_REPLICA_TYPE": replica_type,
            "MOFANG_REPLICA_INDEX": str(index),
            # An empty value hides every GPU: a replica gets only what it asked for.
            "CUDA_VISIBLE_DEVICES": ",".join(devices.get(name, ())),
            "PYTHONPATH": os.pathsep.join(
                part for part in (str(notebook_dir), spec.env.get("PYTHONPATH", "")) if part
            ),
        }
        argv: tuple[str, ...] = (python, program)
        managed = True
        if spec.kind == "pytorch":
            env.update(_pytorch_env(spec, replica_type, index, host, ports[0]))
            if spec.nproc_per_node is not None:
                argv = (python, "-m", "torch.distributed.run", program)
        elif spec.kind == "tensorflow":
            env["TF_CONFIG"] = _tf_config(spec, replica_type, index, host, ports)
        elif spec.kind == "mpi":
            if replica_type == "Launcher":
                env.update(_mpi_env(job_dir, as_root))
                ranks = spec.roles["Worker"].replicas * spec.slots_per_worker
                argv = (*mpirun, "-np", str(ranks), python, program)
            else:
                argv, managed = (), False
        result.append(
            Launch(
                replica=name,
                type=replica_type,
                index=index,
                argv=argv,
                env=env,
                managed=managed,
            )
        )
    return result


def _pytorch_env(
    spec: JobSpec, replica_type: ReplicaType, index: int, host: str, port: int
) -> dict[str, str]:
    nodes = spec.total_replicas
    per_node = spec.nproc_per_node or 1
    rank = 0 if replica_type == "Master" else index + 1
    return {
        "MASTER_ADDR": host,
        "MASTER_PORT": str(port),
        "WORLD_SIZE": str(nodes * per_node),
        "RANK": str(rank),
        "PET_MASTER_ADDR": host,
        "PET_MASTER_PORT": str(port),
        "PET_NNODES": str(nodes),
        "PET_NODE_RANK": str(rank),
        "PET_NPROC_PER_NODE": str(per_node),
    }


def _tf_config(
    spec: JobSpec, replica_type: ReplicaType, index: int, host: str, ports: Sequence[int]
) -> str:
    cluster: dict[str, list[str]] = {}
    free = iter(ports)
    for role, _index in spec.replicas():
        cluster.setdefault(role.lower(), []).append(f"{host}:{next(free)}")
    config = {
        "cluster": cluster,
        "task": {"type": replica_type.lower(), "index": index},
        "environment": "cloud",
    }
    return json.dumps(config)


def _mpi_env(job_dir: Path, as_root: bool) -> dict[str, str]:
    env = {"OMPI_MCA_orte_default_hostfile": str(job_dir / "hostfile")}
    if as_root:
        # Open MPI refuses to run as root unless told twice; mpi-operator's images do the same.
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    return env
