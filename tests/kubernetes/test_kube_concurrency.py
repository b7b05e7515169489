"""Several users spawn at once through one hub: every server starts, each in its own pod,
including users whose names differ only by punctuation."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mofang_spawner.planning import safe_name
from tests.kubernetes.cluster import Cluster, kube_hub, wait_for

pytestmark = pytest.mark.e2e

USERS = ["alice", "bob", "carol", "a.lice", "a-lice"]


def test_concurrent_spawns_each_get_their_own_valid_pod(cluster: Cluster, tmp_path: Path) -> None:
    with kube_hub(cluster, tmp_path / "hub") as hub:
        new = [u for u in USERS if u not in ("alice", "bob", "carol")]
        hub.api("POST", "/users", json={"usernames": new}).raise_for_status()
        with ThreadPoolExecutor(len(USERS)) as pool:
            results = list(pool.map(lambda u: hub.spawn(u, {"cpu": "1"}), USERS))
        for user, (response, _) in zip(USERS, results, strict=True):
            assert response.status_code in (201, 202), (user, response.text)
        for user in USERS:
            hub.wait_ready(user)
            assert hub.server_get(user, "api/status").status_code == 200, user
        pods = {
            p["metadata"]["name"]: p for p in cluster.list("pods", "component=singleuser-server")
        }
        assert set(pods) == {f"jupyter-{safe_name(u)}" for u in USERS}
        assert len({safe_name(u) for u in USERS}) == len(USERS)
        bob = pods["jupyter-bob"]
        assert bob["spec"]["schedulerName"] == "volcano"
        assert bob["metadata"]["annotations"]["scheduling.volcano.sh/queue-name"] == "nlp"
        if not cluster.real:
            assert bob["spec"]["nodeName"] == "nlp-1"
        for user in USERS:
            hub.stop_server(user)
        wait_for(lambda: not cluster.list("pods", "component=singleuser-server"), what="no pods")
