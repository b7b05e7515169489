"""Kubernetes API faults during a spawn: retried where retrying is right, otherwise a clear
failure, and never a pod or claim left behind. Needs the emulator's fault switches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.hub import Hub
from tests.kube_emulator import RUN_ANNOTATION
from tests.kubernetes.cluster import EmulatedCluster, kube_hub, wait_for
from tests.kubernetes.test_kube_failures import POLICY, failed_spawn

pytestmark = pytest.mark.e2e

PODS = r"/api/v1/namespaces/default/pods"
CLAIMS = r"/api/v1/namespaces/default/persistentvolumeclaims"
FAULTS_ENV = {
    "MOFANG_TEST_RETRY_TIMEOUT": "4",
    "MOFANG_TEST_STORAGE": '{"user_storage": "claim-per-user"}',
}


def spawn_ok(hub: Hub, user: str = "alice", options: dict[str, str] | None = None) -> None:
    response, events = hub.spawn(user, options or {})
    assert response.status_code in (201, 202), (response.text, events)
    hub.wait_ready(user)
    assert hub.server_get(user, "api/status").status_code == 200
    hub.stop_server(user)


def nothing_left(cluster: EmulatedCluster, user: str = "alice") -> None:
    wait_for(lambda: cluster.find("pods", f"jupyter-{user}") is None, what="no pod left")
    assert cluster.find("persistentvolumeclaims", f"mofang-home-{user}") is None


def stale_pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "jupyter-alice", "annotations": {RUN_ANNOTATION: "false"}},
        "spec": {"containers": [{"name": "notebook", "image": "old:1", "command": ["sleep", "1"]}]},
    }


def test_transient_faults_are_retried_and_the_spawn_succeeds(
    emulator: EmulatedCluster, tmp_path: Path
) -> None:
    faults = emulator.kube.faults
    with kube_hub(emulator, tmp_path / "hub", **FAULTS_ENV) as hub:
        faults.fail(method="POST", path=PODS, status=500, times=2)
        faults.fail(method="GET", path=PODS, status=429, times=2, retry_after=0)
        faults.fail(method="POST", path=CLAIMS, status=503, times=1)
        spawn_ok(hub)
        faults.clear()
        # A request that takes longer than the client waits (3 s): asked again.
        faults.delay(method="POST", path=PODS, seconds=4, times=1)
        spawn_ok(hub)
        faults.clear()
        # Watches dropped again and again, mid-stream.
        faults.drop_watches(after_events=1, times=6)
        spawn_ok(hub)
        faults.clear()
        # A pod of the same name left over from before: replaced.
        emulator.create(stale_pod())
        spawn_ok(hub)


#: (status, the API server's message, what the user is told): a namespace quota's refusal.
QUOTA_REFUSAL = (
    403,
    'pods "jupyter-alice" is forbidden: exceeded quota: compute, requested: limits.cpu=1, '
    "used: limits.cpu=16, limited: limits.cpu=16",
    "The namespace's resource quota does not allow this server",
)
#: The same for an admission webhook's refusal.
WEBHOOK_REFUSAL = (
    400,
    'admission webhook "images.example.com" denied the request: image not allowed',
    "The cluster's admission policy refused this server: admission webhook",
)


@pytest.mark.parametrize(
    ("status", "message", "words"),
    [
        QUOTA_REFUSAL,
        (
            403,
            'pods is forbidden: User "system:serviceaccount:default:hub" cannot create resource',
            "The hub is not allowed to check the server's pod (dry run)",
        ),
        WEBHOOK_REFUSAL,
        (422, 'Pod "jupyter-alice" is invalid: spec', "rejected the request to check the server"),
        (500, "etcdserver: request timed out", "The Kubernetes API could not check the server"),
    ],
)
def test_final_faults_end_the_spawn_with_a_clear_message_and_leave_nothing(
    emulator: EmulatedCluster, tmp_path: Path, status: int, message: str, words: str
) -> None:
    with kube_hub(emulator, tmp_path / "hub", **FAULTS_ENV) as hub:
        emulator.kube.faults.fail(
            method="POST", path=PODS, status=status, times=None, message=message
        )
        _, said = failed_spawn(hub, "alice", {})
        assert words in said, said
        nothing_left(emulator)
        emulator.kube.faults.clear()
        spawn_ok(hub)


@pytest.mark.parametrize(
    ("status", "message", "words"),
    [
        QUOTA_REFUSAL,
        WEBHOOK_REFUSAL,
    ],
)
def test_without_claims_the_create_itself_refuses_with_the_same_message(
    emulator: EmulatedCluster, tmp_path: Path, status: int, message: str, words: str
) -> None:
    # No claim to make: no dry run; the create's own refusal says the same.
    with kube_hub(emulator, tmp_path / "hub", MOFANG_TEST_RETRY_TIMEOUT="4") as hub:
        emulator.kube.faults.fail(
            method="POST", path=PODS, status=status, times=None, message=message
        )
        emulator.kube.clear_requests()
        _, said = failed_spawn(hub, "alice", {})
        assert words in said, said
        posts = [r for r in emulator.kube.requests if r.method == "POST" and r.path == PODS]
        assert posts and not [r for r in posts if r.query.get("dryRun")]
        nothing_left(emulator)
        emulator.kube.faults.clear()
        spawn_ok(hub)


def test_a_failure_after_the_claim_was_made_removes_it_and_the_pod(
    emulator: EmulatedCluster, tmp_path: Path
) -> None:
    with kube_hub(emulator, tmp_path / "hub", POLICY, **FAULTS_ENV) as hub:
        _, said = failed_spawn(hub, "alice", {"template": "broken"})
        assert "cannot be pulled" in said
        nothing_left(emulator)
        # The claim is the user's once a server ran on it: kept after a stop.
        spawn_ok(hub, options={"template": "python"})
        assert emulator.find("persistentvolumeclaims", "mofang-home-alice") is not None
