"""The fake scheduler and kubelet: what happens to a pod after it is created.

The :class:`Kubelet` subscribes to the store and, on the emulator's event
loop, takes every new pod through the steps a cluster shows:

1. **scheduling** (:mod:`scheduler`): bound to a node with a ``Scheduled``
   event, or left ``Pending`` with ``PodScheduled=False`` /
   ``Unschedulable`` and a ``FailedScheduling`` event; unscheduled pods are
   tried again whenever pods end or claims and nodes change;
2. **starting** on the node (:mod:`startup`): volumes, pod IP, images,
   containers, the first container's process, ``Running``, exit;
3. **deletion**: a pod bound to a node is deleted gracefully: the store marks
   it, the kubelet sends SIGTERM to the process group, SIGKILL after the
   grace period, then removes the object (the ``DELETED`` event). A pod
   removed without waiting (grace 0, its namespace deleted) has its process
   killed afterwards.

Every scheduler name is served (a pod for Volcano is scheduled here too).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from pathlib import Path
from typing import Any

from . import podstatus
from .events import EventRecorder
from .resources import Registry, ResourceType
from .scheduler import schedule
from .startup import RUN_ANNOTATION, KubeletSettings, PodRuntime, PodStartup
from .store import Store, StoreEvent

__all__ = ["RUN_ANNOTATION", "Kubelet", "KubeletSettings", "PodRuntime"]

log = logging.getLogger(__name__)
Obj = dict[str, Any]

_TERMINAL = ("Succeeded", "Failed")


class Kubelet:
    """See the module docstring. Runs on the emulator's loop; ``attach`` it there."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        recorder: EventRecorder,
        settings: KubeletSettings,
        root: Path,
        errors: list[BaseException],
    ) -> None:
        self._store = store
        self._recorder = recorder
        self._root = root
        self._errors = errors
        self._types: dict[str, ResourceType] = {}
        for plural in ("pods", "nodes", "persistentvolumeclaims", "secrets", "configmaps"):
            rtype = registry.by_path("", "v1", plural)
            assert rtype is not None
            self._types[plural] = rtype
        self._runtimes: dict[str, PodRuntime] = {}
        self._pending: list[str] = []
        self._queue: asyncio.Queue[StoreEvent | None] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._startup = PodStartup(store, self._types, recorder, settings, root, errors)

    # -- wiring ------------------------------------------------------------------

    def attach(self) -> None:
        """Start following the store (call on the emulator's loop)."""
        self._loop = asyncio.get_running_loop()
        self._store.graceful_deletion = self._deletes_gracefully
        self._store.subscribe(self._on_store_event)
        self._dispatcher = self._loop.create_task(self._dispatch())

    def runtime(self, uid: str) -> PodRuntime | None:
        return self._runtimes.get(uid)

    @property
    def started_pids(self) -> list[int]:
        """The pids of every pod process this kubelet started."""
        return list(self._startup.started_pids)

    def _deletes_gracefully(self, rtype: ResourceType, obj: Obj) -> bool:
        # Called under the store lock, from any thread: only reads.
        runtime = self._runtimes.get(obj["metadata"].get("uid", ""))
        return (
            rtype.key == ("", "pods")
            and runtime is not None
            and bool((obj.get("spec") or {}).get("nodeName"))
            and (obj.get("status") or {}).get("phase") not in _TERMINAL
        )

    def _on_store_event(self, event: StoreEvent) -> None:
        if event.rtype.group or event.rtype.plural not in self._types or self._loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)

    def _spawn(self, coroutine: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _dispatch(self) -> None:
        while (event := await self._queue.get()) is not None:
            try:
                self._handle(event)
            except Exception as error:  # a bug here must fail the test, not hang it
                log.exception("kubelet failed on %s %s", event.type, event.rtype.kind)
                self._errors.append(error)

    def _handle(self, event: StoreEvent) -> None:
        if event.rtype.plural != "pods":
            if event.rtype.plural in ("nodes", "persistentvolumeclaims"):
                self._schedule_pending()
            return
        metadata = event.obj["metadata"]
        uid = metadata["uid"]
        runtime = self._runtimes.get(uid)
        if event.type == "ADDED" and runtime is None:
            runtime = PodRuntime(
                metadata["namespace"], metadata["name"], uid, self._root / "logs" / f"{uid}.log"
            )
            self._runtimes[uid] = runtime
            if (event.obj.get("spec") or {}).get("nodeName"):
                runtime.task = self._spawn(self._startup.run(runtime))
            else:
                self._pending.append(uid)
                self._schedule_pending()
        elif event.type == "MODIFIED" and runtime is not None:
            if metadata.get("deletionTimestamp") and not runtime.terminating:
                runtime.terminating = True
                grace = float(metadata.get("deletionGracePeriodSeconds") or 0)
                self._spawn(self._terminate(runtime, grace))
            if (event.obj.get("status") or {}).get("phase") in _TERMINAL:
                self._schedule_pending()
        elif event.type == "DELETED":
            if runtime is not None:
                self._runtimes.pop(uid, None)
                runtime.terminating = True
                if runtime.task is not None:
                    runtime.task.cancel()
                if runtime.process is not None and runtime.process.exit_code is None:
                    # Removed without waiting (grace 0, namespace deletion):
                    # the kubelet kills what is left.
                    self._spawn(runtime.process.stop(0))
            if uid in self._pending:
                self._pending.remove(uid)
            self._schedule_pending()

    async def shutdown(self) -> None:
        """Stop everything: the dispatcher, every pod's task and process."""
        self._store.unsubscribe(self._on_store_event)
        self._store.graceful_deletion = None
        self._queue.put_nowait(None)
        if self._dispatcher is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        stops = [
            runtime.process.stop(1.0)
            for runtime in self._runtimes.values()
            if runtime.process is not None
        ]
        await asyncio.gather(*stops, return_exceptions=True)

    # -- scheduling --------------------------------------------------------------

    def _schedule_pending(self) -> None:
        """Try every unscheduled pod, oldest first, against what is left on the nodes."""
        if not self._pending:
            return
        nodes, _ = self._store.list_objects(self._types["nodes"])
        pods, _ = self._store.list_objects(self._types["pods"])
        by_node: dict[str, list[Obj]] = {}
        for pod in pods:
            node = (pod.get("spec") or {}).get("nodeName")
            if node and (pod.get("status") or {}).get("phase") not in _TERMINAL:
                by_node.setdefault(node, []).append(pod)
        for uid in list(self._pending):
            runtime = self._runtimes.get(uid)
            current = (
                self._store.find(self._types["pods"], runtime.namespace, runtime.name)
                if runtime
                else None
            )
            if (
                runtime is None
                or current is None
                or current["metadata"]["uid"] != uid
                or current["metadata"].get("deletionTimestamp")
            ):
                self._pending.remove(uid)  # gone, or being deleted
                continue
            if self._try_to_bind(runtime, current, nodes, by_node):
                self._pending.remove(uid)

    def _try_to_bind(
        self, runtime: PodRuntime, pod: Obj, nodes: list[Obj], by_node: dict[str, list[Obj]]
    ) -> bool:
        pods_type = self._types["pods"]
        namespace = runtime.namespace
        claims = functools.partial(
            self._store.find, self._types["persistentvolumeclaims"], namespace
        )
        result = schedule(pod, nodes, by_node, claims)
        scheduler = (pod.get("spec") or {}).get("schedulerName") or "default-scheduler"
        if result.node is None:
            if result.message != runtime.unschedulable_message:
                # Reported once per distinct reason, not on every retry.
                runtime.unschedulable_message = result.message
                updated = self._store.mutate(
                    pods_type,
                    namespace,
                    runtime.name,
                    functools.partial(podstatus.set_unschedulable, message=result.message),
                )
                self._recorder.record(
                    updated or pod,
                    "FailedScheduling",
                    result.message,
                    "Warning",
                    component=scheduler,
                )
            return False
        bound = self._store.mutate(
            pods_type, namespace, runtime.name, functools.partial(podstatus.bind, node=result.node)
        )
        if bound is not None:
            by_node.setdefault(result.node, []).append(bound)
            self._recorder.record(
                bound,
                "Scheduled",
                f"Successfully assigned {namespace}/{runtime.name} to {result.node}",
                component=scheduler,
            )
            runtime.task = self._spawn(self._startup.run(runtime))
        return True

    async def _terminate(self, runtime: PodRuntime, grace: float) -> None:
        """Graceful deletion: stop the containers, then let the object go."""
        try:
            if runtime.task is not None and not runtime.task.done():
                runtime.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await runtime.task
            pods = self._types["pods"]
            if runtime.process is not None:
                pod = self._store.find(pods, runtime.namespace, runtime.name)
                first = pod["spec"]["containers"][0]["name"] if pod else ""
                if pod:
                    self._startup.event(
                        pod, "Killing", f"Stopping container {first}", container=first
                    )
                code = await runtime.process.stop(grace)
                self._store.mutate(
                    pods,
                    runtime.namespace,
                    runtime.name,
                    lambda p: podstatus.set_terminated(p, first, code, final_phase=False),
                )
            current = self._store.find(pods, runtime.namespace, runtime.name)
            if current is not None and current["metadata"]["uid"] == runtime.uid:
                self._store.remove(pods, runtime.namespace, runtime.name)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.exception("kubelet failed to stop pod %s/%s", runtime.namespace, runtime.name)
            self._errors.append(error)
