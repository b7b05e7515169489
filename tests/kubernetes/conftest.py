"""Fixtures of the Kubernetes tests: the cluster (emulator, or a real one), and a hub on it.

Every test that takes ``cluster`` runs against the in-repo emulator and, when
``KUBECONFIG`` is set, against that real cluster too (in namespace
``MOFANG_TEST_NAMESPACE``, default ``default``); without it the real-cluster
run is skipped with the reason. Tests that need the emulator's switches
(injected API faults, failing mounts) take ``emulator`` instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kubernetes.cluster import (
    Cluster,
    EmulatedCluster,
    RealCluster,
    emulated_cluster,
    ensure_claims,
)

REAL_CLUSTER_SKIP = (
    "no real cluster: set KUBECONFIG (and MOFANG_TEST_NAMESPACE, MOFANG_TEST_HUB_CONNECT_IP) "
    "to run the Kubernetes tests against one; see docs/kubernetes.md"
)


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatedCluster]:
    with emulated_cluster(tmp_path) as cluster:
        yield cluster


@pytest.fixture(params=["emulator", "real-cluster"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    if request.param == "emulator":
        with emulated_cluster(tmp_path) as emulated:
            yield emulated
        return
    kubeconfig = os.environ.get("KUBECONFIG")
    if not kubeconfig:
        pytest.skip(REAL_CLUSTER_SKIP)
    real = RealCluster(Path(kubeconfig), os.environ.get("MOFANG_TEST_NAMESPACE", "default"))
    ensure_claims(real)
    yield real
    for pod in real.list("pods", label_selector="component=singleuser-server"):
        real.delete("pods", pod["metadata"]["name"])
