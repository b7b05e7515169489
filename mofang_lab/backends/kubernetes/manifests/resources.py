"""What each role of a job gets on the cluster, checked against what the user's group allows.

A replica asks for the CPU and memory of its role in the spec, or by default
those of the notebook server it was submitted from; GPUs of the server's GPU
type, or the group's first GPU type when the server has none. Everything is
checked against the plan's :class:`~mofang_spawner.planning.JobPolicy` (the
hub's policy, carried in the server's plan) before an object is built, so a
request beyond it is refused with a message saying what is allowed, and no
object reaches the cluster.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict

from mofang_lab.backends.kubernetes.manifests.settings import ClusterJobSettings
from mofang_lab.jobs.spec import JobSpec, ReplicaType
from mofang_spawner.errors import PolicyError
from mofang_spawner.planning import JobGpuType, JobPolicy, ServerPlan

__all__ = ["RoleResources", "role_resources"]

_GIB = 1024**3
_PLAIN_GPU = JobGpuType(
    name="gpu", display_name="GPU", kind="whole", count_resource="nvidia.com/gpu"
)


class RoleResources(BaseModel):
    """The resources of one replica of a role, as decided."""

    model_config = ConfigDict(frozen=True)

    cpu: float
    memory_gib: float
    gpus: int
    gpu_type: JobGpuType | None

    def container_resources(self) -> dict[str, dict[str, str]]:
        """The container's ``resources``: requests equal limits (Guaranteed, as quota counts)."""
        amounts = {"cpu": _cpu(self.cpu), "memory": _memory(self.memory_gib)}
        if self.gpu_type is not None and self.gpus:
            amounts.update(self.gpu_type.resources(self.gpus))
        return {"requests": dict(amounts), "limits": dict(amounts)}


def role_resources(
    *, spec: JobSpec, role: ReplicaType, plan: ServerPlan | None, settings: ClusterJobSettings
) -> RoleResources:
    """The resources of ``role``, or :class:`PolicyError` when the group does not allow them."""
    asked = spec.roles[role].resources
    cpu = asked.cpu or (plan.resources.cpu if plan else settings.default_cpu)
    memory = asked.memory_gib or (
        plan.resources.memory_gib if plan else settings.default_memory_gib
    )
    policy = plan.jobs if plan is not None else None
    gpu_type = None
    if asked.gpus:
        gpu_type = _gpu_type(plan, policy)
    if policy is not None:
        _check_limits(policy, role, cpu=cpu, memory=memory, gpus=asked.gpus, group=_group(plan))
    return RoleResources(cpu=cpu, memory_gib=memory, gpus=asked.gpus, gpu_type=gpu_type)


def check_quota(*, spec: JobSpec, plan: ServerPlan | None) -> None:
    """Refuse a job bigger than the group's whole quota: it could never be scheduled."""
    policy = plan.jobs if plan is not None else None
    if policy is None or policy.quota is None:
        return
    if spec.total_gpus > policy.quota.gpus:
        raise PolicyError(
            f"The job asks for {spec.total_gpus} GPUs in all; group '{_group(plan)}' has "
            f"{policy.quota.gpus} GPUs in its quota. Ask for fewer GPUs or fewer replicas."
        )


def _group(plan: ServerPlan | None) -> str:
    return plan.group.display_name or plan.group.name if plan is not None else ""


def _gpu_type(plan: ServerPlan | None, policy: JobPolicy | None) -> JobGpuType:
    if plan is None or policy is None:
        # No hub policy to apply (a server not started by a Mofang hub): whole GPUs,
        # wherever the cluster's own scheduler, quota and admission allow them.
        return _PLAIN_GPU
    name = plan.gpu.type if plan.gpu is not None else None
    gpu_type = policy.gpu_type(name)
    if gpu_type is None:
        if name is not None:
            offered = ", ".join(t.name for t in policy.gpu_types) or "none"
            raise PolicyError(
                f"GPU type '{name}' of your server is not offered to jobs of group "
                f"'{_group(plan)}' (offered: {offered}). Restart your server with one of them."
            )
        raise PolicyError(
            f"Group '{_group(plan)}' has no GPUs for jobs; ask for 0 GPUs, or ask an "
            "administrator for a group with GPUs."
        )
    return gpu_type


def _check_limits(
    policy: JobPolicy, role: ReplicaType, *, cpu: float, memory: float, gpus: int, group: str
) -> None:
    limits = policy.replica_limits
    for what, value, cap, unit in (
        ("CPU", cpu, limits.cpu, "cores"),
        ("memory", memory, limits.memory_gib, "GiB"),
        ("GPUs", gpus, limits.gpus, "GPUs"),
    ):
        if value > cap:
            raise PolicyError(
                f"Each {role} replica asks for {_num(value)} {unit} of {what}; group "
                f"'{group}' allows at most {_num(cap)} {unit} per replica. Ask for less, or "
                "spread the work over more replicas."
            )


def _cpu(value: float) -> str:
    millis = round(value * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def _memory(gib: float) -> str:
    mib = gib * 1024
    if float(gib).is_integer():
        return f"{int(gib)}Gi"
    if float(mib).is_integer():
        return f"{int(mib)}Mi"
    return str(math.ceil(gib * _GIB))


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
