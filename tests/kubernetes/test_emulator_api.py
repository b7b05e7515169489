"""The emulator's REST API, driven by the real ``kubernetes_asyncio`` client.

CRUD with server-filled metadata, resource versions, ``Status`` bodies for
404 / 409 / 422, dry runs, patches, conflicts, and the direct Python API
sharing one store with HTTP. These tests run with the kubelet off
(``kubelet=False``) so objects stay exactly as the API left them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import aiohttp
import pytest
from kubernetes_asyncio.client import (
    ApiException,
    CoreV1Api,
    V1ConfigMap,
    V1Container,
    V1ObjectMeta,
    V1Pod,
    V1PodSpec,
)

from tests.kube_emulator import ApiError, KubeEmulator
from tests.kube_emulator.clients import kubernetes_client

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


@pytest.fixture
def kube() -> Iterator[KubeEmulator]:
    with KubeEmulator(kubelet=False) as emulator:
        yield emulator


def pod(name: str, **labels: str) -> V1Pod:
    return V1Pod(
        metadata=V1ObjectMeta(name=name, labels=labels or None),
        spec=V1PodSpec(containers=[V1Container(name="main", image="python:3.11")]),
    )


def status_of(error: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body)
    return body


def test_create_fills_server_metadata_and_defaults(kube: KubeEmulator) -> None:
    async def scenario() -> tuple[Any, Any]:
        async with kubernetes_client(kube) as api:
            v1 = CoreV1Api(api)
            created = await v1.create_namespaced_pod("default", pod("web"))
            read = await v1.read_namespaced_pod("web", "default")
            return created, read

    created, read = run(scenario())
    metadata = created.metadata
    assert metadata.uid and metadata.namespace == "default"
    assert metadata.creation_timestamp is not None
    assert int(metadata.resource_version) > 0
    assert metadata.generation == 1
    assert created.kind == "Pod" and created.api_version == "v1"
    assert created.status.phase == "Pending"
    assert created.spec.restart_policy == "Always"
    assert created.spec.containers[0].image_pull_policy == "IfNotPresent"
    assert read.metadata.uid == metadata.uid
    assert read.metadata.resource_version == metadata.resource_version


def test_resource_versions_increase_and_lists_carry_one(kube: KubeEmulator) -> None:
    async def scenario() -> tuple[list[int], Any]:
        async with kubernetes_client(kube) as api:
            v1 = CoreV1Api(api)
            versions = []
            for name in ("a", "b", "c"):
                created = await v1.create_namespaced_pod("default", pod(name))
                versions.append(int(created.metadata.resource_version))
            return versions, await v1.list_namespaced_pod("default")

    versions, listing = run(scenario())
    assert versions == sorted(versions) and len(set(versions)) == 3
    assert int(listing.metadata.resource_version) >= versions[-1]
    assert [p.metadata.name for p in listing.items] == ["a", "b", "c"]


def test_list_items_of_core_kinds_leave_out_kind_as_the_api_server_does(
    kube: KubeEmulator,
) -> None:
    kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}})

    async def scenario() -> dict[str, Any]:
        async with aiohttp.ClientSession() as session:
            url = f"{kube.url}/api/v1/namespaces/default/configmaps"
            async with session.get(url) as response:
                body: dict[str, Any] = await response.json()
                return body

    body = run(scenario())
    assert body["kind"] == "ConfigMapList" and body["apiVersion"] == "v1"
    assert "kind" not in body["items"][0]
    assert body["items"][0]["metadata"]["name"] == "settings"


def test_generate_name_gives_a_fresh_name_each_time(kube: KubeEmulator) -> None:
    async def scenario() -> list[str]:
        async with kubernetes_client(kube) as api:
            v1 = CoreV1Api(api)
            names = []
            for _ in range(3):
                body = V1ConfigMap(metadata=V1ObjectMeta(generate_name="job-"), data={"a": "1"})
                created = await v1.create_namespaced_config_map("default", body)
                names.append(created.metadata.name)
            return names

    names = run(scenario())
    assert len(set(names)) == 3
    assert all(name.startswith("job-") and len(name) == len("job-") + 5 for name in names)


def test_duplicate_create_is_409_already_exists(kube: KubeEmulator) -> None:
    async def scenario() -> ApiException:
        async with kubernetes_client(kube) as api:
            v1 = CoreV1Api(api)
            await v1.create_namespaced_pod("default", pod("web"))
            with pytest.raises(ApiException) as caught:
                await v1.create_namespaced_pod("default", pod("web"))
            return caught.value

    error = run(scenario())
    assert error.status == 409
    assert status_of(error) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods "web" already exists',
        "reason": "AlreadyExists",
        "details": {"name": "web", "kind": "pods"},
        "code": 409,
    }


def test_missing_object_is_404_not_found(kube: KubeEmulator) -> None:
    async def scenario() -> ApiException:
        async with kubernetes_client(kube) as api:
            with pytest.raises(ApiException) as caught:
                await CoreV1Api(api).read_namespaced_pod("ghost", "default")
            return caught.value

    error = run(scenario())
    body = status_of(error)
    assert error.status == 404 and body["code"] == 404
    assert body["reason"] == "NotFound" and body["status"] == "Failure"
    assert body["message"] == 'pods "ghost" not found'
    assert body["details"] == {"name": "ghost", "kind": "pods"}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            {"metadata": {}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
            "metadata.name",
            "Required value: name or generateName is required",
        ),
        (
            {"metadata": {"name": "empty"}, "spec": {"containers": []}},
            "spec.containers",
            "Required value",
        ),
        (
            {
                "metadata": {"name": "Bad_Name"},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
            "metadata.name",
            'Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain',
        ),
        (
            {
                "metadata": {"name": "ok", "labels": {"user": "jane doe"}},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
            "metadata.labels",
            'Invalid value: "jane doe": a valid label must be an empty string',
        ),
        (
            {
                "metadata": {"name": "ok"},
                "spec": {
                    "containers": [
                        {
                            "name": "c",
                            "image": "x",
                            "volumeMounts": [{"name": "data", "mountPath": "/d"}],
                        }
                    ]
                },
            },
            "spec.containers[0].volumeMounts[0].name",
            'Not found: "data"',
        ),
    ],
)
def test_invalid_objects_are_422_with_the_field_at_fault(
    kube: KubeEmulator, body: dict[str, Any], field: str, message: str
) -> None:
    async def scenario() -> ApiException:
        async with kubernetes_client(kube) as api:
            with pytest.raises(ApiException) as caught:
                await CoreV1Api(api).create_namespaced_pod("default", body)
            return caught.value

    error = run(scenario())
    status = status_of(error)
    assert error.status == 422 and status["reason"] == "Invalid"
    assert status["details"]["kind"] == "Pod"
    causes = status["details"]["causes"]
    assert any(c["field"] == field and c["message"].startswith(message) for c in causes), causes
    assert "is invalid" in status["message"]
    assert kube.list("pods") == []


def test_dry_run_validates_and_fills_but_stores_nothing(kube: KubeEmulator) -> None:
    async def scenario() -> tuple[Any, Any, list[Any]]:
        async with kubernetes_client(kube) as api:
            v1 = CoreV1Api(api)
            dry = await v1.create_namespaced_pod("default", pod("web"), dry_run="All")
            await v1.create_namespaced_pod("default", pod("kept"))
            deleted = await v1.delete_namespaced_pod("kept", "default", dry_run="All")
            with pytest.raises(ApiException) as caught:
                await v1.create_namespaced_pod(
                    "default", {"metadata": {"name": "x"}}, dry_run="All"
                )
            remaining = (await v1.list_namespaced_pod("default")).items
            return dry, (deleted, caught.value), remaining

    dry, (deleted, invalid), remaining = run(scenario())
    assert dry.metadata.uid and dry.metadata.creation_timestamp is not None
    assert dry.metadata.resource_version is None
    assert deleted.metadata.name == "kept"
    assert invalid.status == 422
    assert [p.metadata.name for p in remaining] == ["kept"]
    assert kube.find("pods", "default", "web") is None


def test_patches_merge_and_json_patch(kube: KubeEmulator) -> None:
    async def scenario() -> tuple[Any, Any]:
        async with kubernetes_client(kube) as api:
            v1 = CoreV1Api(api)
            await v1.create_namespaced_pod("default", pod("web", app="web", tier="front"))
            # A dict body goes as a strategic merge patch, a list as a JSON patch.
            merged = await v1.patch_namespaced_pod(
                "web", "default", {"metadata": {"labels": {"tier": None, "team": "vision"}}}
            )
            patched = await v1.patch_namespaced_pod(
                "web",
                "default",
                [
                    {"op": "add", "path": "/metadata/annotations", "value": {"a": "1"}},
                    {"op": "replace", "path": "/metadata/labels/app", "value": "api"},
                ],
            )
            return merged, patched

    merged, patched = run(scenario())
    assert merged.metadata.labels == {"app": "web", "team": "vision"}
    assert patched.metadata.labels == {"app": "api", "team": "vision"}
    assert patched.metadata.annotations == {"a": "1"}
    assert int(patched.metadata.resource_version) > int(merged.metadata.resource_version)


def test_pod_spec_is_immutable_and_stale_updates_conflict(kube: KubeEmulator) -> None:
    async def scenario() -> tuple[ApiException, ApiException]:
        async with kubernetes_client(kube) as api:
            v1 = CoreV1Api(api)
            created = await v1.create_namespaced_pod("default", pod("web"))
            with pytest.raises(ApiException) as immutable:
                await v1.patch_namespaced_pod("web", "default", {"spec": {"hostname": "x"}})
            await v1.patch_namespaced_pod("web", "default", {"metadata": {"labels": {"a": "b"}}})
            with pytest.raises(ApiException) as stale:
                await v1.replace_namespaced_pod("web", "default", created)
            return immutable.value, stale.value

    immutable, stale = run(scenario())
    assert immutable.status == 422
    assert status_of(immutable)["details"]["causes"][0]["field"] == "spec"
    assert stale.status == 409 and status_of(stale)["reason"] == "Conflict"
    assert "the object has been modified" in status_of(stale)["message"]


def test_direct_api_shares_the_store_with_http(kube: KubeEmulator) -> None:
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web"},
            "spec": {"containers": [{"name": "c", "image": "x"}]},
        }
    )
    kube.patch_status("pods", "default", "web", {"phase": "Running", "podIP": "127.0.0.9"})

    async def scenario() -> Any:
        async with kubernetes_client(kube) as api:
            return await CoreV1Api(api).read_namespaced_pod("web", "default")

    read = run(scenario())
    assert read.status.phase == "Running" and read.status.pod_ip == "127.0.0.9"
    with pytest.raises(ApiError) as caught:
        kube.get("pods", "default", "missing")
    assert caught.value.code == 404 and caught.value.body["reason"] == "NotFound"
    kube.delete("pods", "default", "web")
    assert kube.find("pods", "default", "web") is None
