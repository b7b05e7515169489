"""The live group quota: count what a group holds on the cluster, then fit or refuse (pure).

A group's ``quota`` (``ResourceGroup.quota``) bounds what all its servers and
jobs hold at once. The count comes from the cluster at every spawn, never
from a counter in the hub that would drift: every pod labelled with the
group (notebook servers, and the replicas of its jobs) that is not finished
or being deleted. A pod holds, per resource, the larger of its request and
its limit, with init containers counted the way the scheduler counts them.

A request that does not fit in what is left is handled like a request above a
per-server limit: lowered to what is left, and the user told, or refused, as
``Policy.over_limit`` says. CPU, memory or disk that is used up entirely
cannot be lowered to nothing, so that is always refused; GPUs that are used
up are lowered to none (a CPU server), or refused.

Listing the pods is the spawner's job (one API call); this module only counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from mofang_spawner.errors import PolicyError
from mofang_spawner.kubernetes.quantities import GIB, parse_quantity
from mofang_spawner.planning import Choices, Policy, Resources, ServerPlan, plan_server

__all__ = ["GPU_COUNT_RESOURCES", "Usage", "fit_quota", "group_usage", "pod_usage"]

#: Extended resources whose amount is a number of GPUs (of any kind).
GPU_COUNT_RESOURCES = ("nvidia.com/gpu", "volcano.sh/vgpu-number")
_MIG_PREFIX = "nvidia.com/mig-"
_FINISHED = ("Succeeded", "Failed")


class Usage(BaseModel):
    """What some pods hold: CPU cores, memory and disk in GiB, GPUs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpu: float = 0
    memory_gib: float = 0
    disk_gib: float = 0
    gpus: int = 0
    pods: tuple[str, ...] = ()

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            cpu=self.cpu + other.cpu,
            memory_gib=self.memory_gib + other.memory_gib,
            disk_gib=self.disk_gib + other.disk_gib,
            gpus=self.gpus + other.gpus,
            pods=self.pods + other.pods,
        )


def pod_usage(pod: Mapping[str, Any]) -> Usage:
    """What one pod holds (see the module docstring)."""
    spec = pod.get("spec") or {}
    totals = _sum_containers(spec.get("containers") or [])
    for init in spec.get("initContainers") or []:
        # Init containers run one at a time before the others: the pod needs
        # the most any one of them needs, if that is more than the sum.
        for key, amount in _container_amounts(init).items():
            totals[key] = max(totals.get(key, 0.0), amount)
    gpus = sum(
        amount
        for key, amount in totals.items()
        if key in GPU_COUNT_RESOURCES or key.startswith(_MIG_PREFIX)
    )
    name = (pod.get("metadata") or {}).get("name", "")
    return Usage(
        cpu=totals.get("cpu", 0.0),
        memory_gib=totals.get("memory", 0.0) / GIB,
        disk_gib=totals.get("ephemeral-storage", 0.0) / GIB,
        gpus=int(gpus),
        pods=(name,),
    )


def group_usage(pods: Iterable[Mapping[str, Any]], *, exclude: str | None = None) -> Usage:
    """What the group's live pods hold together; ``exclude`` names a pod to leave out."""
    total = Usage()
    for pod in pods:
        metadata = pod.get("metadata") or {}
        if metadata.get("name") == exclude or metadata.get("deletionTimestamp"):
            continue
        if (pod.get("status") or {}).get("phase") in _FINISHED:
            continue
        total = total + pod_usage(pod)
    return total


def fit_quota(
    *,
    plan: ServerPlan,
    groups: Sequence[str],
    quota: Resources,
    usage: Usage,
    policy: Policy,
) -> ServerPlan:
    """``plan`` if it fits in ``quota`` beside ``usage``; else lowered (and said so), or refused.

    ``groups`` are the user's groups, for planning again with lowered
    choices: the new plan goes through :func:`plan_server` like any other.
    """
    group = plan.group.display_name
    where = f"group '{group}'"
    lowered: dict[str, float] = {}
    notes: list[str] = []
    for field, label, unit, used, limit in (
        ("cpu", "CPU", "cores", usage.cpu, quota.cpu),
        ("memory_gib", "Memory", "GiB", usage.memory_gib, quota.memory_gib),
        ("disk_gib", "Disk", "GiB", usage.disk_gib, quota.disk_gib),
        ("gpus", "GPUs", "GPUs", float(usage.gpus), float(quota.gpus)),
    ):
        asked = float(getattr(plan.resources, field))
        left = max(limit - used, 0.0)
        if field == "gpus":
            left = float(int(left))
        if asked <= left + 1e-9:
            continue
        held = (
            f"{where} already holds {_num(used)} of its quota of {_num(limit)} {unit} "
            "(servers and jobs together)"
        )
        if policy.over_limit == "refuse" or (left <= 0 and field != "gpus"):
            what = f"ask for at most {_num(left)} {unit}" if left > 0 else "nothing is left"
            raise PolicyError(
                f"{label}: {_num(asked)} {unit} does not fit: {held}; {what}. "
                "Stop a server or job of the group, or try again later."
            )
        lowered[field] = left
        notes.append(f"{label} lowered from {_num(asked)} to {_num(left)} {unit}: {held}.")
    if not lowered:
        return plan
    resources = plan.resources.model_copy(update=lowered)
    gpus = int(resources.gpus)
    choices = Choices(
        template=plan.template.name,
        group=plan.group.name,
        cpu=resources.cpu,
        memory_gib=resources.memory_gib,
        disk_gib=resources.disk_gib,
        gpus=gpus,
        gpu_type=plan.gpu.type if plan.gpu is not None and gpus > 0 else None,
    )
    replanned = plan_server(plan.user, groups, choices, policy)
    return replanned.model_copy(
        update={"corrections": plan.corrections + tuple(notes), "backend": plan.backend}
    )


def _sum_containers(containers: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for container in containers:
        for key, amount in _container_amounts(container).items():
            totals[key] = totals.get(key, 0.0) + amount
    return totals


def _container_amounts(container: Mapping[str, Any]) -> dict[str, float]:
    resources = container.get("resources") or {}
    amounts: dict[str, float] = {}
    for section in ("requests", "limits"):
        for key, value in (resources.get(section) or {}).items():
            amounts[key] = max(amounts.get(key, 0.0), parse_quantity(value))
    return amounts


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
