"""Injected faults and the request log, seen from the real client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiException, CoreV1Api

from tests.kube_emulator import KubeEmulator, Request
from tests.kube_emulator.clients import kubernetes_client

PODS = r"/api/v1/namespaces/.*/pods"
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "labels": {"a": "b"}},
    "spec": {"containers": [{"name": "c", "image": "x"}]},
}


@pytest.fixture
def kube() -> Iterator[KubeEmulator]:
    with KubeEmulator(kubelet=False) as emulator:
        yield emulator


async def create_twice(kube: KubeEmulator) -> tuple[ApiException | None, Any]:
    async with kubernetes_client(kube) as api:
        v1 = CoreV1Api(api)
        error = None
        try:
            await v1.create_namespaced_pod("default", POD)
        except ApiException as caught:
            error = caught
        return error, await v1.create_namespaced_pod("default", POD)


async def create_once(kube: KubeEmulator) -> Any:
    async with kubernetes_client(kube) as api:
        return await CoreV1Api(api).create_namespaced_pod("default", POD)


def test_a_500_once_then_success(kube: KubeEmulator) -> None:
    kube.faults.fail(method="POST", path=PODS, status=500, times=1)
    error, created = asyncio.run(create_twice(kube))
    assert error is not None and error.status == 500
    body = json.loads(error.body)
    assert body["kind"] == "Status" and body["reason"] == "InternalError" and body["code"] == 500
    assert created.metadata.name == "web"
    assert [p["metadata"]["name"] for p in kube.list("pods")] == ["web"]


@pytest.mark.parametrize(
    ("status", "reason"),
    [(403, "Forbidden"), (409, "Conflict"), (422, "Invalid"), (503, "ServiceUnavailable")],
)
def test_other_failures_carry_their_status_body(
    kube: KubeEmulator, status: int, reason: str
) -> None:
    kube.faults.fail(method="POST", path=PODS, status=status)
    error, _ = asyncio.run(create_twice(kube))
    assert error is not None and error.status == status
    body = json.loads(error.body)
    assert (body["status"], body["reason"], body["code"]) == ("Failure", reason, status)


def test_429_says_when_to_retry(kube: KubeEmulator) -> None:
    kube.faults.fail(method="POST", path=PODS, status=429, retry_after=3)
    error, _ = asyncio.run(create_twice(kube))
    assert error is not None and error.status == 429
    assert error.headers["Retry-After"] == "3"
    body = json.loads(error.body)
    assert body["reason"] == "TooManyRequests"
    assert body["details"] == {"retryAfterSeconds": 3}


def test_faults_match_method_and_whole_path_and_can_be_cleared(kube: KubeEmulator) -> None:
    kube.faults.fail(method="GET", path=PODS, status=500, times=None)
    kube.faults.fail(method="POST", path="/api/v1/namespaces/other/pods", status=500)
    asyncio.run(create_once(kube))  # neither rule matches a POST to default

    async def read() -> int:
        async with kubernetes_client(kube) as api:
            try:
                await CoreV1Api(api).list_namespaced_pod("default")
            except ApiException as caught:
                return int(caught.status)
            return 200

    assert asyncio.run(read()) == 500
    assert asyncio.run(read()) == 500  # times=None: until cleared
    kube.faults.clear()
    assert asyncio.run(read()) == 200


def test_a_delay_longer_than_the_client_timeout_is_a_timeout(kube: KubeEmulator) -> None:
    kube.faults.delay(method="GET", path=PODS, seconds=0.5, times=1)

    async def scenario() -> tuple[bool, int]:
        async with kubernetes_client(kube) as api:
            v1 = CoreV1Api(api)
            timed_out = False
            try:
                await v1.list_namespaced_pod("default", _request_timeout=0.1)
            except TimeoutError:
                timed_out = True
            listing = await v1.list_namespaced_pod("default", _request_timeout=5)
            return timed_out, len(listing.items)

    assert asyncio.run(scenario()) == (True, 0)


def test_requests_are_recorded_with_query_and_body(kube: KubeEmulator) -> None:
    kube.faults.fail(method="POST", path=PODS, status=500, times=1)
    asyncio.run(create_twice(kube))

    async def scenario() -> None:
        async with kubernetes_client(kube) as api:
            v1 = CoreV1Api(api)
            await v1.list_namespaced_pod("default", label_selector="a=b")
            await v1.patch_namespaced_pod(
                "web", "default", [{"op": "add", "path": "/metadata/labels/c", "value": "d"}]
            )

    asyncio.run(scenario())
    requests = kube.requests
    assert [(r.method, r.path) for r in requests] == [
        ("POST", "/api/v1/namespaces/default/pods"),
        ("POST", "/api/v1/namespaces/default/pods"),
        ("GET", "/api/v1/namespaces/default/pods"),
        ("PATCH", "/api/v1/namespaces/default/pods/web"),
    ]
    assert requests[0].body["metadata"]["name"] == "web"  # the faulted one is recorded too
    assert [r.status for r in requests] == [500, 201, 200, 200]
    assert requests[2].query == {"labelSelector": ["a=b"]}
    assert requests[3].body == [{"op": "add", "path": "/metadata/labels/c", "value": "d"}]
    assert isinstance(requests[0], Request)
    kube.clear_requests()
    assert kube.requests == []
