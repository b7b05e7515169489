"""Watch streams, through ``kubernetes_asyncio``'s ``Watch`` and as raw HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import watch
from kubernetes_asyncio.client import ApiException, CoreV1Api

from tests.kube_emulator import KubeEmulator
from tests.kube_emulator.clients import kubernetes_client


@pytest.fixture
def kube() -> Iterator[KubeEmulator]:
    with KubeEmulator(kubelet=False) as emulator:
        yield emulator


def config_map(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": {"v": "1"},
    }


async def raw_events(kube: KubeEmulator, query: str, count: int) -> list[dict[str, Any]]:
    """Read ``count`` lines of a watch on config maps, then hang up."""
    url = f"{kube.url}/api/v1/namespaces/default/configmaps?{query}"
    events = []
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/json")
        for _ in range(count):
            line = await asyncio.wait_for(response.content.readline(), 10)
            events.append(json.loads(line))
    return events


async def drain(stream: watch.Watch) -> list[Any]:
    async with stream:
        return [event async for event in stream]


def test_watch_replays_history_after_a_resource_version(kube: KubeEmulator) -> None:
    kube.create(config_map("a"))
    since = kube.store.resource_version
    kube.create(config_map("b"))
    kube.patch("configmaps", "default", "a", {"data": {"v": "2"}})
    kube.delete("configmaps", "default", "b")

    async def scenario() -> list[tuple[str, str, str]]:
        seen = []
        async with kubernetes_client(kube) as api:
            v1 = CoreV1Api(api)
            stream = watch.Watch().stream(
                v1.list_namespaced_config_map,
                "default",
                resource_version=str(since),
                timeout_seconds=1,
            )
            async with stream:
                async for event in stream:
                    obj = event["object"]
                    seen.append((event["type"], obj.metadata.name, obj.metadata.resource_version))
        return seen

    seen = asyncio.run(scenario())
    assert [(t, n) for t, n, _ in seen] == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    versions = [int(v) for _, _, v in seen]
    assert versions == sorted(versions) and versions[0] > since


def test_watch_without_version_starts_with_the_current_objects(kube: KubeEmulator) -> None:
    kube.create(config_map("a"))
    kube.create(config_map("b"))
    events = asyncio.run(raw_events(kube, "watch=1", 2))
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
    ]
    assert events[0]["object"]["kind"] == "ConfigMap"  # watch objects keep their kind


@pytest.mark.parametrize("spelling", ["true", "True", "1"])
def test_both_spellings_of_watch_stream_events(kube: KubeEmulator, spelling: str) -> None:
    since = kube.store.resource_version
    kube.create(config_map("a"))
    events = asyncio.run(raw_events(kube, f"watch={spelling}&resourceVersion={since}", 1))
    assert events[0]["type"] == "ADDED" and events[0]["object"]["metadata"]["name"] == "a"


def test_timeout_seconds_ends_the_stream_cleanly(kube: KubeEmulator) -> None:
    async def scenario() -> list[Any]:
        async with kubernetes_client(kube) as api:
            v1 = CoreV1Api(api)
            stream = watch.Watch().stream(
                v1.list_namespaced_config_map,
                "default",
                resource_version=str(kube.store.resource_version),
                timeout_seconds=1,
            )
            async with stream:
                return [event async for event in stream]

    assert asyncio.run(scenario()) == []
    watches = [r for r in kube.requests if r.query.get("watch")]
    assert watches[0].query["timeoutSeconds"] == ["1"]
    assert watches[0].query["watch"] == ["True"]  # kubernetes_asyncio's spelling


def test_too_old_resource_version_is_410_gone(kube: KubeEmulator) -> None:
    kube.create(config_map("a"))
    old = kube.store.resource_version
    kube.create(config_map("b"))
    kube.compact()

    async def scenario() -> ApiException:
        async with kubernetes_client(kube) as api:
            v1 = CoreV1Api(api)
            stream = watch.Watch().stream(
                v1.list_namespaced_config_map,
                "default",
                resource_version=str(old - 1),
                timeout_seconds=5,
            )
            with pytest.raises(ApiException) as caught:
                await drain(stream)
            return caught.value

    error = asyncio.run(scenario())
    assert error.status == 410
    raw = asyncio.run(raw_events(kube, f"watch=true&resourceVersion={old - 1}", 1))[0]
    assert raw["type"] == "ERROR"
    assert raw["object"]["code"] == 410 and raw["object"]["reason"] == "Expired"
    assert raw["object"]["kind"] == "Status"
    assert raw["object"]["message"].startswith(f"too old resource version: {old - 1}")


def test_selected_watch_sees_objects_enter_and_leave_the_selection(kube: KubeEmulator) -> None:
    since = kube.store.resource_version
    kube.create(config_map("a", app="web"))
    kube.create(config_map("other", app="db"))
    kube.patch("configmaps", "default", "a", {"metadata": {"labels": {"app": "api"}}})
    kube.patch("configmaps", "default", "other", {"metadata": {"labels": {"app": "web"}}})
    events = asyncio.run(
        raw_events(kube, f"watch=true&resourceVersion={since}&labelSelector=app%3Dweb", 3)
    )
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "a"),
        ("DELETED", "a"),
        ("ADDED", "other"),
    ]


def test_watch_on_one_namespace_ignores_others(kube: KubeEmulator) -> None:
    since = kube.store.resource_version
    kube.create({**config_map("elsewhere"), "metadata": {"name": "x", "namespace": "team-b"}})
    kube.create(config_map("here"))
    events = asyncio.run(raw_events(kube, f"watch=true&resourceVersion={since}", 1))
    assert events[0]["object"]["metadata"]["name"] == "here"


def test_events_arrive_while_the_stream_is_open(kube: KubeEmulator) -> None:
    async def scenario() -> list[tuple[str, str]]:
        seen = []
        async with kubernetes_client(kube) as api:
            v1 = CoreV1Api(api)
            stream = watch.Watch().stream(
                v1.list_namespaced_config_map,
                "default",
                resource_version=str(kube.store.resource_version),
            )
            async with stream:
                # Made from another thread while the stream is open.
                loop = asyncio.get_running_loop()
                loop.call_later(0.05, lambda: kube.create(config_map("late")))
                loop.call_later(0.1, lambda: kube.delete("configmaps", "default", "late"))
                async for event in stream:
                    seen.append((event["type"], event["object"].metadata.name))
                    if len(seen) == 2:
                        break
        return seen

    assert asyncio.run(scenario()) == [("ADDED", "late"), ("DELETED", "late")]


def test_a_dropped_watch_ends_without_a_clean_close(kube: KubeEmulator) -> None:
    kube.create(config_map("a"))
    kube.create(config_map("b"))
    kube.faults.drop_watches(after_events=1, times=1)

    async def scenario() -> tuple[list[str], type[BaseException]]:
        url = f"{kube.url}/api/v1/namespaces/default/configmaps?watch=true"
        names: list[str] = []

        async def read(response: aiohttp.ClientResponse) -> None:
            while line := await asyncio.wait_for(response.content.readline(), 10):
                names.append(json.loads(line)["object"]["metadata"]["name"])

        async with aiohttp.ClientSession() as session, session.get(url) as response:
            with pytest.raises(aiohttp.ClientError) as caught:
                await read(response)
        return names, caught.type

    names, error = asyncio.run(scenario())
    assert names == ["a"]
    assert issubclass(error, aiohttp.ClientPayloadError)
    # The rule was for one stream: the next watch is served whole.
    events = asyncio.run(raw_events(kube, "watch=true", 2))
    assert [e["object"]["metadata"]["name"] for e in events] == ["a", "b"]
