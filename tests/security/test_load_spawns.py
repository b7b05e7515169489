"""Load: 100 spawns at once through MofangSpawner against the Kubernetes API emulator.

``MofangSpawner.start()`` for 100 users, concurrently, in one event loop as the
hub runs them: planning, the live quota check, the dry run, the pod and claim
requests, and the watch that notices each pod ready. The emulator's kubelet
marks pods Running without running their command (100 JupyterLabs would not
fit two cores), so this measures the spawner and the API traffic, which is
what 100 users starting at once put on the hub. Through a real hub, with
JupyterLab in every pod, tests/kubernetes/test_kube_concurrency.py spawns 5 at
once and ``benchmarks/spawn_kubernetes.py`` up to 40.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from jupyterhub.objects import Hub as JupyterHubHub
from jupyterhub.objects import Server
from kubernetes_asyncio.config import kube_config
from kubespawner import clients

from mofang_lab.cli.plan import load_config
from mofang_spawner.kubernetes.spawner import MofangSpawner
from mofang_spawner.planning import safe_name
from tests.kube_emulator import KubeEmulator
from tests.kubernetes.cluster import NODES, EmulatedCluster, ensure_claims
from tests.security.conftest import tally

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SPAWNS = 100
SMALL = {"template": "python", "cpu": "0.5", "memory_gib": "1", "disk_gib": "1"}


@dataclass
class HubUser:
    """The attributes of a hub user a spawner reads."""

    name: str
    groups: list[Any]
    id: int

    @property
    def escaped_name(self) -> str:
        return self.name

    @property
    def url(self) -> str:
        return f"/user/{self.name}/"

    def progress_url(self, server_name: str = "") -> str:
        return f"/hub/api/users/{self.name}/server/progress"


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatedCluster]:
    with KubeEmulator(nodes=NODES, run_pods=False) as kube:
        emulated = EmulatedCluster(kube, kube.write_kubeconfig(tmp_path / "kubeconfig"))
        ensure_claims(emulated)
        monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(emulated.kubeconfig))
        clients.load_config.cache_clear()
        yield emulated
        clients.load_config.cache_clear()


def test_a_hundred_concurrent_spawns_all_start(cluster: EmulatedCluster, tmp_path: Path) -> None:
    # Each spawn in progress holds two watches (its pod, its events) for as long as it
    # waits: on the hub's shared API client, whose pool has 100 connections, 100 spawns
    # at once would wait for connections and time out. With the product's defaults
    # they all start.
    config = load_config(ROOT / "hub-config" / "kubernetes" / "jupyterhub_config.py")
    config.KubeSpawner.namespace = "default"
    config.KubeSpawner.uid = None
    config.KubeSpawner.fs_gid = None
    config.MofangStorage.home_mount_path = str(tmp_path / "home")
    config.MofangSpawner.wait_for_port = False
    # Users differing only by case or punctuation are among them.
    users = [f"user{i}" for i in range(SPAWNS - 4)] + ["User0", "user.0", "user-0", "USER0"]

    async def spawn_all() -> tuple[list[Any], float]:
        spawners = []
        for index, name in enumerate(users):
            spawner = MofangSpawner(
                user=HubUser(name, [SimpleNamespace(name="vision")], index + 1),
                hub=JupyterHubHub(),
                config=config,
                api_token=f"token-{index}",
                oauth_client_id=f"jupyterhub-user-{name}",
                user_options=dict(SMALL),
            )
            spawner.server = Server(base_url=f"/user/{name}/")
            spawners.append(spawner)
        start = time.monotonic()
        results = await asyncio.gather(*(s.start() for s in spawners), return_exceptions=True)
        elapsed = time.monotonic() - start
        await asyncio.gather(*(s.stop(now=True) for s in spawners), return_exceptions=True)
        return results, elapsed

    results, elapsed = asyncio.run(spawn_all())
    failures = {u: r for u, r in zip(users, results, strict=True) if isinstance(r, BaseException)}
    assert failures == {}, failures
    posted = {
        r.body["metadata"]["name"]
        for r in cluster.kube.requests
        if r.method == "POST" and r.path.endswith("/pods") and "dryRun" not in r.query
    }
    assert posted == {f"jupyter-{safe_name(u)}" for u in users}
    assert len(posted) == SPAWNS
    print(f"\n{SPAWNS} concurrent MofangSpawner.start() calls succeeded in {elapsed:.2f} s")
    tally("load", SPAWNS)
