"""The kubelet's work on the node: from a bound pod to running containers.

For a pod the scheduler has bound, :class:`PodStartup` does what a kubelet
does, reporting each step in the pod's status and in events:

* volumes: a referenced secret or config map that is missing, or
  ``mount_fails(pod, volume)``, stops the pod at ``ContainerCreating`` with
  a ``FailedMount`` event;
* sandbox: a pod IP of its own, the next address of the pod subnet;
* images: ``Pulling`` / ``Pulled``, or, when ``image_pull_fails(image)``,
  ``Failed`` with ``ErrImagePull`` then ``BackOff`` and ``ImagePullBackOff``;
* containers: ``Created`` / ``Started``; the first container's command and
  args run as a local process when ``run_pods`` is on or the pod's
  ``emulator.mofang.io/run`` annotation is ``"true"`` (``"false"`` turns it
  off per pod), the other containers are only reported running; an
  environment that cannot be built is ``CreateContainerConfigError``, a
  command that cannot be executed ``StartError``;
* then ``Running`` and ``Ready``, and when the process exits, ``Succeeded``
  or ``Failed`` with its exit code (containers are not restarted).
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from . import podstatus
from .container_env import ContainerConfigError, container_argv, container_env
from .events import EventRecorder
from .processes import PodProcess
from .resources import ResourceType
from .store import Store

__all__ = ["RUN_ANNOTATION", "KubeletSettings", "PodRuntime", "PodStartup"]

log = logging.getLogger(__name__)
Obj = dict[str, Any]

#: Per-pod switch for running the first container as a local process.
RUN_ANNOTATION = "emulator.mofang.io/run"


class KubeletSettings(Protocol):
    """What the kubelet reads from the emulator each time it needs it (tests may change it)."""

    run_pods: bool
    image_pull_fails: Callable[[str], bool]
    mount_fails: Callable[[Obj, Obj], bool]
    pod_start_delay: float
    process_env: dict[str, str]
    pod_subnet: ipaddress.IPv4Network


@dataclass
class PodRuntime:
    """The kubelet's side of one pod (by uid: a recreated pod is a new runtime)."""

    namespace: str
    name: str
    uid: str
    log_path: Path
    process: PodProcess | None = None
    ip: str | None = None
    task: asyncio.Task[None] | None = None
    terminating: bool = False
    unschedulable_message: str = ""


class PodStartup:
    """Starts bound pods (see the module docstring); runs on the emulator's loop."""

    def __init__(
        self,
        store: Store,
        types: dict[str, ResourceType],
        recorder: EventRecorder,
        settings: KubeletSettings,
        root: Path,
        errors: list[BaseException],
    ) -> None:
        self._store = store
        self._types = types
        self._recorder = recorder
        self._settings = settings
        self._root = root
        self._errors = errors
        self._addresses = itertools.count(2)
        #: Every process started, so that a test can check none outlives the emulator.
        self.started_pids: list[int] = []

    def _should_run(self, pod: Obj) -> bool:
        annotation = ((pod.get("metadata") or {}).get("annotations") or {}).get(RUN_ANNOTATION)
        if annotation is not None:
            return str(annotation).lower() == "true"
        return bool(self._settings.run_pods)

    def _update(self, runtime: PodRuntime, change: Callable[[Obj], None]) -> Obj | None:
        if runtime.terminating:
            return None
        return self._store.mutate(self._types["pods"], runtime.namespace, runtime.name, change)

    def event(
        self,
        pod: Obj,
        reason: str,
        message: str,
        kind: str = "Normal",
        container: str | None = None,
    ) -> None:
        self._recorder.record(
            pod,
            reason,
            message,
            kind,
            component="kubelet",
            host=(pod.get("spec") or {}).get("nodeName"),
            field_path=f"spec.containers{{{container}}}" if container else None,
        )

    def _next_ip(self) -> str:
        subnet = self._settings.pod_subnet
        n = next(self._addresses)
        if n >= subnet.num_addresses - 1:
            raise RuntimeError(f"the pod subnet {subnet} has no address left")
        return str(subnet.network_address + n)

    def _host_ip(self, pod: Obj) -> str:
        node = self._store.find(self._types["nodes"], None, pod["spec"]["nodeName"])
        for address in ((node or {}).get("status") or {}).get("addresses") or []:
            if address.get("type") == "InternalIP":
                return str(address["address"])
        return "127.0.0.1"

    def _volume_problem(self, pod: Obj, volume: Obj) -> str | None:
        namespace = pod["metadata"]["namespace"]
        for field, plural, kind, key in (
            ("secret", "secrets", "secret", "secretName"),
            ("configMap", "configmaps", "configmap", "name"),
        ):
            source = volume.get(field)
            if source and not source.get("optional"):
                name = source.get(key, "")
                if self._store.find(self._types[plural], namespace, name) is None:
                    return f'{kind} "{name}" not found'
        if self._settings.mount_fails(pod, volume):
            return "mount failed: exit status 32"
        return None

    async def run(self, runtime: PodRuntime) -> None:
        try:
            await self._start_pod(runtime)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.exception("kubelet failed to run pod %s/%s", runtime.namespace, runtime.name)
            self._errors.append(error)

    async def _start_pod(self, runtime: PodRuntime) -> None:
        if self._settings.pod_start_delay > 0:
            await asyncio.sleep(self._settings.pod_start_delay)
        pod = self._store.find(self._types["pods"], runtime.namespace, runtime.name)
        if pod is None or runtime.terminating:
            return
        host_ip = self._host_ip(pod)
        pod = self._update(runtime, lambda p: podstatus.set_starting(p, host_ip))
        if pod is None:
            return
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            problem = self._volume_problem(pod, volume)
            if problem:
                self.event(
                    pod,
                    "FailedMount",
                    f'MountVolume.SetUp failed for volume "{volume.get("name")}" : {problem}',
                    "Warning",
                )
                return
        runtime.ip = ip = self._next_ip()
        pod = self._update(runtime, lambda p: podstatus.set_pod_ip(p, ip))
        if pod is None:
            return
        spec = pod["spec"]
        for container in (spec.get("initContainers") or []) + spec["containers"]:
            if not self._pull(runtime, pod, container):
                return
        first = spec["containers"][0]
        argv: list[str] = []
        env: dict[str, str] = {}
        if self._should_run(pod):
            try:
                env = self._environment(runtime, pod, first, ip)
            except ContainerConfigError as error:
                problem = str(error)
                self.event(pod, "Failed", f"Error: {problem}", "Warning", first["name"])
                self._update(
                    runtime,
                    lambda p: podstatus.set_waiting(
                        p, first["name"], "CreateContainerConfigError", problem
                    ),
                )
                return
            argv = container_argv(first, env, ip)
        ids = {c["name"]: podstatus.container_id() for c in spec["containers"]}
        for container in spec["containers"]:
            self.event(
                pod,
                "Created",
                f"Created container {container['name']}",
                container=container["name"],
            )
        if argv:
            process = PodProcess(argv, env, self._working_dir(runtime, first), runtime.log_path)
            try:
                await process.start()
            except OSError as error:
                message = (
                    "failed to create containerd task: failed to create shim task: OCI runtime "
                    f'create failed: unable to start container process: exec: "{argv[0]}": '
                    f"{error.strerror}: unknown"
                )
                self.event(pod, "Failed", f"Error: {message}", "Warning", first["name"])
                self._update(
                    runtime,
                    lambda p: podstatus.set_terminated(
                        p,
                        first["name"],
                        128,
                        final_phase=True,
                        reason="StartError",
                        message=message,
                    ),
                )
                return
            runtime.process = process
            if process.pid is not None:
                self.started_pids.append(process.pid)
            if runtime.terminating:
                return  # _terminate stops it
        for container in spec["containers"]:
            self.event(
                pod,
                "Started",
                f"Started container {container['name']}",
                container=container["name"],
            )
        self._update(runtime, lambda p: podstatus.set_running(p, ids))
        if runtime.process is not None:
            code = await runtime.process.wait()
            self._update(
                runtime,
                lambda p: podstatus.set_terminated(p, first["name"], code, final_phase=True),
            )

    def _pull(self, runtime: PodRuntime, pod: Obj, container: Obj) -> bool:
        name, image = container["name"], container.get("image", "")
        self.event(pod, "Pulling", f'Pulling image "{image}"', container=name)
        if not self._settings.image_pull_fails(image):
            self.event(
                pod,
                "Pulled",
                f'Successfully pulled image "{image}" in 0s (0s including waiting)',
                container=name,
            )
            return True
        failure = (
            f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull '
            f'and unpack image "{image}": not found: ErrImagePull'
        )
        self.event(pod, "Failed", failure, "Warning", name)
        self.event(pod, "Failed", "Error: ErrImagePull", "Warning", name)
        self._update(runtime, lambda p: podstatus.set_waiting(p, name, "ErrImagePull", failure))
        back_off = f'Back-off pulling image "{image}"'
        self.event(pod, "BackOff", back_off, container=name)
        self.event(pod, "Failed", "Error: ImagePullBackOff", "Warning", name)
        self._update(
            runtime, lambda p: podstatus.set_waiting(p, name, "ImagePullBackOff", back_off)
        )
        return False

    def _environment(
        self, runtime: PodRuntime, pod: Obj, container: Obj, ip: str
    ) -> dict[str, str]:
        namespace = pod["metadata"]["namespace"]

        def lookup(plural: str, name: str) -> Obj | None:
            return self._store.find(self._types[plural], namespace, name)

        own = container_env(container, pod, lookup, ip)
        base = dict(self._settings.process_env)
        base.setdefault("HOSTNAME", pod["metadata"]["name"])
        # An image sets HOME; here the pod's own directory stands in for it.
        base.setdefault("HOME", str(self._working_dir(runtime, container)))
        return {**base, **own}

    def _working_dir(self, runtime: PodRuntime, container: Obj) -> Path:
        wanted = container.get("workingDir")
        if wanted and os.path.isdir(wanted):
            return Path(wanted)
        path = self._root / "pods" / f"{runtime.namespace}.{runtime.name}.{runtime.uid[:8]}"
        path.mkdir(parents=True, exist_ok=True)
        return path
