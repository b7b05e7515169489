"""Stopping a server: delete its pod with the spawn's retry policy, and wait until it is gone.

A mixin of ``MofangSpawner`` (before ``KubeSpawner``, whose ``stop`` it
replaces); see :meth:`StoppingMixin.stop` for why KubeSpawner's own is not
enough. It reads KubeSpawner's shared pod cache (``reflectors.py``) and talks
to the API through :class:`~mofang_spawner.kubernetes.cluster.Cluster` only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from mofang_spawner.errors import MofangError
from mofang_spawner.kubernetes.cluster import Cluster, ClusterUnavailableError
from mofang_spawner.mixin import spawn_exception

__all__ = ["StoppingMixin"]


class StoppingMixin:
    """``stop`` for ``MofangSpawner``."""

    # Given by KubeSpawner and MofangSpawner (annotations only: nothing is shadowed).
    namespace: str
    pod_name: str
    delete_grace_period: int
    start_timeout: int
    user: Any
    log: logging.Logger | logging.LoggerAdapter[Any]
    pod_reflector: Any
    cluster: Callable[[], Cluster]
    _start_shared_watches: Callable[..., Awaitable[None]]
    _start_watching_pods: Callable[..., Awaitable[Any]]

    async def stop(self, now: bool = False) -> None:
        """Delete the server's pod and return once it is gone.

        KubeSpawner's own stop is one DELETE, which raises on the first error
        answer, and a wait on its pod cache; the hub then records the server as
        stopped either way, and a pod whose DELETE failed runs on. Here the
        DELETE takes the spawn's retry policy (:class:`Cluster`); the wait is
        KubeSpawner's. KubeSpawner's stop is not called after it: all it would
        add is a second DELETE, of a pod that is gone.

        A pod that cannot be deleted is not forgotten when the hub forgets the
        server: a task goes on deleting it (that pod, by its uid, never a later
        server of the same name) until it is gone, and the error says so.
        """
        grace = 0 if now else int(self.delete_grace_period)
        cluster = self.cluster()
        name = self.pod_name
        key = f"{self.namespace}/{name}"
        uid: str | None = None
        try:
            await self._start_shared_watches(events=False)
            uid = self._cached_uid(key)
            await cluster.delete_pod(name, grace_period_seconds=grace)
        except MofangError as exc:
            # The pod as the cache last saw it, or as this spawner started it.
            leftover = self._cached_uid(key) or getattr(self, "pod_id", None)
            cluster.delete_pod_later(name, uid=leftover, grace_period_seconds=grace)
            raise self._stop_failed(
                type(exc)(
                    f"The server's pod {name} could not be deleted ({exc.message}). The hub "
                    "goes on trying; until then the pod holds its resources. If it is still "
                    "there in a few minutes, tell an administrator."
                )
            ) from exc
        await self._until_dropped(cluster, key, uid)

    def _cached_uid(self, key: str) -> str | None:
        """The uid of the pod of ``key`` in KubeSpawner's pod cache (None if not there)."""
        reflector = getattr(self, "pod_reflector", None)
        pod = reflector.pods.get(key) if reflector is not None else None
        uid: str | None = ((pod or {}).get("metadata") or {}).get("uid")
        return uid

    async def _until_dropped(self, cluster: Cluster, key: str, uid: str | None) -> None:
        """Wait until KubeSpawner's pod cache, which ``poll`` reads, no longer has the pod."""
        deadline = time.monotonic() + self.start_timeout
        pause = 0.05
        while self.pod_reflector.pods.get(key) is not None:
            if time.monotonic() > deadline:
                await self._check_gone(cluster, key, uid)
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)

    async def _check_gone(self, cluster: Cluster, key: str, uid: str | None) -> None:
        """Ask the API whether a pod still in the cache is gone; raise if it is not."""
        name = key.split("/", 1)[1]
        try:
            pod = await cluster.read_pod(name)
        except MofangError as exc:
            raise self._stop_failed(exc) from exc
        if pod is None or (uid and (pod.get("metadata") or {}).get("uid") != uid):
            # Gone from the API, not from the cache: a new cache lists again.
            self.log.warning("Pod %s is gone but still in the pod cache; restarting it", key)
            await self._start_watching_pods(replace=True)
            return
        raise self._stop_failed(
            ClusterUnavailableError(
                f"The server's pod {name} is being deleted but still exists after "
                f"{self.start_timeout:g} seconds. If it is still there in a few minutes, tell "
                "an administrator (a node that does not answer keeps its pods from ending)."
            )
        )

    def _stop_failed(self, error: MofangError) -> Exception:
        # The hub does not show or log a failed stop: its log gets the message here.
        self.log.error("Could not stop %s's server: %s", self.user.name, error.message)
        failure: Exception = spawn_exception(error)
        return failure
