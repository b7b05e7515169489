"""Requests the policy refuses never reach the cluster: tampered options, unknown GPU types,
another group's environment or storage. The user gets the message; nothing is created."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kubernetes.cluster import Cluster, kube_hub
from tests.kubernetes.test_kube_failures import failed_spawn

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("refuse", [False, True], ids=["correct-mode", "refuse-mode"])
def test_refused_requests_create_nothing(cluster: Cluster, tmp_path: Path, refuse: bool) -> None:
    policy = {"over_limit": "refuse"} if refuse else {}
    cases = [
        ("alice", {"group": "nlp"}, "You are not a member of group 'nlp'. Your groups: 'vision'."),
        ("bob", {"template": "tensorflow"}, "Environment 'tensorflow' is not available to group"),
        ("alice", {"gpus": "1", "gpu_type": "h100"}, "Unknown GPU type 'h100'."),
        ("bob", {"gpus": "1", "gpu_type": "a100"}, "GPU type 'a100' is not offered to group"),
        ("alice", {"gpus": "1000"}, "GPUs must be from 0 to 64, not '1000'."),
        ("alice", {"cpu": "NaN"}, "CPU must be a finite number"),
        ("alice", {"volumes": "/etc"}, "Unknown server option(s): volumes."),
    ]
    if refuse:
        cases.append(("alice", {"cpu": "64"}, "CPU: 64 cores is more than group 'Vision team'"))
    with kube_hub(cluster, tmp_path / "hub", policy) as hub:
        for user, options, words in cases:
            _, message = failed_spawn(hub, user, options)
            assert words in message, (options, message)
        assert not cluster.list("pods", "component=singleuser-server")
    if not cluster.real:
        writes = [r for r in cluster.kube.requests if r.method != "GET"]  # type: ignore[attr-defined]
        assert writes == []
