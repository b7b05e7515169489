"""Hopeless spawns end early, with a message that says what happened and what to do.

Each cause a cluster shows (an image that cannot be pulled, no node with the
GPUs, no node of the group's pool, a missing or unbound claim, a failing
mount) ends the spawn in seconds, where KubeSpawner would wait for
``start_timeout``; the pod is deleted again. On the emulator, and on a real
cluster with KUBECONFIG (except the mount failure, which needs the emulator).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.hub import Hub
from tests.kube_emulator import RUN_ANNOTATION
from tests.kubernetes.cluster import Cluster, EmulatedCluster, claim, kube_hub, wait_for

pytestmark = pytest.mark.e2e

LIMITS = {"cpu": 4, "memory_gib": 8, "gpus": 0, "disk_gib": 20}
POLICY = {
    "extra_templates": [
        {
            "name": "broken",
            "display_name": "Broken image",
            "image": "registry.example.com/mofang/unpullable-notebook:1",
            "default": {"cpu": 1, "memory_gib": 1},
            "maximum": {"cpu": 1, "memory_gib": 1},
        }
    ],
    "groups": {
        # A pool no node belongs to.
        "ghost": {
            "limits": LIMITS,
            "node_selector": {"mofang.io/pool": "ghost"},
            "project_storage": False,
        },
        # A project whose claim an administrator has not created (yet).
        "archive": {"limits": LIMITS},
    },
}
#: The spawn must end (with its message) well before this; KubeSpawner would wait 60 s.
FAST = 10.0


def join(hub: Hub, group: str, user: str) -> None:
    response = hub.api("POST", f"/groups/{group}", json={"users": [user]})
    assert response.status_code in (201, 409), response.text
    hub.api("POST", f"/groups/{group}/users", json={"users": [user]}).raise_for_status()


def failed_spawn(hub: Hub, user: str, options: dict[str, str]) -> tuple[float, str]:
    """Seconds from the request to the failure, and the failure's message."""
    start = time.monotonic()
    response, events = hub.spawn(user, options)
    if events and events[-1].get("failed"):
        message = events[-1]["message"]
    else:
        assert response.status_code >= 400, (response.status_code, events)
        message = response.text
    seconds = time.monotonic() - start
    wait_for(
        lambda: hub.api("GET", f"/users/{user}").json().get("pending") is None,
        what="the spawn to end",
    )
    return seconds, message


def blocker(gpus: int) -> dict[str, Any]:
    """Another team's pod holding the GPU node's GPUs."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "other-team-training", "annotations": {RUN_ANNOTATION: "false"}},
        "spec": {
            "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"},
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": "train",
                    "image": "registry.example.com/train:1",
                    "command": ["sleep", "3600"],
                    "resources": {"limits": {"nvidia.com/gpu": str(gpus)}},
                }
            ],
        },
    }


def test_each_hopeless_cause_ends_the_spawn_early_with_its_message(
    cluster: Cluster, tmp_path: Path
) -> None:
    with kube_hub(cluster, tmp_path / "hub", POLICY) as hub:
        # The image cannot be pulled.
        seconds, message = failed_spawn(hub, "alice", {"template": "broken"})
        assert seconds < FAST, seconds
        assert "registry.example.com/mofang/unpullable-notebook:1 of the 'Broken image' " in message
        assert "cannot be pulled" in message and "Choose another environment" in message
        wait_for(lambda: cluster.find("pods", "jupyter-alice") is None, what="cleanup")

        # No node of the group's pool.
        join(hub, "ghost", "bob")
        seconds, message = failed_spawn(hub, "bob", {"group": "ghost"})
        assert seconds < FAST, seconds
        assert "No node of group 'ghost''s node pool can run this server" in message
        assert "mofang.io/pool=ghost" in message
        wait_for(lambda: cluster.find("pods", "jupyter-bob") is None, what="cleanup")

        # A project claim that does not exist, then one that is not bound.
        join(hub, "archive", "carol")
        seconds, message = failed_spawn(hub, "carol", {"group": "archive"})
        assert seconds < FAST, seconds
        assert "The server's storage is not ready" in message
        assert 'persistentvolumeclaim "mofang-project-archive" not found' in message
        if not cluster.real:
            cluster.create(claim("mofang-project-archive", storage_class="pending"))
            seconds, message = failed_spawn(hub, "carol", {"group": "archive"})
            assert seconds < FAST, seconds
            assert "unbound immediate PersistentVolumeClaims" in message
        wait_for(lambda: cluster.find("pods", "jupyter-carol") is None, what="cleanup")

        if not cluster.real:
            # No node has the GPUs: another team holds them.
            cluster.create(blocker(2))
            options = {"template": "pytorch", "gpus": "1", "gpu_type": "a100"}
            seconds, message = failed_spawn(hub, "alice", options)
            assert seconds < FAST, seconds
            assert message.endswith(
                "Ask for fewer GPUs or another GPU type, or try again when GPUs are free."
            ), message
            assert "No node has 1 free NVIDIA A100 80GB GPU(s) for group 'Vision team'" in message
            assert "Insufficient nvidia.com/gpu" in message
            wait_for(lambda: cluster.find("pods", "jupyter-alice") is None, what="cleanup")
        assert not cluster.list("pods", label_selector="component=singleuser-server")


def test_a_failing_mount_ends_the_spawn(emulator: EmulatedCluster, tmp_path: Path) -> None:
    emulator.kube.mount_fails = lambda pod, volume: volume.get("name") == "mofang-global"
    with kube_hub(emulator, tmp_path / "hub") as hub:
        seconds, message = failed_spawn(hub, "alice", {})
        assert seconds < FAST, seconds
        assert "The server's storage could not be mounted" in message
        assert 'MountVolume.SetUp failed for volume "mofang-global"' in message
        wait_for(lambda: emulator.find("pods", "jupyter-alice") is None, what="cleanup")
