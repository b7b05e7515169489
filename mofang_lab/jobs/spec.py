"""``JobSpec``: what one distributed (or plain) job is, the same on every backend.

A job has a *kind* and the *roles* of that kind, each with a replica count and
per-replica resources, exactly as the Kubeflow operators see them:

==============  =====================================  ====================================
kind            roles (replica types)                   rules
==============  =====================================  ====================================
``pytorch``     ``Master`` x1, ``Worker`` x N           ``nproc_per_node``: torchrun per replica
``tensorflow``  ``Chief`` x 0..1, ``PS`` x M, ``Worker`` x N   a Chief or at least one Worker
``mpi``         ``Launcher`` x1, ``Worker`` x N         ``slots_per_worker`` ranks per Worker
``python``      ``Worker`` x1                           one process
==============  =====================================  ====================================

The spec is per-request data: a frozen pydantic model that validates on
construction, so a spec that exists is a spec a backend can run. It carries no
backend detail (no ports, no pod names): backends derive those from it.
"""

from __future__ import annotations

import keyword
import math
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from mofang_spawner.planning import Mount

__all__ = [
    "CONTRACT_VARIABLES",
    "KINDS",
    "MAIN_ROLE",
    "ROLES",
    "JobKind",
    "JobSpec",
    "ReplicaResources",
    "ReplicaType",
    "RestartPolicy",
    "RoleSpec",
    "replica_name",
]

JobKind = Literal["pytorch", "tensorflow", "mpi", "python"]
ReplicaType = Literal["Master", "Worker", "Chief", "PS", "Launcher"]
#: The operators' restart policies. ``ExitCode``: exit codes 1-127 are permanent
#: failures, 128-255 (killed by a signal, evicted) are retried.
RestartPolicy = Literal["Never", "OnFailure", "ExitCode"]

KINDS: tuple[JobKind, ...] = ("pytorch", "tensorflow", "mpi", "python")

#: The roles each kind has, in the order replicas are listed and started.
ROLES: dict[JobKind, tuple[ReplicaType, ...]] = {
    "pytorch": ("Master", "Worker"),
    "tensorflow": ("Chief", "PS", "Worker"),
    "mpi": ("Launcher", "Worker"),
    "python": ("Worker",),
}

#: The role whose success is the job's success (and whose log is shown first).
#: A TensorFlow job without a Chief succeeds when all its Workers do.
MAIN_ROLE: dict[JobKind, ReplicaType] = {
    "pytorch": "Master",
    "tensorflow": "Chief",
    "mpi": "Launcher",
    "python": "Worker",
}

#: Variables every backend sets for a replica; a job's own ``env`` may not set them,
#: or code that works locally would see different values on the cluster.
CONTRACT_VARIABLES = frozenset(
    {
        "MASTER_ADDR",
        "MASTER_PORT",
        "WORLD_SIZE",
        "RANK",
        "LOCAL_RANK",
        "PET_MASTER_ADDR",
        "PET_MASTER_PORT",
        "PET_NNODES",
        "PET_NODE_RANK",
        "PET_NPROC_PER_NODE",
        "PYTHONUNBUFFERED",
        "TF_CONFIG",
        "OMPI_MCA_orte_default_hostfile",
        "CUDA_VISIBLE_DEVICES",
        "MOFANG_JOB_ID",
        "MOFANG_JOB_DIR",
        "MOFANG_REPLICA_TYPE",
        "MOFANG_REPLICA_INDEX",
        "MOFANG_PARAMETERS",
    }
)

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: A job never needs more replicas than this; the limit keeps a typo (``--workers
#: 2000``) from being a request a backend has to refuse in its own words.
MAX_REPLICAS = 1000


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReplicaResources(_Frozen):
    """What one replica of a role asks for. ``None``: the backend's default."""

    cpu: float | None = Field(default=None, gt=0, description="CPU cores")
    memory_gib: float | None = Field(default=None, gt=0, description="memory in GiB")
    gpus: int = Field(default=0, ge=0, le=64, description="whole GPUs")

    @field_validator("cpu", "memory_gib")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


class RoleSpec(_Frozen):
    """The replicas of one role (one ``replicaSpecs`` entry of the operator's job)."""

    replicas: int = Field(default=1, description="at least 1; leave a role out to have none")
    resources: ReplicaResources = ReplicaResources()

    @field_validator("replicas")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError(
                f"replicas must be at least 1 (got {value}); leave the role out to have none"
            )
        if value > MAX_REPLICAS:
            raise ValueError(f"replicas must be at most {MAX_REPLICAS} (got {value})")
        return value


def _finite(value: JsonValue) -> bool:
    """No NaN or infinity anywhere in ``value`` (walked without recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def replica_name(replica_type: ReplicaType, index: int) -> str:
    """``master-0``, ``ps-1``: the name of a replica in logs, files and (later) pods."""
    return f"{replica_type.lower()}-{index}"


class JobSpec(_Frozen):
    """One job, as submitted: everything a backend needs to run it."""

    name: str = Field(min_length=1, max_length=100, description="shown in lists; the id's stem")
    kind: JobKind
    notebook: str = Field(min_length=1, description="the notebook, relative to your files")
    roles: dict[ReplicaType, RoleSpec]
    nproc_per_node: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="pytorch: processes per replica, started by torchrun (the PyTorchJob's "
        "nprocPerNode); None: one process per replica",
    )
    slots_per_worker: int = Field(default=1, ge=1, le=64, description="mpi: ranks per Worker")
    image: str | None = Field(default=None, description="None: the notebook server's image")
    mounts: tuple[Mount, ...] = ()
    env: dict[str, str] = {}
    parameters: dict[str, JsonValue] = {}
    timeout_seconds: float | None = Field(
        default=None, gt=0, description="the job fails when it runs longer (activeDeadlineSeconds)"
    )
    restart_policy: RestartPolicy = "Never"
    backoff_limit: int = Field(default=3, ge=0, le=100, description="restarts before it fails")
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str) -> str:
        if _CONTROL.search(value) or not value.strip():
            raise ValueError("the job name must be printable text")
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _ENV_NAME.fullmatch(name):
                raise ValueError(
                    f"{name!r} is not a valid environment variable name "
                    "(letters, digits and '_', not starting with a digit)"
                )
            if name in CONTRACT_VARIABLES or name.startswith("PET_"):
                raise ValueError(
                    f"{name} is set by Mofang for every replica (the environment contract); "
                    "choose another name"
                )
            if "\x00" in text:
                raise ValueError(f"the value of {name} contains a NUL character")
        return value

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        for name, item in value.items():
            if not name.isidentifier() or keyword.iskeyword(name):
                raise ValueError(f"parameter {name!r} is not a valid Python variable name")
            if not _finite(item):
                # JSON parsers accept NaN and Infinity, but the injected cell would
                # say ``lr = nan``: a job that fails with a NameError after it started.
                raise ValueError(
                    f"the value of parameter {name} holds NaN or Infinity, which a notebook "
                    "cell cannot assign; use a finite number, null or a string"
                )
        return value

    @model_validator(mode="after")
    def _roles_of_kind(self) -> JobSpec:
        allowed = ROLES[self.kind]
        for role in self.roles:
            if role not in allowed:
                raise ValueError(
                    f"{self.kind} jobs have the roles {', '.join(allowed)}; "
                    f"{role!r} is not one of them"
                )
        count = {role: spec.replicas for role, spec in self.roles.items()}
        if self.kind == "pytorch" and count.get("Master") != 1:
            raise ValueError("a pytorch job has exactly 1 Master replica")
        if self.kind == "tensorflow":
            if count.get("Chief", 0) > 1:
                raise ValueError("a tensorflow job has at most 1 Chief replica")
            if not count.get("Chief") and not count.get("Worker"):
                raise ValueError("a tensorflow job needs a Chief or at least 1 Worker")
        if self.kind == "mpi":
            if count.get("Launcher") != 1:
                raise ValueError("an mpi job has exactly 1 Launcher replica")
            if not count.get("Worker"):
                raise ValueError("an mpi job needs at least 1 Worker")
        if self.kind == "python" and count.get("Worker") != 1:
            raise ValueError("a python job has exactly 1 Worker replica")
        if self.nproc_per_node is not None and self.kind != "pytorch":
            raise ValueError("nproc_per_node applies to pytorch jobs only")
        if self.slots_per_worker != 1 and self.kind != "mpi":
            raise ValueError("slots_per_worker applies to mpi jobs only")
        return self

    # --- derived views ---------------------------------------------------------

    def replicas(self) -> list[tuple[ReplicaType, int]]:
        """Every replica as (type, index), in the kind's role order."""
        return [
            (role, index)
            for role in ROLES[self.kind]
            if role in self.roles
            for index in range(self.roles[role].replicas)
        ]

    @property
    def total_replicas(self) -> int:
        return sum(spec.replicas for spec in self.roles.values())

    @property
    def total_gpus(self) -> int:
        return sum(spec.replicas * spec.resources.gpus for spec in self.roles.values())

    @property
    def main_replica(self) -> str:
        """The replica whose log a user wants first: master-0, chief-0, launcher-0, worker-0."""
        role = MAIN_ROLE[self.kind]
        if role not in self.roles:
            role = "Worker"
        return replica_name(role, 0)
