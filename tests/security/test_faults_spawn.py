"""Kubernetes API faults a spawn meets that tests/kubernetes/test_kube_faults.py does not
inject: failing calls on the pod's events during a spawn, and on the stop's DELETE.

Through a real hub with MofangSpawner on the emulator. The spawn (or the stop)
must still succeed and leave nothing behind: no pod after a stop, or soon after
a stop whose DELETE kept failing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.hub import Hub
from tests.kubernetes.cluster import EmulatedCluster, emulated_cluster, kube_hub, wait_for
from tests.security.conftest import tally

pytestmark = pytest.mark.e2e

EVENTS = r"/api/v1/namespaces/default/events"
POD = r"/api/v1/namespaces/default/pods/jupyter-alice"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatedCluster]:
    with emulated_cluster(tmp_path_factory.mktemp("cluster")) as emulated:
        yield emulated


@pytest.fixture(scope="module")
def hub(cluster: EmulatedCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with kube_hub(
        cluster, tmp_path_factory.mktemp("hub"), MOFANG_TEST_RETRY_TIMEOUT="4"
    ) as running:
        yield running


@pytest.fixture(autouse=True)
def _no_faults_left(cluster: EmulatedCluster) -> Iterator[None]:
    yield
    cluster.kube.faults.clear()
    cluster.delete("pods", "jupyter-alice")  # what a failed stop left, for the next test


def spawn(hub: Hub) -> None:
    response, events = hub.spawn("alice", {"cpu": "1"})
    assert response.status_code in (201, 202), (response.text, events)
    hub.wait_ready("alice")
    assert hub.server_get("alice", "api/status").status_code == 200


def gone(cluster: EmulatedCluster, timeout: float = 15) -> None:
    wait_for(lambda: cluster.find("pods", "jupyter-alice") is None, timeout, what="no pod left")


def test_failing_reads_of_the_pods_events_do_not_fail_a_spawn(
    cluster: EmulatedCluster, hub: Hub
) -> None:
    # The spawn reads the pod's events to explain a failure; failing reads of them
    # must not fail a spawn that is going well.
    cluster.kube.faults.fail(method="GET", path=EVENTS, status=500, times=2)
    cluster.kube.faults.fail(method="GET", path=EVENTS, status=429, times=1, retry_after=0)
    spawn(hub)
    tally("faults", 3)
    hub.stop_server("alice")
    gone(cluster)


def test_a_failing_delete_on_stop_leaves_no_pod(cluster: EmulatedCluster, hub: Hub) -> None:
    spawn(hub)
    cluster.kube.faults.fail(method="DELETE", path=POD, status=500, times=1)
    tally("faults")
    hub.stop_server("alice", timeout=60)
    gone(cluster)


def test_a_delete_that_keeps_failing_is_told_and_tried_until_the_pod_is_gone(
    cluster: EmulatedCluster, hub: Hub
) -> None:
    spawn(hub)
    logged = len(hub.log.read_text())
    # Failing for longer than the stop retries (4 s here): the hub forgets the server...
    cluster.kube.faults.fail(method="DELETE", path=POD, status=503, times=None)
    tally("faults")
    hub.stop_server("alice", timeout=60)
    assert cluster.find("pods", "jupyter-alice") is not None
    said = hub.log.read_text()[logged:]
    assert "pod jupyter-alice could not be deleted" in said, said
    assert "The hub goes on trying" in said, said
    # ...but not the pod: once the API answers again, it is deleted.
    cluster.kube.faults.clear()
    gone(cluster, timeout=30)
    # And the user can start a new server.
    spawn(hub)
    hub.stop_server("alice")
    gone(cluster)
