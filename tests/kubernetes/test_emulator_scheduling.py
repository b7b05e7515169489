"""Why a pod does not start: the scheduler's and kubelet's failures, as a cluster shows them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.kube_emulator import KubeEmulator, Node

GPU_PRODUCT = "nvidia.com/gpu.product"
NODES = [
    Node(
        name="cpu-1", labels={"mofang.io/pool": "vision"}, capacity={"cpu": "32", "memory": "128Gi"}
    ),
    Node(
        name="gpu-1",
        labels={GPU_PRODUCT: "NVIDIA-A100-SXM4-80GB"},
        capacity={"cpu": "64", "memory": "512Gi", "nvidia.com/gpu": "8"},
        taints=[{"key": "nvidia.com/gpu", "effect": "NoSchedule"}],
    ),
]
TOLERATE_GPU = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
ON_A100 = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {
                    "matchExpressions": [
                        {"key": GPU_PRODUCT, "operator": "In", "values": ["NVIDIA-A100-SXM4-80GB"]}
                    ]
                }
            ]
        }
    }
}


@pytest.fixture
def kube() -> Iterator[KubeEmulator]:
    with KubeEmulator(nodes=NODES) as emulator:
        yield emulator


def make_pod(
    name: str, *, gpus: int = 0, image: str = "python:3.11", **spec: Any
) -> dict[str, Any]:
    resources = {"limits": {"nvidia.com/gpu": str(gpus)}} if gpus else {}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "main", "image": image, "resources": resources}], **spec},
    }


def events(kube: KubeEmulator, name: str) -> list[dict[str, Any]]:
    found = kube.list("events", "default", field_selector=f"involvedObject.name={name}")
    return sorted(found, key=lambda e: int(e["metadata"]["resourceVersion"]))


def wait_event(kube: KubeEmulator, name: str, reason: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        return next((e for e in events(kube, name) if e["reason"] == reason), None)

    return kube.wait_for(find, message=f"no {reason} event for {name}")


def condition(pod: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in pod["status"]["conditions"] if c["type"] == kind)


def test_gpu_pod_lands_on_the_gpu_node(kube: KubeEmulator) -> None:
    kube.create(make_pod("train", gpus=2, tolerations=TOLERATE_GPU, affinity=ON_A100))
    kube.wait_for(lambda: kube.get("pods", "default", "train")["status"].get("phase") == "Running")
    assert kube.get("pods", "default", "train")["spec"]["nodeName"] == "gpu-1"
    scheduled = wait_event(kube, "train", "Scheduled")
    assert scheduled["message"] == "Successfully assigned default/train to gpu-1"
    assert scheduled["source"]["component"] == "default-scheduler"
    assert scheduled["involvedObject"]["kind"] == "Pod"


def test_no_node_fits_the_message_counts_the_reasons(kube: KubeEmulator) -> None:
    kube.create(make_pod("greedy", gpus=16, tolerations=TOLERATE_GPU, affinity=ON_A100))
    kube.create(make_pod("untolerated", gpus=1))
    greedy = wait_event(kube, "greedy", "FailedScheduling")
    untolerated = wait_event(kube, "untolerated", "FailedScheduling")
    assert greedy["type"] == "Warning"
    assert greedy["message"].startswith(
        "0/2 nodes are available: 1 Insufficient nvidia.com/gpu, "
        "1 node(s) didn't match Pod's node affinity/selector."
    )
    assert untolerated["message"].startswith(
        "0/2 nodes are available: 1 Insufficient nvidia.com/gpu, "
        "1 node(s) had untolerated taint {nvidia.com/gpu: }."
    )
    pod = kube.get("pods", "default", "greedy")
    assert pod["status"]["phase"] == "Pending" and "nodeName" not in pod["spec"]
    scheduled = condition(pod, "PodScheduled")
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
    assert scheduled["message"] == greedy["message"]


def test_a_pod_waits_for_room_and_starts_when_it_frees(kube: KubeEmulator) -> None:
    kube.create(make_pod("first", gpus=6, tolerations=TOLERATE_GPU, affinity=ON_A100))
    kube.create(make_pod("second", gpus=4, tolerations=TOLERATE_GPU, affinity=ON_A100))
    wait_event(kube, "second", "FailedScheduling")
    assert kube.get("pods", "default", "first")["spec"]["nodeName"] == "gpu-1"
    kube.delete("pods", "default", "first")
    kube.wait_for(lambda: kube.get("pods", "default", "second")["spec"].get("nodeName"))
    assert condition(kube.get("pods", "default", "second"), "PodScheduled")["status"] == "True"


def test_node_selector_picks_the_pool(kube: KubeEmulator) -> None:
    kube.create(make_pod("vision", nodeSelector={"mofang.io/pool": "vision"}))
    kube.create(make_pod("nowhere", nodeSelector={"mofang.io/pool": "nlp"}))
    kube.wait_for(lambda: kube.get("pods", "default", "vision")["spec"].get("nodeName"))
    assert kube.get("pods", "default", "vision")["spec"]["nodeName"] == "cpu-1"
    # The taint filter runs before the affinity filter, so gpu-1 counts as tainted.
    assert wait_event(kube, "nowhere", "FailedScheduling")["message"].startswith(
        "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "1 node(s) had untolerated taint {nvidia.com/gpu: }."
    )


def test_image_that_cannot_be_pulled(kube: KubeEmulator) -> None:
    kube.create(make_pod("bad-image", image="registry.example/unpullable:1"))
    wait_event(kube, "bad-image", "BackOff")
    found = events(kube, "bad-image")
    failed = [e["message"] for e in found if e["reason"] == "Failed"]
    assert any(
        m.startswith('Failed to pull image "registry.example/unpullable:1"') and "ErrImagePull" in m
        for m in failed
    )
    back_off = next(e for e in found if e["reason"] == "BackOff")
    assert back_off["message"] == 'Back-off pulling image "registry.example/unpullable:1"'
    assert all(e["type"] == "Warning" for e in found if e["reason"] == "Failed")
    pod = kube.get("pods", "default", "bad-image")
    assert pod["status"]["phase"] == "Pending"
    state = pod["status"]["containerStatuses"][0]["state"]
    assert state["waiting"]["reason"] == "ImagePullBackOff"


def test_claims_that_are_missing_or_unbound(kube: KubeEmulator) -> None:
    volume = {"name": "home", "persistentVolumeClaim": {"claimName": "home-alice"}}
    kube.create(make_pod("missing", volumes=[volume]))
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "slow"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "pending",
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
    )
    slow = {"name": "home", "persistentVolumeClaim": {"claimName": "slow"}}
    kube.create(make_pod("unbound", volumes=[slow]))
    assert (
        'persistentvolumeclaim "home-alice" not found'
        in wait_event(kube, "missing", "FailedScheduling")["message"]
    )
    assert (
        "pod has unbound immediate PersistentVolumeClaims"
        in wait_event(kube, "unbound", "FailedScheduling")["message"]
    )
    assert kube.get("persistentvolumeclaims", "default", "slow")["status"]["phase"] == "Pending"

    claim = kube.create(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "home-alice"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "10Gi"}},
            },
        }
    )
    assert claim["status"] == {
        "phase": "Bound",
        "accessModes": ["ReadWriteOnce"],
        "capacity": {"storage": "10Gi"},
    }
    kube.wait_for(lambda: kube.get("pods", "default", "missing")["spec"].get("nodeName"))


def test_volume_that_fails_to_mount(kube: KubeEmulator) -> None:
    kube.mount_fails = lambda pod, volume: volume["name"] == "shared"
    volumes = [{"name": "shared", "emptyDir": {}}]
    pod = make_pod("stuck", volumes=volumes)
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "shared", "mountPath": "/shared"}]
    kube.create(pod)
    failed = wait_event(kube, "stuck", "FailedMount")
    assert failed["type"] == "Warning"
    assert failed["message"].startswith('MountVolume.SetUp failed for volume "shared" :')
    stuck = kube.get("pods", "default", "stuck")
    assert stuck["spec"]["nodeName"] and stuck["status"]["phase"] == "Pending"
    state = stuck["status"]["containerStatuses"][0]["state"]
    assert state["waiting"]["reason"] == "ContainerCreating"
    assert "Started" not in [e["reason"] for e in events(kube, "stuck")]
