"""The pod status a kubelet reports at each step of a pod's life, as in-place edits.

Each function edits a pod dict (a copy inside ``Store.mutate``) to the state a
real cluster shows at that step: conditions with their reasons,
``containerStatuses`` with ``waiting`` / ``running`` / ``terminated``
states, ``podIP`` / ``hostIP``, ``startTime``, ``phase``. Clients such as
KubeSpawner read exactly these fields (``status.phase``,
``status.podIP``, ``containerStatuses[*].state``), so they are complete.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from .timestamps import now

__all__ = [
    "bind",
    "container_id",
    "set_condition",
    "set_pod_ip",
    "set_running",
    "set_starting",
    "set_terminated",
    "set_unschedulable",
    "set_waiting",
]

Obj = dict[str, Any]


def container_id() -> str:
    return f"containerd://{secrets.token_hex(32)}"


def _image_id(image: str) -> str:
    digest = hashlib.sha256(image.encode()).hexdigest()
    repository = image.split("@")[0].rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image
    if "/" not in repository:
        repository = f"docker.io/library/{repository}"
    return f"{repository}@sha256:{digest}"


def set_condition(pod: Obj, kind: str, status: bool, reason: str = "", message: str = "") -> None:
    """Set condition ``kind``; its transition time moves only when its status changes."""
    conditions: list[Obj] = pod.setdefault("status", {}).setdefault("conditions", [])
    value = "True" if status else "False"
    for condition in conditions:
        if condition["type"] == kind:
            if condition["status"] != value:
                condition["lastTransitionTime"] = now()
            condition["status"] = value
            break
    else:
        condition = {
            "type": kind,
            "status": value,
            "lastProbeTime": None,
            "lastTransitionTime": now(),
        }
        conditions.append(condition)
    for field, text in (("reason", reason), ("message", message)):
        if text:
            condition[field] = text
        else:
            condition.pop(field, None)
    order = {
        "PodReadyToStartContainers": 0,
        "Initialized": 1,
        "Ready": 2,
        "ContainersReady": 3,
        "PodScheduled": 4,
    }
    conditions.sort(key=lambda c: order.get(c["type"], 9))


def set_unschedulable(pod: Obj, message: str) -> None:
    set_condition(pod, "PodScheduled", False, "Unschedulable", message)


def bind(pod: Obj, node: str) -> None:
    """The scheduler's binding: the node, and ``PodScheduled=True``."""
    pod["spec"]["nodeName"] = node
    set_condition(pod, "PodScheduled", True)


def _statuses(pod: Obj, field: str) -> list[Obj]:
    containers = (pod.get("spec") or {}).get(field) or []
    existing = {
        s["name"]: s
        for s in pod.get("status", {}).get(
            "containerStatuses" if field == "containers" else "initContainerStatuses", []
        )
    }
    result = []
    for container in containers:
        status = existing.get(container["name"]) or {
            "name": container["name"],
            "image": container.get("image", ""),
            "imageID": "",
            "ready": False,
            "restartCount": 0,
            "started": False,
            "state": {},
            "lastState": {},
        }
        result.append(status)
    return result


def set_starting(pod: Obj, host_ip: str) -> None:
    """The kubelet has taken the pod: containers are being created."""
    status = pod.setdefault("status", {})
    status["hostIP"] = host_ip
    status["hostIPs"] = [{"ip": host_ip}]
    status.setdefault("startTime", now())
    set_condition(pod, "PodReadyToStartContainers", False)
    set_condition(pod, "Initialized", True)
    set_condition(
        pod,
        "Ready",
        False,
        "ContainersNotReady",
        f"containers with unready status: [{_names(pod)}]",
    )
    set_condition(
        pod,
        "ContainersReady",
        False,
        "ContainersNotReady",
        f"containers with unready status: [{_names(pod)}]",
    )
    init_statuses = _statuses(pod, "initContainers")
    for init in init_statuses:
        init.update(
            ready=True,
            started=False,
            imageID=_image_id(init["image"]),
            containerID=container_id(),
            state={
                "terminated": {
                    "exitCode": 0,
                    "reason": "Completed",
                    "startedAt": now(),
                    "finishedAt": now(),
                    "containerID": container_id(),
                }
            },
        )
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    statuses = _statuses(pod, "containers")
    for container in statuses:
        container["state"] = {"waiting": {"reason": "ContainerCreating"}}
    status["containerStatuses"] = statuses


def _names(pod: Obj) -> str:
    return " ".join(c["name"] for c in (pod.get("spec") or {}).get("containers") or [])


def set_pod_ip(pod: Obj, ip: str) -> None:
    status = pod.setdefault("status", {})
    status["podIP"] = ip
    status["podIPs"] = [{"ip": ip}]
    set_condition(pod, "PodReadyToStartContainers", True)


def set_waiting(pod: Obj, container: str, reason: str, message: str = "") -> None:
    """A container stuck before running (ErrImagePull, CreateContainerConfigError ...)."""
    for status in pod.get("status", {}).get("containerStatuses", []):
        if status["name"] == container:
            waiting: Obj = {"reason": reason}
            if message:
                waiting["message"] = message
            status["state"] = {"waiting": waiting}


def set_running(pod: Obj, container_ids: dict[str, str]) -> None:
    """Every container started and ready: phase Running, Ready=True."""
    status = pod.setdefault("status", {})
    started = now()
    statuses = _statuses(pod, "containers")
    for container in statuses:
        container.update(
            ready=True,
            started=True,
            imageID=_image_id(container["image"]),
            containerID=container_ids[container["name"]],
            state={"running": {"startedAt": started}},
        )
    status["containerStatuses"] = statuses
    status["phase"] = "Running"
    set_condition(pod, "ContainersReady", True)
    set_condition(pod, "Ready", True)


def set_terminated(
    pod: Obj,
    container: str,
    exit_code: int,
    *,
    final_phase: bool,
    reason: str = "",
    message: str = "",
) -> None:
    """``container`` has ended; with ``final_phase`` the pod is Succeeded or Failed."""
    status = pod.setdefault("status", {})
    finished = now()
    for entry in status.get("containerStatuses", []):
        if entry["name"] != container and not final_phase:
            continue
        running = entry.get("state", {}).get("running") or {}
        code = exit_code if entry["name"] == container else 0
        terminated: Obj = {
            "exitCode": code,
            "reason": reason or ("Completed" if code == 0 else "Error"),
            "startedAt": running.get("startedAt", finished),
            "finishedAt": finished,
        }
        if entry.get("containerID"):
            terminated["containerID"] = entry["containerID"]
        if message:
            terminated["message"] = message
        entry.update(ready=False, started=False, state={"terminated": terminated})
    if final_phase:
        status["phase"] = "Succeeded" if exit_code == 0 else "Failed"
        reason_text = "PodCompleted" if exit_code == 0 else "PodFailed"
        set_condition(pod, "Ready", False, reason_text)
        set_condition(pod, "ContainersReady", False, reason_text)
        set_condition(pod, "PodReadyToStartContainers", False)
