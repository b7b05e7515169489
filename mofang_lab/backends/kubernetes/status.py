"""What the cluster says about a job, read back as Mofang's job and replica states (pure).

The operators report a job through conditions (``Created``, ``Running``,
``Restarting``, ``Succeeded``, ``Failed``; a batch Job through ``Complete`` and
``Failed``), and each replica is a pod. :func:`read_job` turns the object and
its pods into a :class:`ClusterView`; :func:`waiting_reason` says in plain words
why a job that should run does not: the Volcano PodGroup cannot be scheduled,
the group's queue has no room, a pod waits for GPUs or for its image.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from mofang_lab.backends.kubernetes.manifests.labels import (
    OPERATOR_REPLICA_INDEX_LABEL,
    ROLE_LABEL,
)
from mofang_lab.jobs.spec import ReplicaType, replica_name
from mofang_lab.jobs.states import JobState, ReplicaState
from mofang_spawner.kubernetes.quantities import parse_quantity

__all__ = ["ClusterView", "ReplicaView", "read_job", "waiting_reason"]

Obj = Mapping[str, Any]

_CONDITION_STATES = {
    "Succeeded": JobState.SUCCEEDED,
    "Complete": JobState.SUCCEEDED,
    "Failed": JobState.FAILED,
    "Restarting": JobState.RESTARTING,
    "Running": JobState.RUNNING,
    "Created": JobState.CREATED,
}
_PHASES = {
    "Pending": ReplicaState.PENDING,
    "Running": ReplicaState.RUNNING,
    "Succeeded": ReplicaState.SUCCEEDED,
    "Failed": ReplicaState.FAILED,
}
_ROLES: dict[str, ReplicaType] = {
    r.lower(): r for r in ("Master", "Worker", "Chief", "PS", "Launcher")
}


class ReplicaView(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    state: ReplicaState
    restarts: int = 0
    exit_code: int | None = None
    message: str = ""
    pod: str = ""


class ClusterView(BaseModel):
    """A job as the cluster sees it now."""

    model_config = ConfigDict(frozen=True)

    state: JobState
    reason: str = ""
    message: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    replicas: tuple[ReplicaView, ...] = ()


def read_job(obj: Obj, pods: Iterable[Obj]) -> ClusterView:
    """The state of the job ``obj`` (a custom resource or a batch Job) and its ``pods``."""
    status = obj.get("status") or {}
    state, reason, message = JobState.CREATED, "", ""
    latest: Obj | None = None
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True" or condition.get("type") not in _CONDITION_STATES:
            continue
        if latest is None or _is_later(condition, latest):
            latest = condition
    if latest is not None:
        state = _CONDITION_STATES[latest["type"]]
        reason, message = latest.get("reason", ""), latest.get("message", "")
    replicas = tuple(sorted((_replica(p) for p in pods), key=lambda r: r.name))
    if obj.get("kind") == "Job" and state == JobState.CREATED and status.get("active"):
        state = JobState.RUNNING
    return ClusterView(
        state=state,
        reason=reason,
        message=message,
        started_at=_time(status.get("startTime")),
        finished_at=_time(status.get("completionTime")) if state.terminal else None,
        replicas=replicas,
    )


def _is_later(condition: Obj, than: Obj) -> bool:
    # Terminal conditions win over the others; then the newest transition.
    rank = {"Succeeded": 2, "Complete": 2, "Failed": 2}
    a, b = rank.get(condition["type"], 1), rank.get(than["type"], 1)
    if a != b:
        return a > b
    return str(condition.get("lastTransitionTime", "")) >= str(than.get("lastTransitionTime", ""))


def _replica(pod: Obj) -> ReplicaView:
    metadata = pod.get("metadata") or {}
    labels = metadata.get("labels") or {}
    role = _ROLES.get(str(labels.get(ROLE_LABEL, "worker")), "Worker")
    index = int(labels.get(OPERATOR_REPLICA_INDEX_LABEL, 0) or 0)
    status = pod.get("status") or {}
    restarts, exit_code, message = 0, None, ""
    for container in status.get("containerStatuses") or []:
        restarts += int(container.get("restartCount", 0))
        state = container.get("state") or {}
        if "terminated" in state:
            exit_code = state["terminated"].get("exitCode")
            message = state["terminated"].get("message") or state["terminated"].get("reason", "")
        elif "waiting" in state and state["waiting"].get("reason") not in (
            None,
            "ContainerCreating",
        ):
            waiting = state["waiting"]
            message = f"{waiting.get('reason')}: {waiting.get('message', '')}".rstrip(": ")
    return ReplicaView(
        name=replica_name(role, index),
        state=_PHASES.get(status.get("phase", "Pending"), ReplicaState.PENDING),
        restarts=restarts,
        exit_code=exit_code,
        message=message,
        pod=str(metadata.get("name", "")),
    )


def waiting_reason(
    *,
    pods: Sequence[Obj],
    pod_group: Obj | None,
    queue: Obj | None,
    needs: Mapping[str, float],
) -> tuple[str, str] | None:
    """Why a job that is not running yet waits, as (reason, message), or None if it does not.

    ``needs`` are the job's total requests (:func:`requests_of`), compared with
    the queue's free capacity, resource by resource.
    """
    for pod in pods:
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (container.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff", "InvalidImageName"):
                return (
                    "ImagePullFailed",
                    f"Pod {_name(pod)} cannot pull its image: {waiting.get('message', '')}",
                )
    short = _queue_shortfall(queue, needs)
    if short:
        return "QueueFull", short
    if pod_group is not None:
        for condition in (pod_group.get("status") or {}).get("conditions") or []:
            if condition.get("type") == "Unschedulable" and condition.get("status") == "True":
                return (
                    "Unschedulable",
                    "Waiting for all replicas to fit at once (gang scheduling): "
                    f"{condition.get('message') or condition.get('reason', '')}",
                )
    for pod in pods:
        for condition in (pod.get("status") or {}).get("conditions") or []:
            if (
                condition.get("type") == "PodScheduled"
                and condition.get("status") == "False"
                and condition.get("reason") == "Unschedulable"
            ):
                message = str(condition.get("message", ""))
                what = "GPUs" if "gpu" in message.lower() else "room on a node"
                return "Unschedulable", f"Pod {_name(pod)} waits for {what}: {message}"
    return None


def requests_of(obj: Obj) -> dict[str, float]:
    """What all of a job object's pods request together (``cpu``, ``memory``, GPUs, ...).

    Every replica type's count times its containers' requests (a container's
    limit where it has no request for a resource, as Kubernetes defaults it);
    a batch Job counts its ``parallelism``. This is what Volcano admits a job
    against, so it is what a queue's free capacity is compared with.
    """
    spec = obj.get("spec") or {}
    if "template" in spec:  # a batch Job
        groups = [(int(spec.get("parallelism", 1) or 0), spec["template"])]
    else:
        groups = [
            (int(replica.get("replicas", 1) or 0), replica.get("template") or {})
            for key, replicas in spec.items()
            if key.endswith("ReplicaSpecs") and isinstance(replicas, dict)
            for replica in replicas.values()
        ]
    total: dict[str, float] = {}
    for count, template in groups:
        for container in (template.get("spec") or {}).get("containers") or []:
            resources = container.get("resources") or {}
            asked = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
            for resource, quantity in asked.items():
                total[resource] = total.get(resource, 0.0) + count * parse_quantity(quantity)
    return total


def _queue_shortfall(queue: Obj | None, needs: Mapping[str, float]) -> str:
    if queue is None:
        return ""
    capability = (queue.get("spec") or {}).get("capability") or {}
    allocated = (queue.get("status") or {}).get("allocated") or {}
    name = (queue.get("metadata") or {}).get("name", "")
    for resource, amount in sorted(needs.items()):
        if resource not in capability or amount <= 0:
            continue
        free = parse_quantity(capability[resource]) - parse_quantity(allocated.get(resource, 0))
        if free < amount:
            show = _bytes if resource == "memory" or resource.endswith("-storage") else _num
            return (
                f"Queue '{name}' has {show(max(free, 0))} {resource} free of "
                f"{show(parse_quantity(capability[resource]))}; the job needs {show(amount)}. "
                "It starts when other jobs of the group finish."
            )
    return ""


def _name(pod: Obj) -> str:
    return str((pod.get("metadata") or {}).get("name", ""))


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _bytes(value: float) -> str:
    return f"{_num(round(value / 2**30, 2))} GiB"


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
