"""Contract: the requests a spawn and a stop make of the Kubernetes API.

Recorded by the emulator. KubeSpawner's own (its pod cache's list and watch,
the deletion on stop) and Mofang's (the group's pods for the quota, the
create, the hub's one watch of pod events, which every spawn shares
with the pod cache's) are listed here in full: an upgrade of KubeSpawner or a
change of the spawner that changes them fails this test, to be looked at and
then written down here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kubernetes.cluster import EmulatedCluster, kube_hub

pytestmark = pytest.mark.e2e

PODS = "/api/v1/namespaces/default/pods"
EVENTS = "/api/v1/namespaces/default/events"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
ACCOUNTS = "/api/v1/namespaces/default/serviceaccounts"
BINDINGS = "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings"


def signature(method: str, path: str, query: dict[str, list[str]]) -> tuple[str, str, str]:
    keys = ("labelSelector", "fieldSelector", "dryRun", "watch", "gracePeriodSeconds")
    selected = ",".join(f"{k}={query[k][0]}" for k in keys if query.get(k, [""])[0])
    return method, path, selected


def test_a_spawn_and_a_stop_make_exactly_these_requests(
    emulator: EmulatedCluster, tmp_path: Path
) -> None:
    with kube_hub(emulator, tmp_path / "hub") as hub:
        emulator.kube.clear_requests()
        response, _ = hub.spawn("alice", {})
        assert response.status_code in (201, 202), response.text
        hub.wait_ready("alice")
        hub.stop_server("alice")
        seen = [signature(r.method, r.path, r.query) for r in emulator.kube.requests]
    writes = [s for s in seen if s[0] != "GET"]
    assert writes == [
        # Mofang: the user's identity. The entitlements are patched in, and the
        # ConfigMap created since it does not exist yet; then the account and its
        # binding to the jobs Role (a 409 on a later spawn).
        ("PATCH", f"{CONFIGMAPS}/mofang-entitlements", ""),
        ("POST", CONFIGMAPS, ""),
        ("POST", ACCOUNTS, ""),
        ("POST", BINDINGS, ""),
        # The pod: no dry run, since the spawn makes no claim (its create is
        # refused with the same answer as a dry run would be).
        ("POST", PODS, ""),
        # KubeSpawner's stop, with its default grace period.
        ("DELETE", f"{PODS}/jupyter-alice", "gracePeriodSeconds=1"),
    ]
    reads = set(seen) - set(writes)
    assert reads == {
        # KubeSpawner's shared pod cache: a list, then a watch; the spawn waits on it.
        ("GET", PODS, "labelSelector=component=singleuser-server"),
        ("GET", PODS, "labelSelector=component=singleuser-server,watch=True"),
        # Mofang: the hub's shared watch of pod events (KubeSpawner's event
        # reflector), which the spawn also waits on: a list, then a watch.
        ("GET", EVENTS, "fieldSelector=involvedObject.kind=Pod"),
        ("GET", EVENTS, "fieldSelector=involvedObject.kind=Pod,watch=True"),
        # Mofang: the group's pods, for the live quota.
        ("GET", PODS, "labelSelector=mofang.io/group=vision"),
    }
    # No request names the spawn's pod but its create and its deletion: however
    # many spawns wait, the hub holds two watches.
    assert not [s for s in seen if s[0] == "GET" and "jupyter-alice" in s[2]]
