"""Keeping the job store in step with the cluster: watches, reconciling, and reasons to wait.

The cluster is the source of truth for what runs, the store for history.
:class:`JobWatcher` watches the job objects of every kind and their pods
(one list-then-watch stream per kind, filtered by Mofang's labels), keeps the
latest of each in memory, and after every change writes what it means into
the store: the job's state from the object's conditions, each replica's from
its pod, and, while the job waits, why (:func:`~.status.waiting_reason`). When
the server starts, :meth:`JobWatcher.reconcile` compares the store's unfinished
jobs with the objects that exist: a job whose object was never created (the
server stopped halfway through a submit) is created now, one whose object
vanished while nobody watched is marked failed, saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from mofang_lab.backends.base import JobRecord
from mofang_lab.backends.kubernetes.client import JobCluster
from mofang_lab.backends.kubernetes.manifests import JOB_ID_LABEL, JOB_KINDS, KindInfo
from mofang_lab.backends.kubernetes.status import read_job, requests_of, waiting_reason
from mofang_lab.backends.store import JobStore
from mofang_lab.jobs.spec import JobKind
from mofang_lab.jobs.states import JobState, ReplicaState
from mofang_spawner.errors import MofangError

__all__ = ["JobWatcher"]

Obj = dict[str, Any]


class JobWatcher:
    """Watches one label selector's job objects and pods, and updates the store."""

    def __init__(
        self,
        *,
        cluster: JobCluster,
        store: Callable[[], JobStore],
        selector: str,
        kinds: tuple[JobKind, ...],
        notify: Callable[[], None],
        wait_check_interval: float,
        log: logging.Logger | logging.LoggerAdapter[Any],
    ) -> None:
        self.cluster = cluster
        self._store = store
        self.selector = selector
        self.kinds = kinds
        self.notify = notify
        self.wait_check_interval = wait_check_interval
        self.log = log
        self.objects: dict[str, Obj] = {}
        self.pods: dict[str, dict[str, Obj]] = {}
        #: Jobs being cancelled: their deletion is not a failure.
        self.cancelling: set[str] = set()
        self._last_wait_check: dict[str, float] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()

    @property
    def store(self) -> JobStore:
        return self._store()

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        infos: list[KindInfo | None] = [JOB_KINDS[kind] for kind in self.kinds]
        for info in [*infos, None]:
            self._tasks.append(asyncio.ensure_future(self._watch(info)))

    async def stop(self) -> None:
        pending, self._tasks = set(self._tasks), []
        while pending:
            # Python 3.11's wait_for can swallow a cancellation that arrives as its
            # request completes (the API client's calls use it): cancel until they end.
            for task in pending:
                task.cancel()
            _done, pending = await asyncio.wait(pending, timeout=0.5)

    async def changed(self, timeout: float) -> None:
        """Wait until the watcher saw a change (or ``timeout``)."""
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    async def _watch(self, info: KindInfo | None) -> None:
        what = info.plural if info else "pods"
        pause = 1.0
        while True:
            try:
                async for kind, obj in self.cluster.watch(info, self.selector):
                    pause = 1.0
                    await self._on_event(info, kind, obj)
            except MofangError as exc:
                # The API is unreachable or refuses; the jobs keep running: try again.
                self.log.warning("Cannot watch %s (%s); trying again in %.0fs", what, exc, pause)
            except Exception:
                self.log.exception("Watching %s failed; trying again in %.0fs", what, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 30.0)

    async def _on_event(self, info: KindInfo | None, kind: str, obj: Obj) -> None:
        metadata = obj.get("metadata") or {}
        job_id = (metadata.get("labels") or {}).get(JOB_ID_LABEL)
        if not job_id:
            return
        if info is None:
            pods = self.pods.setdefault(job_id, {})
            if kind == "DELETED":
                pods.pop(metadata.get("name", ""), None)
            else:
                pods[metadata.get("name", "")] = obj
        elif kind == "DELETED":
            self.objects.pop(job_id, None)
            self._deleted(job_id)
        else:
            self.objects[job_id] = obj
        await self.sync(job_id)
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    # --- from the cluster to the store ---------------------------------------------

    async def sync(self, job_id: str) -> None:
        """Write what the cluster says about ``job_id`` into the store."""
        store = self.store
        if not store.exists(job_id):
            return  # not a job of this server's store
        record = store.record(job_id)
        obj = self.objects.get(job_id)
        if obj is None:
            return
        view = read_job(obj, self.pods.get(job_id, {}).values())
        changed = self._sync_replicas(record, view.replicas, finished_only=record.state.terminal)
        if record.state.terminal:
            # The job's end is known; a pod's own end may still arrive after it.
            if changed:
                self.notify()
            return
        reason, message = view.reason, view.message
        if view.state == JobState.CREATED:
            waiting = await self._waiting(job_id, record)
            if waiting is not None:
                reason, message = waiting
            elif record.reason in ("Unschedulable", "QueueFull", "ImagePullFailed"):
                reason, message = record.reason, record.message
        if view.state != record.state or (reason, message) != (record.reason, record.message):
            store.set_job_state(job_id, view.state, reason=reason, message=message)
            if view.state.terminal:
                self._stop_replicas(store.record(job_id))
            changed = True
        if changed:
            self.notify()

    def _sync_replicas(self, record: JobRecord, views: Any, *, finished_only: bool) -> bool:
        changed = False
        by_name = {r.name: r for r in record.replicas}
        for view in views:
            current = by_name.get(view.name)
            if current is None or (finished_only and not view.state.finished):
                continue
            fields = {
                "state": view.state,
                "restarts": view.restarts,
                "exit_code": view.exit_code,
                "message": view.message,
            }
            if any(getattr(current, k) != v for k, v in fields.items()):
                self.store.set_replica(record.id, view.name, **fields)
                changed = True
        return changed

    def _stop_replicas(self, record: JobRecord) -> None:
        for replica in record.replicas:
            if not replica.state.finished:
                self.store.set_replica(record.id, replica.name, state=ReplicaState.STOPPED)

    async def _waiting(self, job_id: str, record: JobRecord) -> tuple[str, str] | None:
        now = time.monotonic()
        if now - self._last_wait_check.get(job_id, 0.0) < self.wait_check_interval:
            return None
        self._last_wait_check[job_id] = now
        pods = list(self.pods.get(job_id, {}).values())
        try:
            pod_group = await self.cluster.pod_group(job_id) if record.kind != "python" else None
            queue_name = _queue_of(self.objects.get(job_id) or {})
            queue = await self.cluster.queue(queue_name) if queue_name else None
        except MofangError as exc:
            self.log.info("Cannot tell why job %s waits: %s", job_id, exc)
            return None
        needs = requests_of(self.objects.get(job_id) or {})
        return waiting_reason(pods=pods, pod_group=pod_group, queue=queue, needs=needs)

    def _deleted(self, job_id: str) -> None:
        store = self.store
        if job_id in self.cancelling or not store.exists(job_id):
            return
        record = store.record(job_id)
        if record.state.terminal:
            return
        store.set_job_state(
            job_id,
            JobState.FAILED,
            reason="Deleted",
            message="The job's object was deleted from the cluster while it ran.",
        )
        self._stop_replicas(store.record(job_id))
        self.notify()

    # --- after a restart ------------------------------------------------------------

    async def reconcile(self, create: Callable[[JobRecord], Any]) -> None:
        """Take up the store's unfinished jobs; ``create`` creates a job never created."""
        store = self.store
        for job_id in store.active_ids():
            record = store.record(job_id)
            info = JOB_KINDS[record.kind]
            obj = await self.cluster.read(info, job_id)
            if obj is not None:
                self.objects[job_id] = obj
                for pod in await self.cluster.pods(f"{self.selector},{JOB_ID_LABEL}={job_id}"):
                    self.pods.setdefault(job_id, {})[pod["metadata"]["name"]] = pod
                await self.sync(job_id)
                continue
            if not store.network(job_id).get("created"):
                self.log.info("Creating job %s, which the server stopped before creating", job_id)
                await create(record)
                continue
            store.set_job_state(
                job_id,
                JobState.FAILED,
                reason="Deleted",
                message="The job's object is gone from the cluster (deleted, or removed after "
                f"it finished) while the server was stopped; it was last seen {record.state}.",
            )
            self._stop_replicas(store.record(job_id))
        self.notify()


def _queue_of(obj: Obj) -> str | None:
    spec = obj.get("spec") or {}
    queue = ((spec.get("runPolicy") or {}).get("schedulingPolicy") or {}).get("queue")
    return str(queue) if queue else None
