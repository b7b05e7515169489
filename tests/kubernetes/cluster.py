"""The cluster the Kubernetes tests run against: the in-repo emulator, or a real one.

``cluster`` (see conftest.py) is an :class:`EmulatedCluster` here; with
``KUBECONFIG`` set in the environment the same tests also run against that
cluster (:class:`RealCluster`), except those that need the emulator's fault
switches. Both offer the few operations the tests need, on plain dicts.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from tests.e2e.hub import Hub, free_port, running_hub
from tests.kube_emulator import KubeEmulator, Node

HERE = Path(__file__).resolve().parent

NAMESPACE = "default"
#: Claims the test catalog mounts (hub-config/kubernetes): created before a hub starts.
CLAIMS = ("mofang-users", "mofang-project-vision", "mofang-project-nlp", "mofang-global")

VISION_TAINT = {"key": "mofang.io/pool", "value": "vision", "effect": "NoSchedule"}
GPU_TAINT = {"key": "nvidia.com/gpu", "effect": "NoSchedule"}
#: A small cluster with the node pools of hub-config/kubernetes/values.yaml.
NODES = [
    Node(
        name="vision-cpu-1",
        labels={"mofang.io/pool": "vision"},
        capacity={"cpu": "32", "memory": "128Gi"},
        taints=[VISION_TAINT],
    ),
    Node(
        name="vision-a100-1",
        labels={"mofang.io/pool": "vision", "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"},
        capacity={"cpu": "64", "memory": "512Gi", "nvidia.com/gpu": "2"},
        taints=[VISION_TAINT, GPU_TAINT],
    ),
    Node(
        name="nlp-1",
        labels={"mofang.io/pool": "nlp"},
        capacity={
            "cpu": "32",
            "memory": "128Gi",
            "volcano.sh/vgpu-number": "4",
            "volcano.sh/vgpu-memory": "65536",
        },
    ),
]


class Cluster(Protocol):
    kubeconfig: Path
    namespace: str
    real: bool

    def create(self, obj: dict[str, Any]) -> dict[str, Any]: ...
    def find(self, plural: str, name: str) -> dict[str, Any] | None: ...
    def list(self, plural: str, label_selector: str | None = None) -> list[dict[str, Any]]: ...
    def delete(self, plural: str, name: str) -> None: ...


class EmulatedCluster:
    real = False

    def __init__(self, kube: KubeEmulator, kubeconfig: Path) -> None:
        self.kube = kube
        self.kubeconfig = kubeconfig
        self.namespace = NAMESPACE

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self.kube.create(obj, namespace=self.namespace)

    def find(self, plural: str, name: str) -> dict[str, Any] | None:
        return self.kube.find(plural, self.namespace, name)

    def list(self, plural: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        return self.kube.list(plural, self.namespace, label_selector=label_selector)

    def delete(self, plural: str, name: str) -> None:
        if self.find(plural, name) is not None:
            self.kube.delete(plural, self.namespace, name, grace_period_seconds=0)


class RealCluster:
    """A cluster reached through ``KUBECONFIG``, in namespace ``MOFANG_TEST_NAMESPACE``."""

    real = True

    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace

    def _call(self, work: Callable[[Any], Any]) -> Any:
        from kubernetes_asyncio import client, config

        async def run() -> Any:
            await config.load_kube_config(config_file=str(self.kubeconfig))
            async with client.ApiClient() as api:
                return await work(client.CoreV1Api(api))

        return asyncio.run(run())

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        kind = obj["kind"]
        method = {
            "Pod": "create_namespaced_pod",
            "PersistentVolumeClaim": "create_namespaced_persistent_volume_claim",
        }[kind]

        async def work(api: Any) -> Any:
            created = await getattr(api, method)(self.namespace, obj, _preload_content=False)
            return json.loads(await created.read())

        return dict(self._call(work))

    def find(self, plural: str, name: str) -> dict[str, Any] | None:
        method = {
            "pods": "read_namespaced_pod",
            "persistentvolumeclaims": "read_namespaced_persistent_volume_claim",
        }[plural]

        async def work(api: Any) -> Any:
            response = await getattr(api, method)(name, self.namespace, _preload_content=False)
            return json.loads(await response.read()) if response.status == 200 else None

        found = self._call(work)
        return dict(found) if found else None

    def list(self, plural: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        method = {
            "pods": "list_namespaced_pod",
            "persistentvolumeclaims": "list_namespaced_persistent_volume_claim",
            "events": "list_namespaced_event",
        }[plural]

        async def work(api: Any) -> Any:
            response = await getattr(api, method)(
                self.namespace, label_selector=label_selector or "", _preload_content=False
            )
            return json.loads(await response.read())["items"]

        return list(self._call(work))

    def delete(self, plural: str, name: str) -> None:
        method = {
            "pods": "delete_namespaced_pod",
            "persistentvolumeclaims": "delete_namespaced_persistent_volume_claim",
        }[plural]

        async def work(api: Any) -> None:
            await getattr(api, method)(name, self.namespace, _preload_content=False)

        self._call(work)


def claim(name: str, storage_class: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": [os.environ.get("MOFANG_TEST_ACCESS_MODE", "ReadWriteMany")],
        "resources": {"requests": {"storage": "1Gi"}},
    }
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": spec,
    }


def ensure_claims(cluster: Cluster, names: tuple[str, ...] = CLAIMS) -> None:
    for name in names:
        if cluster.find("persistentvolumeclaims", name) is None:
            cluster.create(claim(name))


@contextmanager
def emulated_cluster(tmp: Path, **kwargs: Any) -> Iterator[EmulatedCluster]:
    tmp.mkdir(parents=True, exist_ok=True)
    with KubeEmulator(nodes=NODES, run_pods=True, **kwargs) as kube:
        cluster = EmulatedCluster(kube, kube.write_kubeconfig(tmp / "kubeconfig"))
        ensure_claims(cluster)
        yield cluster


def wait_for(predicate: Callable[[], Any], timeout: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.05)


def hub_environment(
    cluster: Cluster, state: Path, policy: dict[str, Any] | None = None, **env: str
) -> dict[str, str]:
    """Everything the test hub's configuration reads (ports included, so a test can
    load the same configuration itself, as ``mofang plan`` would)."""
    home = state / "home"
    home.mkdir(parents=True, exist_ok=True)
    environ = {
        "MOFANG_DEMO_CONFIG": str(HERE / "hub_config.py"),
        "MOFANG_DEMO_DIR": str(state),
        "MOFANG_TEST_HUB_PORT": str(free_port()),
        "MOFANG_TEST_PROXY_API_PORT": str(free_port()),
        "KUBECONFIG": str(cluster.kubeconfig),
        "MOFANG_TEST_HOME": str(home),
        "MOFANG_TEST_NAMESPACE": cluster.namespace,
        "MOFANG_TEST_POLICY": json.dumps(policy or {}),
    }
    if cluster.real:
        environ["MOFANG_TEST_REAL_CLUSTER"] = "1"
    environ.update(env)
    return environ


@contextmanager
def kube_hub(
    cluster: Cluster, state: Path, policy: dict[str, Any] | None = None, **env: str
) -> Iterator[Hub]:
    """A real JupyterHub with MofangSpawner on ``cluster``; ``hub.env`` is its environment."""
    environ = hub_environment(cluster, state, policy, **env)
    with running_hub(state, **environ) as hub:
        hub.env = environ  # type: ignore[attr-defined]
        yield hub
