"""A real JupyterHub with MofangSpawner on a Kubernetes API: spawn, the pod, JupyterLab, stop.

Runs against the emulator (its fake kubelet runs the pod's command here), and
against a real cluster when KUBECONFIG is set.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest

from mofang_lab.cli.plan import load_config
from mofang_spawner.kubernetes.preview import TOKEN_PLACEHOLDER, preview_spawn
from tests.kubernetes.cluster import Cluster, EmulatedCluster, kube_hub, wait_for
from tests.kubernetes.schemas import validate

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TOKENS = ("JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN")


def options_for(cluster: Cluster) -> dict[str, str]:
    if cluster.real:  # a real test cluster need not have GPUs
        return {"template": "python", "cpu": "1", "memory_gib": "1"}
    return {"template": "pytorch", "cpu": "2", "memory_gib": "4", "gpus": "1", "gpu_type": "a100"}


def rendered_pod(
    env: dict[str, str],
    user: str,
    groups: list[str],
    options: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    """What `mofang plan` prints for the test hub's own configuration."""
    for key, value in {**env, "MOFANG_TEST_TOKEN": "x", "MOFANG_DEMO_URL": "http://x"}.items():
        monkeypatch.setenv(key, value)
    config = load_config(ROOT / "tests" / "e2e" / "hub_config.py")
    preview = asyncio.run(preview_spawn(config=config, user=user, groups=groups, options=options))
    return preview.pod


def without_tokens(pod: dict[str, Any]) -> dict[str, Any]:
    pod = copy.deepcopy(pod)
    for env in pod["spec"]["containers"][0]["env"]:
        if env["name"] in TOKENS:
            env["value"] = TOKEN_PLACEHOLDER
    return pod


def test_spawn_runs_the_planned_pod_and_jupyterlab_answers_through_the_hub(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = options_for(cluster)
    with kube_hub(cluster, tmp_path / "hub") as hub:
        response, events = hub.spawn("alice", options)
        assert response.status_code in (201, 202), response.text
        hub.wait_ready("alice")
        pod = cluster.find("pods", "jupyter-alice")
        assert pod is not None
        container = pod["spec"]["containers"][0]
        labels = pod["metadata"]["labels"]
        assert labels["mofang.io/user"] == "alice"
        assert labels["mofang.io/group"] == "vision"
        assert labels["mofang.io/template"] == options["template"]
        limits = container["resources"]["limits"]
        assert float(limits["cpu"]) == float(options["cpu"])
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        home = hub.env["MOFANG_TEST_HOME"] if not cluster.real else "/home/jovyan"  # type: ignore[attr-defined]
        assert mounts[home]["subPath"] == "alice"
        assert f"{home}/projects/vision" in mounts
        assert mounts[f"{home}/global"]["readOnly"] is True
        if not cluster.real:
            assert labels["mofang.io/gpus"] == "1"
            assert limits["nvidia.com/gpu"] == "1"
            assert pod["spec"]["nodeSelector"] == {
                "mofang.io/pool": "vision",
                "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
            }
            assert pod["spec"]["nodeName"] == "vision-a100-1"
            # (The API server adds its own not-ready / unreachable tolerations.)
            assert {"mofang.io/pool", "nvidia.com/gpu"} <= {
                t["key"] for t in pod["spec"]["tolerations"]
            }
        # The spawn page told the user what happened on the way.
        messages = [e.get("message", "") for e in events]
        assert any("Assigned to" in m for m in messages), messages
        assert events[-1].get("ready"), events[-1]
        # JupyterLab answers through the hub and the proxy, and knows its plan.
        assert hub.server_get("alice", "api/status").status_code == 200
        environment = hub.server_get("alice", "mofang/api/environment").json()
        assert environment["backend"] == "kubernetes"
        assert environment["group"]["name"] == "vision"
        # What `mofang plan` prints is exactly the pod the hub created.
        if isinstance(cluster, EmulatedCluster):
            posted = [
                r.body
                for r in cluster.kube.requests
                if r.method == "POST" and r.path.endswith("/pods") and "dryRun" not in r.query
            ]
            assert len(posted) == 1
            validate(posted[0])
            plan = rendered_pod(hub.env, "alice", ["vision"], options, monkeypatch)  # type: ignore[attr-defined]
            assert without_tokens(posted[0]) == plan

        hub.stop_server("alice")
        wait_for(lambda: cluster.find("pods", "jupyter-alice") is None, what="the pod to go")
