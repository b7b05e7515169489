"""Contract: the requests a spawn and a stop make of the Kubernetes API.

Recorded by the emulator. KubeSpawner's own (its pod cache's list and watch,
the deletion on stop) and Mofang's (the group's pods for the quota, the dry
run, the create, the watch of the one pod and its events) are listed here in
full: an upgrade of KubeSpawner or a change of the spawner that changes
them fails this test, to be looked at and then written down here.
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
        ("POST", PODS, "dryRun=All"),
        ("POST", PODS, ""),
        # KubeSpawner's stop, with its default grace period.
        ("DELETE", f"{PODS}/jupyter-alice", "gracePeriodSeconds=1"),
    ]
    reads = set(seen) - set(writes)
    # The pod watch may end at its first list when the pod is ready by then.
    optional = {
        ("GET", PODS, "fieldSelector=metadata.name=jupyter-alice,watch=True"),
        (
            "GET",
            EVENTS,
            "fieldSelector=involvedObject.kind=Pod,involvedObject.name=jupyter-alice,watch=True",
        ),
    }
    assert reads - optional == {
        # KubeSpawner's shared pod cache: a list, then a watch.
        ("GET", PODS, "labelSelector=component=singleuser-server"),
        ("GET", PODS, "labelSelector=component=singleuser-server,watch=True"),
        # Mofang: the group's pods, for the live quota.
        ("GET", PODS, "labelSelector=mofang.io/group=vision"),
        # Mofang: the new pod and its events, listed then watched.
        ("GET", PODS, "fieldSelector=metadata.name=jupyter-alice"),
        ("GET", EVENTS, "fieldSelector=involvedObject.kind=Pod,involvedObject.name=jupyter-alice"),
    }
