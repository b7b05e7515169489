"""Custom resources, discovery, nodes and the API server's bookkeeping, through real clients.

The ``status`` subresource of a registered CRD, the ``CustomObjectsApi``
patch content-type trap, discovery documents, cluster-scoped nodes and
cluster-wide lists, garbage collection, finalizers, strict namespaces,
``PUT .../status``, delete-collection, list pages and server-side apply.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import aiohttp
import pytest
from kubernetes_asyncio.client import ApiException, CoreV1Api, CustomObjectsApi

from tests.kube_emulator import ApiError, KubeEmulator
from tests.kube_emulator.clients import kubernetes_client

T = TypeVar("T")
#: CustomObjectsApi labels a dict body as a JSON patch unless told otherwise.
MERGE_PATCH = "application/merge-patch+json"


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


@pytest.fixture
def kube() -> Iterator[KubeEmulator]:
    with KubeEmulator(kubelet=False) as emulator:
        yield emulator


def status_of(error: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body)
    return body


def test_status_subresource_of_a_registered_custom_resource(kube: KubeEmulator) -> None:
    kube.register_crd(group="kubeflow.org", version="v1", plural="pytorchjobs", kind="PyTorchJob")
    job = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": "train"},
        "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1}}},
        "status": {"conditions": [{"type": "Succeeded", "status": "True"}]},
    }
    args = ("kubeflow.org", "v1", "default", "pytorchjobs")

    async def scenario() -> dict[str, Any]:
        async with kubernetes_client(kube) as api:
            custom = CustomObjectsApi(api)
            created = await custom.create_namespaced_custom_object(*args, job)
            assert "status" not in created  # the main resource ignores status
            ignored = await custom.patch_namespaced_custom_object(
                *args,
                "train",
                {"status": {"phase": "x"}, "metadata": {"labels": {"a": "b"}}},
                _content_type=MERGE_PATCH,
            )
            assert "status" not in ignored and ignored["metadata"]["labels"] == {"a": "b"}
            assert ignored["metadata"]["generation"] == 1
            with_status = await custom.patch_namespaced_custom_object_status(
                *args,
                "train",
                {
                    "status": {"conditions": [{"type": "Created", "status": "True"}]},
                    "spec": {"pytorchReplicaSpecs": None},
                },
                _content_type=MERGE_PATCH,
            )
            assert with_status["spec"] == job["spec"]  # the status endpoint ignores spec
            respec = await custom.patch_namespaced_custom_object(
                *args,
                "train",
                {"spec": {"runPolicy": {"cleanPodPolicy": "None"}}},
                _content_type=MERGE_PATCH,
            )
            assert respec["metadata"]["generation"] == 2
            listing = await custom.list_namespaced_custom_object(*args)
            assert listing["items"][0]["kind"] == "PyTorchJob"
            return await custom.get_namespaced_custom_object_status(*args, "train")

    final = run(scenario())
    assert final["status"] == {"conditions": [{"type": "Created", "status": "True"}]}
    assert kube.get("pytorchjobs", "default", "train")["status"] == final["status"]


def test_a_dict_sent_as_json_patch_is_refused_as_by_the_api_server(kube: KubeEmulator) -> None:
    kube.register_crd(group="kubeflow.org", version="v1", plural="pytorchjobs", kind="PyTorchJob")
    kube.create(
        {
            "apiVersion": "kubeflow.org/v1",
            "kind": "PyTorchJob",
            "metadata": {"name": "train"},
            "spec": {},
        }
    )

    async def scenario() -> ApiException:
        async with kubernetes_client(kube) as api:
            with pytest.raises(ApiException) as caught:
                await CustomObjectsApi(api).patch_namespaced_custom_object(
                    "kubeflow.org", "v1", "default", "pytorchjobs", "train", {"spec": {"a": 1}}
                )
            return caught.value

    error = run(scenario())
    assert error.status == 400
    assert "cannot unmarshal object" in status_of(error)["message"]


def test_discovery_documents(kube: KubeEmulator) -> None:
    kube.register_crd(group="kubeflow.org", version="v1", plural="pytorchjobs", kind="PyTorchJob")

    async def fetch(path: str) -> dict[str, Any]:
        async with aiohttp.ClientSession() as session, session.get(kube.url + path) as response:
            assert response.status == 200, path
            body: dict[str, Any] = await response.json()
            return body

    async def scenario() -> list[dict[str, Any]]:
        paths = ["/version", "/api", "/apis", "/api/v1", "/apis/kubeflow.org/v1"]
        return [await fetch(path) for path in paths]

    version, api, apis, core, kubeflow = run(scenario())
    assert version["major"] == "1"
    assert api["versions"] == ["v1"]
    assert "kubeflow.org" in [g["name"] for g in apis["groups"]]
    names = {r["name"]: r for r in core["resources"]}
    assert names["pods"]["namespaced"] and names["pods"]["kind"] == "Pod"
    assert "pods/status" in names and "pods/log" in names and not names["nodes"]["namespaced"]
    kubeflow_names = [r["name"] for r in kubeflow["resources"]]
    assert kubeflow_names == ["pytorchjobs", "pytorchjobs/status"]


def test_nodes_and_cluster_wide_lists(kube: KubeEmulator) -> None:
    kube.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "team-a"}}
    )
    kube.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": "team-b"}}
    )

    async def scenario() -> tuple[Any, Any, Any]:
        async with kubernetes_client(kube) as api:
            v1 = CoreV1Api(api)
            return (
                await v1.list_node(),
                await v1.read_node("node-1"),
                await v1.list_config_map_for_all_namespaces(),
            )

    nodes, node, config_maps = run(scenario())
    assert [n.metadata.name for n in nodes.items] == ["node-1"]
    assert node.status.allocatable["cpu"] == "64"
    assert node.metadata.labels["kubernetes.io/hostname"] == "node-1"
    assert [(c.metadata.namespace, c.metadata.name) for c in config_maps.items] == [
        ("team-a", "a"),
        ("team-b", "b"),
    ]
    assert kube.find("namespaces", None, "team-a") is not None


def test_deleting_an_owner_deletes_what_it_owns(kube: KubeEmulator) -> None:
    owner = kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}})
    reference = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner["metadata"]["uid"],
    }
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "owned", "ownerReferences": [reference]},
            "stringData": {"token": "s3cret"},
        }
    )
    assert kube.get("secrets", "default", "owned")["data"] == {"token": "czNjcmV0"}
    kube.delete("configmaps", "default", "owner")
    assert kube.find("secrets", "default", "owned") is None


def test_finalizers_hold_deletion_until_removed(kube: KubeEmulator) -> None:
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "held", "finalizers": ["mofang.io/cleanup"]},
        }
    )
    marked = kube.delete("configmaps", "default", "held")
    assert marked["metadata"]["deletionTimestamp"]
    assert kube.find("configmaps", "default", "held") is not None
    kube.patch("configmaps", "default", "held", {"metadata": {"finalizers": None}})
    assert kube.find("configmaps", "default", "held") is None


def test_strict_namespaces_refuse_unknown_namespaces() -> None:
    with KubeEmulator(kubelet=False, strict_namespaces=True) as kube:
        with pytest.raises(ApiError) as caught:
            kube.create(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "a", "namespace": "nowhere"},
                }
            )
        assert caught.value.code == 404
        assert caught.value.message == 'namespaces "nowhere" not found'


def test_status_put_crd_deletion_collections_and_pages(kube: KubeEmulator) -> None:
    kube.register_crd(group="kubeflow.org", version="v1", plural="tfjobs", kind="TFJob")
    args = ("kubeflow.org", "v1", "default", "tfjobs")
    for name in ("a", "b", "c"):
        kube.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "labels": {"batch": "1" if name != "c" else "2"}},
            }
        )

    async def scenario() -> tuple[dict[str, Any], list[list[str]], list[str], int]:
        async with kubernetes_client(kube) as api:
            custom, v1 = CustomObjectsApi(api), CoreV1Api(api)
            job = await custom.create_namespaced_custom_object(
                *args,
                {
                    "apiVersion": "kubeflow.org/v1",
                    "kind": "TFJob",
                    "metadata": {"name": "t"},
                    "spec": {"x": 1},
                },
            )
            job["status"] = {"conditions": [{"type": "Running", "status": "True"}]}
            job["spec"] = {"x": 2}
            replaced = await custom.replace_namespaced_custom_object_status(*args, "t", job)
            pages, token = [], None
            while True:
                page = await v1.list_namespaced_config_map("default", limit=2, _continue=token)
                pages.append([c.metadata.name for c in page.items])
                token = page.metadata._continue
                if not token:
                    break
            await v1.delete_collection_namespaced_config_map("default", label_selector="batch=1")
            left = [c.metadata.name for c in (await v1.list_namespaced_config_map("default")).items]
            await api.call_api(
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/tfjobs.kubeflow.org",
                "DELETE",
                response_types_map={},
            )
            try:
                await custom.list_namespaced_custom_object(*args)
            except ApiException as gone:
                return replaced, pages, left, int(gone.status)
            return replaced, pages, left, 200

    replaced, pages, left, after_crd_deletion = run(scenario())
    assert replaced["status"]["conditions"][0]["type"] == "Running"
    assert replaced["spec"] == {"x": 1}  # PUT .../status changes only the status
    assert pages == [["a", "b"], ["c"]]
    assert left == ["c"]
    assert after_crd_deletion == 404


def test_server_side_apply_creates_then_merges(kube: KubeEmulator) -> None:
    url = f"{kube.url}/api/v1/namespaces/default/configmaps/applied?fieldManager=test"
    headers = {"Content-Type": "application/apply-patch+yaml"}

    async def apply(body: str) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.patch(url, data=body, headers=headers) as response,
        ):
            assert response.status in (200, 201), await response.text()
            result: dict[str, Any] = await response.json()
            return result

    first = run(
        apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  a: '1'\n")
    )
    second = run(
        apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  b: '2'\n")
    )
    assert first["data"] == {"a": "1"}
    assert second["data"] == {"a": "1", "b": "2"}
    assert second["metadata"]["uid"] == first["metadata"]["uid"]
