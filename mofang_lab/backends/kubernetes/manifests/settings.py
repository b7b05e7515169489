"""``ClusterJobSettings``: the administrator's choices that shape every job object.

Typed and validated once (from the ``KubernetesBackend`` traits), then passed
to the pure builders, so a builder never reads configuration itself and a
test can state exactly the settings it builds with.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mofang_spawner.kubernetes.storage import StorageSettings

__all__ = ["CleanPodPolicy", "ClusterJobSettings"]

#: Which pods the operator deletes when a job finishes (the operators' ``cleanPodPolicy``).
CleanPodPolicy = Literal["None", "Running", "All"]

_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


class ClusterJobSettings(BaseModel):
    """Cluster-wide settings of job objects; per-job data comes from the spec and the plan."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    storage: StorageSettings = StorageSettings()
    jobs_dir: str = Field(
        default="jobs",
        pattern=r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$",
        description="job folders, relative to the workspace root (the user's directory)",
    )
    gang_scheduler: str | None = Field(
        default="volcano",
        description="the scheduler that gang-schedules jobs; None: the cluster's default, "
        "no gang scheduling",
    )
    clean_pod_policy: CleanPodPolicy = "None"
    ttl_seconds_after_finished: int | None = Field(default=7 * 24 * 3600, ge=0)
    default_image: str | None = Field(
        default=None, description="the image of jobs submitted from a server without a plan"
    )
    default_cpu: float = Field(default=1.0, gt=0)
    default_memory_gib: float = Field(default=4.0, gt=0)
    cpu_node_selector: dict[str, str] = Field(
        default={},
        description="where CPU-only replicas (PS, Chief, Launcher, CPU jobs) run; empty: the "
        "group's node pool",
    )
    python: str = Field(default="python", min_length=1, description="the image's interpreter")
    mpi_worker_command: tuple[str, ...] = Field(
        default=("/usr/sbin/sshd", "-De"),
        min_length=1,
        description="what an MPI worker runs: the SSH daemon mpirun reaches it through",
    )
    service_account: str | None = Field(
        default=None,
        pattern=_DNS_LABEL,
        description="the pods' service account; None: the namespace's default. Job pods get "
        "no API token either way",
    )
