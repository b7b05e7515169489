"""Reading a starting pod: progress for the slow normal phases, early failure for hopeless ones.

:class:`SpawnTracker` is fed the pod's watch updates and its events (pure:
the caller passes the clock) and answers three questions: what to tell the
user now (scheduling, pulling the image, starting), whether the server is
ready, and whether the spawn can no longer succeed. Causes that cannot fix
themselves end the spawn at once, with a message that says what happened
and what to do:

* the image cannot be pulled (``ErrImagePull``, ``ImagePullBackOff``, an
  invalid name), the container cannot be created, or it exits while starting;

and, after ``grace_seconds`` (the scheduler retries, a claim may bind a moment
later, a mount may succeed on the kubelet's next try):

* no node has the requested GPUs (``FailedScheduling`` naming the GPU's
  resource), unless the cluster autoscaler said it is adding a node;
* no node of the group's pool matches the pod's node selector or tolerates
  its taints (and none is merely full);
* a claim is missing or unbound, or a volume cannot be mounted.

A full node pool (``Insufficient cpu``) is not hopeless: it is shown as
progress and the spawn waits, up to the hub's ``start_timeout``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mofang_spawner.errors import MofangError
from mofang_spawner.planning import ServerPlan

__all__ = ["Ready", "SpawnTracker", "StartFailure", "pod_is_ready"]

_IMAGE_REASONS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
_CONTAINER_REASONS = {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}
_POOL_MISMATCH = ("didn't match pod's node affinity/selector", "untolerated taint", "had taint")


class StartFailure(MofangError):
    """The pod can no longer become a running server; ``cause`` says why in one word."""

    status_code = 503

    def __init__(self, message: str, *, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


@dataclass(frozen=True)
class Ready:
    """The server's pod is running and its container ready."""

    pod: dict[str, Any]


def pod_is_ready(pod: Mapping[str, Any]) -> bool:
    """Running, with an IP, not being deleted, and every container ready."""
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    return (
        status.get("phase") == "Running"
        and bool(status.get("podIP"))
        and not (pod.get("metadata") or {}).get("deletionTimestamp")
        and bool(statuses)
        and all(s.get("ready") for s in statuses)
    )


class SpawnTracker:
    """What the watched pod and its events say about one spawn (see the module docstring)."""

    def __init__(self, *, plan: ServerPlan, pod_name: str, grace_seconds: float) -> None:
        self.plan = plan
        self.pod_name = pod_name
        self.grace_seconds = grace_seconds
        #: Events and updates of a pod with another uid (an earlier pod of that name) are ignored.
        self.uid: str | None = None
        self._ready: dict[str, Any] | None = None
        self._failure: StartFailure | None = None
        self._scheduled = False
        self._scaling_up = False
        self._running = False
        # cause -> (first seen, the failure to report if it lasts)
        self._pending: dict[str, tuple[float, StartFailure]] = {}
        self._said: set[str] = set()
        self._gpu_resources = tuple(plan.gpu.resources) if plan.gpu else ()

    # --- input -------------------------------------------------------------

    def observe_pod(
        self, pod: Mapping[str, Any], now: float, *, deleted: bool = False
    ) -> list[str]:
        """A watch update of the pod; returns progress messages for the user."""
        metadata = pod.get("metadata") or {}
        if metadata.get("name") != self.pod_name or not self._ours(metadata.get("uid")):
            return []
        if deleted:
            self._fail(
                "deleted",
                "The server's pod was deleted while it was starting (by an administrator or "
                "the cluster). Start the server again.",
            )
            return []
        messages: list[str] = []
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        if spec.get("nodeName") and not self._scheduled:
            self._scheduled = True
            self._clear("no-gpu", "node-pool", "storage")
            messages += self._say(f"Assigned to node {spec['nodeName']}.")
        for condition in status.get("conditions") or []:
            if (
                condition.get("type") == "PodScheduled"
                and condition.get("status") == "False"
                and condition.get("reason") == "Unschedulable"
            ):
                messages += self._unschedulable(condition.get("message") or "", now)
        if status.get("phase") == "Running":
            self._running = True
            self._clear("mount")
        if status.get("phase") in ("Failed", "Succeeded"):
            reason = status.get("reason") or status.get("message") or status["phase"]
            self._fail("exited", self._exited_message(f"the pod ended: {reason}"))
        for container in status.get("containerStatuses") or []:
            self._container(container)
        if pod_is_ready(pod):
            self._ready = dict(pod)
        return messages

    def observe_event(self, event: Mapping[str, Any], now: float) -> list[str]:
        """A Kubernetes Event about the pod; returns progress messages for the user."""
        involved = event.get("involvedObject") or {}
        if involved.get("name") != self.pod_name or not self._ours(involved.get("uid")):
            return []
        reason = event.get("reason") or ""
        message = " ".join((event.get("message") or "").split())
        if reason == "Scheduled":
            self._scheduled = True
            self._clear("no-gpu", "node-pool", "storage")
            return self._say("Assigned to a node: " + message)
        if reason == "FailedScheduling":
            return self._unschedulable(message, now)
        if reason == "TriggeredScaleUp":
            self._scaling_up = True
            return self._say("The cluster is adding a node for this server; this takes minutes.")
        if reason in ("FailedMount", "FailedAttachVolume"):
            self._pending.setdefault(
                "mount",
                (
                    now,
                    StartFailure(
                        f"The server's storage could not be mounted: {message}. The CephFS "
                        "volumes or their secrets may be misconfigured: tell an administrator.",
                        cause="mount",
                    ),
                ),
            )
            return self._say(f"Mounting storage is failing, retrying: {message}")
        if reason == "Pulling":
            return self._say(
                f"Pulling the image {self.plan.template.image} (the first start of an "
                "environment on a node can take minutes)."
            )
        if reason == "Pulled":
            return self._say("Image ready.")
        if reason in ("Failed", "BackOff", "InspectFailed", "ErrImageNeverPull") and (
            "pull" in message.lower() or "image" in message.lower()
        ):
            self._fail("image-pull", self._image_message(message))
            return []
        if reason == "Started":
            return self._say("Started; waiting for JupyterLab to answer.")
        if (event.get("type") or "") == "Warning":
            return self._say(f"{reason}: {message}")
        return []

    # --- output ------------------------------------------------------------

    def verdict(self, now: float) -> Ready | StartFailure | None:
        """Ready, failed, or ``None`` (still starting)."""
        if self._failure is not None:
            return self._failure
        if self._ready is not None:
            return Ready(self._ready)
        for cause, (since, failure) in self._pending.items():
            if cause in ("no-gpu", "node-pool") and (self._scheduled or self._scaling_up):
                continue
            if now - since >= self.grace_seconds:
                return failure
        return None

    def next_deadline(self) -> float | None:
        """When the earliest waiting cause turns into a failure (same clock as ``now``)."""
        if not self._pending:
            return None
        return min(since for since, _ in self._pending.values()) + self.grace_seconds

    # --- reading -------------------------------------------------------------

    def _ours(self, uid: str | None) -> bool:
        return self.uid is None or uid is None or uid == self.uid

    def _unschedulable(self, message: str, now: float) -> list[str]:
        if self._scheduled:
            return []
        short = message.split(" preemption:")[0].strip()
        lower = short.lower()
        cause: str | None = None
        text = ""
        group = self.plan.group.display_name
        if "persistentvolumeclaim" in lower and ("not found" in lower or "unbound" in lower):
            cause = "storage"
            text = (
                f"The server's storage is not ready: {short}. A claim it mounts is missing or "
                "not bound to a volume: tell an administrator (see the storage section of "
                "the admin guide)."
            )
        elif self.plan.gpu and any(f"insufficient {r}" in lower for r in self._gpu_resources):
            cause = "no-gpu"
            gpu = self.plan.gpu
            text = (
                f"No node has {gpu.count} free {gpu.display_name} GPU(s) for group '{group}' "
                f"right now (the scheduler says: {short}). Ask for fewer GPUs or another GPU "
                "type, or try again when GPUs are free."
            )
        elif any(p in lower for p in _POOL_MISMATCH) and "insufficient" not in lower:
            cause = "node-pool"
            selector = self.plan.placement.node_selector
            labels = ", ".join(f"{k}={v}" for k, v in selector.items()) or "none"
            text = (
                f"No node of group '{group}''s node pool can run this server (the scheduler "
                f"says: {short}). The pool's nodes need the labels {labels} and must tolerate "
                "the group's taints: tell an administrator."
            )
        if cause is not None:
            self._pending.setdefault(cause, (now, StartFailure(text, cause=cause)))
        return self._say(f"Waiting for a node: {short}")

    def _container(self, container: Mapping[str, Any]) -> None:
        state = container.get("state") or {}
        waiting = state.get("waiting") or {}
        reason = waiting.get("reason") or ""
        detail = waiting.get("message") or reason
        if reason in _IMAGE_REASONS:
            self._fail("image-pull", self._image_message(detail))
        elif reason in _CONTAINER_REASONS:
            self._fail(
                "container",
                f"The server's container could not be created: {detail}. This is a "
                "configuration problem: tell an administrator.",
            )
        elif reason == "CrashLoopBackOff":
            self._fail("exited", self._exited_message(detail))
        for key in ("state", "lastState"):
            terminated = (container.get(key) or {}).get("terminated")
            if terminated:
                code = terminated.get("exitCode")
                why = terminated.get("reason") or terminated.get("message") or "no reason given"
                self._fail("exited", self._exited_message(f"exit code {code}, {why}"))

    def _image_message(self, detail: str) -> str:
        template = self.plan.template
        return (
            f"The image {template.image} of the '{template.display_name}' environment cannot "
            f"be pulled: {detail}. Choose another environment, and tell an administrator."
        )

    def _exited_message(self, detail: str) -> str:
        return (
            f"The server stopped while starting ({detail}). Its log (kubectl logs "
            f"{self.pod_name}) says why; if it is not your own start-up code, tell an "
            "administrator."
        )

    def _fail(self, cause: str, message: str) -> None:
        if self._failure is None:
            self._failure = StartFailure(message, cause=cause)

    def _clear(self, *causes: str) -> None:
        for cause in causes:
            self._pending.pop(cause, None)

    def _say(self, message: str) -> list[str]:
        if message in self._said:
            return []
        self._said.add(message)
        return [message]
