"""The live group quota through a real hub: what the group's pods hold on the cluster counts.

A "job" pod labelled with the group holds the group's GPUs (the quota check
counts the cluster's pods, not a counter in the hub); the next GPU spawn is
then lowered to a CPU server and the user told, or refused, as the policy's
``over_limit`` says. Runs on the emulator and, with KUBECONFIG, on a real cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.kube_emulator import RUN_ANNOTATION
from tests.kubernetes.cluster import Cluster, kube_hub, wait_for

pytestmark = pytest.mark.e2e

QUOTA = {
    "groups": {"vision": {"quota": {"cpu": 64, "memory_gib": 256, "gpus": 2, "disk_gib": 900}}}
}
OPTIONS = {"template": "pytorch", "cpu": "1", "memory_gib": "1", "gpus": "1", "gpu_type": "a100"}


def job_pod(gpus: int) -> dict[str, Any]:
    """A training job's replica of group vision, holding ``gpus`` GPUs (it may stay Pending)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "train-resnet-worker-0",
            "labels": {"mofang.io/group": "vision", "app.kubernetes.io/component": "job"},
            "annotations": {RUN_ANNOTATION: "false"},
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "pytorch",
                    "image": "quay.io/jupyter/pytorch-notebook:cuda12-2025-01-06",
                    "command": ["sleep", "3600"],
                    "resources": {"limits": {"nvidia.com/gpu": str(gpus), "cpu": "1"}},
                }
            ],
        },
    }


def test_with_the_groups_gpus_in_use_a_gpu_spawn_is_lowered_and_the_user_told(
    cluster: Cluster, tmp_path: Path
) -> None:
    cluster.create(job_pod(2))
    try:
        with kube_hub(cluster, tmp_path / "hub", QUOTA) as hub:
            response, events = hub.spawn("alice", OPTIONS)
            assert response.status_code in (201, 202), response.text
            hub.wait_ready("alice")
            messages = [e.get("message", "") for e in events]
            assert any(
                "GPUs lowered from 1 to 0 GPUs: group 'Vision team' already holds 2 of its "
                "quota of 2 GPUs (servers and jobs together)." in m
                for m in messages
            ), messages
            pod = cluster.find("pods", "jupyter-alice")
            assert pod is not None
            assert pod["metadata"]["labels"]["mofang.io/gpus"] == "0"
            assert "nvidia.com/gpu" not in pod["spec"]["containers"][0]["resources"]["limits"]
            hub.stop_server("alice")
    finally:
        cluster.delete("pods", "train-resnet-worker-0")


def test_in_refuse_mode_the_spawn_is_refused_and_nothing_is_created(
    cluster: Cluster, tmp_path: Path
) -> None:
    cluster.create(job_pod(1))
    policy = {**QUOTA, "over_limit": "refuse"}
    try:
        with kube_hub(cluster, tmp_path / "hub", policy) as hub:
            response, events = hub.spawn("alice", {**OPTIONS, "gpus": "2"})
            text = response.text + " ".join(e.get("message", "") for e in events)
            assert (
                "GPUs: 2 GPUs does not fit: group 'Vision team' already holds 1 of its quota"
                in text
            )
            assert "ask for at most 1 GPUs" in text
            assert cluster.find("pods", "jupyter-alice") is None
            # Within the quota, the same user starts at once.
            response, _ = hub.spawn("alice", {**OPTIONS, "gpus": "1"})
            assert response.status_code in (201, 202), response.text
            hub.wait_ready("alice")
            wait_for(lambda: cluster.find("pods", "jupyter-alice"), what="the pod")
            hub.stop_server("alice")
    finally:
        cluster.delete("pods", "train-resnet-worker-0")
