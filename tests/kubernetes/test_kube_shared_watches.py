"""The hub's shared watches: every update of a pod waited on reaches its spawn, and only it.

Unit tests of ``reflectors.py`` and ``waiting.py`` without an API server: the
reflectors' caches are written the way KubeSpawner's reflector writes them (a
new dict on each list, one key at a time from the watch).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, ClassVar

import pytest

from mofang_spawner.kubernetes.events import SpawnTracker, StartFailure
from mofang_spawner.kubernetes.reflectors import (
    SharedEventReflector,
    SharedPodReflector,
    SharedWatchesMixin,
    Subscriptions,
    subscriptions_for,
)
from mofang_spawner.kubernetes.waiting import Update, port_answers, wait_for_server
from tests.kubernetes.test_events import gpu_plan

NS = "default"


def pod(name: str, version: int, *, uid: str = "u1", ready: bool = False) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "Pending"}
    if ready:
        status = {
            "phase": "Running",
            "podIP": "10.0.0.1",
            "containerStatuses": [{"name": "notebook", "ready": True, "state": {"running": {}}}],
        }
    return {
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": uid,
            "resourceVersion": str(version),
        },
        "spec": {},
        "status": status,
    }


def event(name: str, pod_name: str, reason: str, message: str, *, uid: str = "u1") -> Any:
    return {
        "metadata": {"name": name, "namespace": NS, "resourceVersion": "1"},
        "involvedObject": {"kind": "Pod", "namespace": NS, "name": pod_name, "uid": uid},
        "reason": reason,
        "message": message,
        "type": "Warning",
    }


def keyed(*objects: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{NS}/{o['metadata']['name']}": o for o in objects}


def test_a_subscriber_gets_the_cached_pod_then_each_update_of_its_pod_only() -> None:
    async def run() -> None:
        subscriptions = Subscriptions()
        pods = SharedPodReflector(namespace=NS, subscriptions=subscriptions)
        pods.resources = keyed(pod("jupyter-a", 1), pod("jupyter-b", 1))
        # A new list equal to the last one: the reflector writes to the new dict next.
        pods.resources = keyed(pod("jupyter-a", 1), pod("jupyter-b", 1))
        pods.resources[f"{NS}/jupyter-a"] = pod("jupyter-a", 2)
        seen: list[Update] = []
        with subscriptions.subscribe(NS, "jupyter-a", seen.append):
            assert seen == [("pods", "ADDED", pod("jupyter-a", 2))]
            pods.resources[f"{NS}/jupyter-b"] = pod("jupyter-b", 3)
            pods.resources[f"{NS}/jupyter-a"] = pod("jupyter-a", 3)
            assert seen[-1] == ("pods", "MODIFIED", pod("jupyter-a", 3))
            # A pod gone between two watches: the new list says so.
            pods.resources = keyed(pod("jupyter-b", 4))
            assert seen[-1] == ("pods", "DELETED", pod("jupyter-a", 3))
            pods.resources[f"{NS}/jupyter-a"] = pod("jupyter-a", 5, uid="u2")
            pods.resources.pop(f"{NS}/jupyter-a", None)
            assert seen[-1] == ("pods", "DELETED", pod("jupyter-a", 5, uid="u2"))
        count = len(seen)
        pods.resources[f"{NS}/jupyter-a"] = pod("jupyter-a", 6)
        assert len(seen) == count  # unsubscribed

    asyncio.run(run())


def test_events_reach_the_spawn_of_the_pod_they_are_about() -> None:
    async def run() -> None:
        subscriptions = Subscriptions()
        events = SharedEventReflector(namespace=NS, subscriptions=subscriptions)
        events.resources = keyed(event("e1", "jupyter-a", "FailedScheduling", "old"))
        seen: list[Update] = []
        with subscriptions.subscribe(NS, "jupyter-a", seen.append):
            events.resources[f"{NS}/e2"] = event("e2", "jupyter-b", "Pulling", "b's")
            events.resources[f"{NS}/e3"] = event("e3", "jupyter-a", "Pulling", "a's")
        assert [(kind, obj["metadata"]["name"]) for kind, _, obj in seen] == [
            ("events", "e1"),
            ("events", "e3"),
        ]

    asyncio.run(run())


def feeding(
    updates: list[Update], *, after: float = 0.0
) -> Callable[[Callable[[Update], None]], AbstractContextManager[None]]:
    """A subscribe that hands over ``updates`` (after ``after`` seconds)."""

    @contextmanager
    def subscribe(deliver: Callable[[Update], None]) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        handles = [loop.call_later(after, deliver, update) for update in updates]
        try:
            yield
        finally:
            for handle in handles:
                handle.cancel()

    return subscribe


def tracker() -> SpawnTracker:
    spawn = SpawnTracker(plan=gpu_plan(), pod_name="jupyter-a", grace_seconds=0.2)
    spawn.uid = "u1"
    return spawn


def test_the_wait_ends_with_the_ready_pod_once_the_port_answers() -> None:
    answered: list[bool] = []

    async def answers(ready: dict[str, Any]) -> bool:
        answered.append(True)
        return len(answered) > 2

    ready = pod("jupyter-a", 2, ready=True)
    result = asyncio.run(
        wait_for_server(
            subscribe=feeding(
                [("pods", "ADDED", pod("jupyter-a", 1)), ("pods", "MODIFIED", ready)]
            ),
            tracker=tracker(),
            timeout=5,
            on_progress=lambda message: None,
            answers=answers,
        )
    )
    assert result == ready and len(answered) == 3


def test_the_wait_fails_at_once_on_an_unpullable_image_with_progress_said() -> None:
    said: list[str] = []
    updates: list[Update] = [
        ("events", "ADDED", event("e1", "jupyter-a", "Pulling", "Pulling image")),
        ("events", "ADDED", event("e2", "jupyter-a", "Failed", "Failed to pull image x")),
    ]
    with pytest.raises(StartFailure) as failure:
        asyncio.run(
            wait_for_server(
                subscribe=feeding(updates), tracker=tracker(), timeout=5, on_progress=said.append
            )
        )
    assert failure.value.cause == "image-pull"
    assert said and said[0].startswith("Pulling the image")


def test_a_quiet_wait_checks_the_shared_watches_and_times_out() -> None:
    checks: list[bool] = []

    async def keep_watching() -> None:
        checks.append(True)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("mofang_spawner.kubernetes.waiting._QUIET_CHECK", 0.05)
        with pytest.raises(StartFailure) as failure:
            asyncio.run(
                wait_for_server(
                    subscribe=feeding([]),
                    tracker=tracker(),
                    timeout=0.3,
                    on_progress=lambda message: None,
                    keep_watching=keep_watching,
                )
            )
    assert failure.value.cause == "timeout"
    assert checks


class _Reflector:
    """What ``_start_shared_watches`` looks at: the first list, and the watch task."""

    def __init__(self, *, watching: bool) -> None:
        loop = asyncio.get_running_loop()
        self.first_load_future: asyncio.Future[None] = loop.create_future()
        self.first_load_future.set_result(None)
        self.watch_task = loop.create_future()
        if not watching:
            self.watch_task.set_result(None)  # the watch gave up


class _Spawner(SharedWatchesMixin):
    reflectors: ClassVar[dict[tuple[str, str], Any]] = {}
    namespace = NS
    enable_user_namespaces = False
    component_label = "singleuser-server"
    k8s_api_request_retry_timeout = 1
    log = logging.getLogger(__name__)

    def __init__(self) -> None:
        self.started: list[tuple[str, bool]] = []

    def _get_reflector_key(self, kind: str) -> tuple[str, str]:
        return (kind, NS)

    async def _start_reflector(self, *, kind: str, replace: bool, **kwargs: Any) -> None:
        self.started.append((kind, replace))
        assert kwargs["subscriptions"] is subscriptions_for(NS)


def test_a_watch_that_gave_up_is_restarted_and_a_live_one_kept() -> None:
    async def run() -> list[tuple[str, bool]]:
        spawner = _Spawner()
        spawner.reflectors[("pods", NS)] = _Reflector(watching=False)
        spawner.reflectors[("events", NS)] = _Reflector(watching=True)
        await spawner._start_shared_watches()
        return spawner.started

    # The live events reflector is not a sharing one (a plain KubeSpawner's): replaced too.
    assert asyncio.run(run()) == [("pods", True), ("events", True)]


def test_the_port_check_answers_for_a_listening_port_only() -> None:
    async def run() -> tuple[bool, bool, bool]:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            listening = await port_answers(f"http://127.0.0.1:{port}/user/a/")
            by_name = await port_answers(f"http://localhost:{port}/")
        server.close()
        await server.wait_closed()
        closed = await port_answers(f"http://127.0.0.1:{port}/")
        return listening, by_name, closed

    assert asyncio.run(run()) == (True, True, False)
