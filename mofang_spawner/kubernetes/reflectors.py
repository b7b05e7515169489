"""The hub's shared watches of the servers' pods and of pod events, which spawns subscribe to.

KubeSpawner keeps one reflector per hub and namespace (``KubeSpawner.reflectors``):
a list of the servers' pods, then a watch that keeps the list current, read by
``poll``; with ``events_enabled``, a second one of the namespace's pod events.
A Mofang spawn waits on the updates of its one pod and of the events about
it (``waiting.py``); it gets them from these same two reflectors instead of
watches of its own, so a hub holds two watches (two connections of its one
API client) however many spawns wait at once, and each update is read once.

:class:`SharedPodReflector` and :class:`SharedEventReflector` are KubeSpawner's
reflectors that also hand each update to a :class:`Subscriptions`, which
passes it on to the spawns waiting on that pod (by namespace and pod name; an
event by its ``involvedObject``). The reflector's cache is a dict it writes one
update at a time and replaces on each new list (KubeSpawner relists every few
seconds, and after a dropped watch): a write is an update; a new list is
compared with the old one, so a pod that went away between two watches is
reported deleted. A subscriber first gets what the caches hold (its pod, the
events about it) and then every update, possibly twice: the tracker that
reads them tolerates repeats. Subscriptions belong to the hub, not to a
reflector: a reflector that is replaced (restarted after a failure) feeds the
same subscribers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Literal

from kubespawner.reflector import ResourceReflector
from kubespawner.spawner import EventReflector, PodReflector
from traitlets import Any as AnyTrait
from traitlets import observe, validate

from mofang_spawner.kubernetes.cluster import ClusterUnavailableError

__all__ = [
    "SharedEventReflector",
    "SharedPodReflector",
    "SharedWatchesMixin",
    "Subscriptions",
    "Update",
    "subscriptions_for",
]

WatchKind = Literal["pods", "events"]
#: ``(kind, "ADDED" | "MODIFIED" | "DELETED", object)``
Update = tuple[WatchKind, str, dict[str, Any]]
Deliver = Callable[[Update], None]

# (namespace or None for all of them) -> the subscriptions of this hub process.
_SUBSCRIPTIONS: dict[str | None, Subscriptions] = {}


class Subscriptions:
    """Who waits on which pod (``namespace/name``): the spawns, by the callbacks they gave."""

    def __init__(self) -> None:
        self._by_pod: dict[str, list[Deliver]] = {}
        self.pods: Mapping[str, dict[str, Any]] = {}
        #: The event cache by the pod each event is about: ``namespace/name`` -> key -> event.
        self.events_by_pod: dict[str, dict[str, dict[str, Any]]] = {}

    def __bool__(self) -> bool:
        return bool(self._by_pod)

    def wants(self, pod_key: str | None) -> bool:
        return pod_key is not None and pod_key in self._by_pod

    def deliver(self, pod_key: str | None, update: Update) -> None:
        if pod_key is None:
            return
        for deliver in tuple(self._by_pod.get(pod_key, ())):
            deliver(update)

    @contextmanager
    def subscribe(self, namespace: str, pod_name: str, deliver: Deliver) -> Iterator[None]:
        """Hand ``deliver`` the pod's and its events' updates until the block ends.

        The caches' current pod and events come first, before the block runs,
        so nothing between a create and this call is missed.
        """
        key = f"{namespace}/{pod_name}"
        self._by_pod.setdefault(key, []).append(deliver)
        try:
            pod = self.pods.get(key)
            if pod is not None:
                deliver(("pods", "ADDED", pod))
            for event in list(self.events_by_pod.get(key, {}).values()):
                deliver(("events", "ADDED", event))
            yield
        finally:
            waiting = self._by_pod.get(key, [])
            if deliver in waiting:
                waiting.remove(deliver)
            if not waiting:
                self._by_pod.pop(key, None)


def subscriptions_for(namespace: str | None) -> Subscriptions:
    """The hub's subscriptions for the reflectors of ``namespace`` (None: all namespaces)."""
    return _SUBSCRIPTIONS.setdefault(namespace, Subscriptions())


def _pod_subject(pod: Mapping[str, Any]) -> str | None:
    metadata = pod.get("metadata") or {}
    if not metadata.get("name"):
        return None
    return f"{metadata.get('namespace')}/{metadata['name']}"


def _event_subject(event: Mapping[str, Any]) -> str | None:
    involved = event.get("involvedObject") or {}
    if not involved.get("name"):
        return None
    namespace = involved.get("namespace") or (event.get("metadata") or {}).get("namespace")
    return f"{namespace}/{involved['name']}"


def _version(obj: Mapping[str, Any] | None) -> str | None:
    if obj is None:
        return None
    version: str | None = (obj.get("metadata") or {}).get("resourceVersion")
    return version


class _Cache(dict[str, dict[str, Any]]):
    """A reflector's cache that reports each write and removal."""

    def __init__(
        self, items: Mapping[str, dict[str, Any]], on_change: Callable[[dict[str, Any], bool], None]
    ) -> None:
        super().__init__(items)
        self._on_change = on_change

    def __setitem__(self, key: str, value: dict[str, Any]) -> None:
        super().__setitem__(key, value)
        self._on_change(value, False)

    def pop(self, key: str, *default: Any) -> Any:
        value = super().pop(key, *default)
        if isinstance(value, dict):
            self._on_change(value, True)
        return value


class _Sharing(ResourceReflector):  # type: ignore[misc]
    """What both reflectors add to KubeSpawner's: their updates go to the subscriptions."""

    subscriptions = AnyTrait(None, allow_none=True, help="The hub's Subscriptions to feed.")

    def _subject(self, obj: Mapping[str, Any]) -> str | None:
        raise NotImplementedError  # pragma: no cover - each reflector says

    def _watch_kind(self) -> WatchKind:
        return "pods" if self.kind == "pods" else "events"

    def _changed(self, obj: dict[str, Any], deleted: bool) -> None:
        subscriptions: Subscriptions | None = self.subscriptions
        if not subscriptions:
            return
        update: Update = (self._watch_kind(), "DELETED" if deleted else "MODIFIED", obj)
        subscriptions.deliver(self._subject(obj), update)

    @validate("resources")
    def _reporting_cache(self, proposal: Any) -> _Cache:
        cache = _Cache(proposal["value"], self._changed)
        # Published here, not on the change: a new list equal to the old one is
        # no change, but replaces the dict that the reflector writes to next.
        if self.subscriptions is not None:
            self._publish(self.subscriptions, cache)
        return cache

    @observe("resources")
    def _relisted(self, change: Any) -> None:
        """A new list replaced the cache: report what changed for the pods waited on."""
        subscriptions: Subscriptions | None = self.subscriptions
        if not subscriptions:
            return
        old: Mapping[str, dict[str, Any]] = change["old"] if isinstance(change["old"], dict) else {}
        new: Mapping[str, dict[str, Any]] = change["new"]
        kind = self._watch_kind()
        for key, obj in new.items():
            subject = self._subject(obj)
            if subscriptions.wants(subject) and _version(old.get(key)) != _version(obj):
                subscriptions.deliver(subject, (kind, "ADDED", obj))
        for key, obj in old.items():
            subject = self._subject(obj)
            if key not in new and subscriptions.wants(subject):
                subscriptions.deliver(subject, (kind, "DELETED", obj))

    def _publish(self, subscriptions: Subscriptions, cache: Mapping[str, dict[str, Any]]) -> None:
        raise NotImplementedError  # pragma: no cover - each reflector says


class SharedPodReflector(_Sharing, PodReflector):  # type: ignore[misc]
    """KubeSpawner's pod reflector, whose updates also go to the waiting spawns."""

    def _subject(self, obj: Mapping[str, Any]) -> str | None:
        return _pod_subject(obj)

    def _publish(self, subscriptions: Subscriptions, cache: Mapping[str, dict[str, Any]]) -> None:
        subscriptions.pods = cache


class SharedEventReflector(_Sharing, EventReflector):  # type: ignore[misc]
    """KubeSpawner's reflector of pod events, whose updates also go to the waiting spawns.

    Its cache is also kept by the pod each event is about, so a new subscriber
    gets its pod's events without a look at every event of the namespace.
    """

    def _subject(self, obj: Mapping[str, Any]) -> str | None:
        return _event_subject(obj)

    def _changed(self, obj: dict[str, Any], deleted: bool) -> None:
        subscriptions: Subscriptions | None = self.subscriptions
        subject = _event_subject(obj)
        if subscriptions is not None and subject is not None:
            metadata = obj.get("metadata") or {}
            key = f"{metadata.get('namespace')}/{metadata.get('name')}"
            if deleted:
                subscriptions.events_by_pod.get(subject, {}).pop(key, None)
            else:
                subscriptions.events_by_pod.setdefault(subject, {})[key] = obj
        super()._changed(obj, deleted)

    def _publish(self, subscriptions: Subscriptions, cache: Mapping[str, dict[str, Any]]) -> None:
        by_pod: dict[str, dict[str, dict[str, Any]]] = {}
        for key, event in cache.items():
            subject = _event_subject(event)
            if subject is not None:
                by_pod.setdefault(subject, {})[key] = event
        subscriptions.events_by_pod = by_pod


def _stopped(reflector: Any) -> bool:
    """Whether ``reflector`` no longer keeps its cache current (its first list failed, or
    its watch gave up); one still making its first list is not."""
    if reflector is None or not reflector.first_load_future.done():
        return False
    if reflector.first_load_future.cancelled() or reflector.first_load_future.exception():
        return True
    task = reflector.watch_task
    return task is None or bool(task.done())


class SharedWatchesMixin:
    """The spawner's side: start the shared reflectors, and subscribe a spawn to them.

    Mixed into ``MofangSpawner`` before ``KubeSpawner``, whose reflector methods
    it overrides so that every reflector KubeSpawner starts (its pod cache,
    and on a restart after a failure) is a sharing one.
    """

    def _subscriptions(self) -> Subscriptions:
        spawner: Any = self
        return subscriptions_for(None if spawner.enable_user_namespaces else spawner.namespace)

    async def _start_shared(
        self, kind: str, reflector_class: type, replace: bool, **kwargs: Any
    ) -> Any:
        spawner: Any = self
        current = spawner.__class__.reflectors.get(spawner._get_reflector_key(kind))
        # A plain KubeSpawner's reflector (a hub with both spawners) feeds no spawn: replaced.
        replace = replace or (current is not None and not isinstance(current, reflector_class))
        return await spawner._start_reflector(
            kind=kind,
            reflector_class=reflector_class,
            replace=replace,
            omit_namespace=spawner.enable_user_namespaces,
            subscriptions=self._subscriptions(),
            **kwargs,
        )

    async def _start_watching_pods(self, replace: bool = False) -> Any:
        spawner: Any = self
        # KubeSpawner's selector (its old component label), which poll() relies on.
        labels = {"component": spawner.component_label}
        return await self._start_shared("pods", SharedPodReflector, replace, labels=labels)

    async def _start_watching_events(self, replace: bool = False) -> Any:
        fields = {"involvedObject.kind": "Pod"}
        return await self._start_shared("events", SharedEventReflector, replace, fields=fields)

    async def _start_shared_watches(self, *, events: bool = True) -> None:
        """Start the shared pod (and event) watches, or restart one that stopped.

        A failed first list (429, 5xx) is retried until the request retry
        timeout: KubeSpawner keeps a reflector whose first list failed, and
        fails every later spawn with it; a retry replaces it.
        """
        starts: list[tuple[str, Callable[..., Awaitable[Any]]]] = [
            ("pods", self._start_watching_pods)
        ]
        if events:
            starts.append(("events", self._start_watching_events))
        for kind, start in starts:
            await self._start_with_retries(kind, start)

    async def _start_with_retries(self, kind: str, start: Callable[..., Awaitable[Any]]) -> None:
        spawner: Any = self
        deadline = time.monotonic() + spawner.k8s_api_request_retry_timeout
        pause = 0.1
        key = spawner._get_reflector_key(kind)
        replace = _stopped(spawner.__class__.reflectors.get(key))
        while True:
            try:
                await start(replace=replace)
                return
            except Exception as exc:
                if time.monotonic() + pause > deadline:
                    raise ClusterUnavailableError(
                        f"The hub could not list the servers' {kind} ({exc}). Try again in a "
                        "minute; if it persists, tell an administrator."
                    ) from exc
                spawner.log.info("Watch of %s failed to start (%s); retrying", kind, exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)
                replace = True

    def _subscribe(
        self, pod_name: str
    ) -> Callable[[Callable[[Update], None]], AbstractContextManager[None]]:
        """What ``wait_for_server`` subscribes with: this spawner's pod and its events."""
        spawner: Any = self
        subscriptions = self._subscriptions()

        def subscribe(deliver: Callable[[Update], None]) -> AbstractContextManager[None]:
            return subscriptions.subscribe(spawner.namespace, pod_name, deliver)

        return subscribe
