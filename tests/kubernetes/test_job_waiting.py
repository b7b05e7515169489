"""Why a job waits: its requests against its Volcano queue's free capacity, in plain words.

Volcano admits a job when the queue can hold all of its pods' requests, resource
by resource, whatever the GPU is called (a whole GPU, a MIG slice, a virtual
GPU), and memory too. The job's requests are read from its object, so they are
what the cluster compares, not a guess from the spec.
"""

from __future__ import annotations

from typing import Any

import pytest

from mofang_lab.backends.kubernetes.status import requests_of, waiting_reason
from tests.kubernetes.test_job_manifests import CASES


def container(requests: dict[str, str] | None = None, limits: dict[str, str] | None = None) -> Any:
    resources: dict[str, Any] = {}
    if requests is not None:
        resources["requests"] = requests
    if limits is not None:
        resources["limits"] = limits
    return {"name": "c", "image": "i", "resources": resources}


def template(*containers: Any) -> dict[str, Any]:
    return {"spec": {"containers": list(containers)}}


def queue(capability: dict[str, str], allocated: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": "vision"},
        "spec": {"capability": capability},
        "status": {"allocated": allocated},
    }


def test_the_requests_of_a_job_count_every_replica_and_container() -> None:
    pytorch = {
        "spec": {
            "runPolicy": {},
            "pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "template": template(container({"cpu": "500m"}))},
                "Worker": {
                    "replicas": 3,
                    "template": template(
                        container({"cpu": "2", "memory": "1Gi"}, {"nvidia.com/gpu": "2"}),
                        container({"cpu": "100m"}),
                    ),
                },
            },
        }
    }
    assert requests_of(pytorch) == {
        "cpu": pytest.approx(0.5 + 3 * 2.1),
        "memory": 3 * 2**30,
        "nvidia.com/gpu": 6,  # a limit with no request counts, as Kubernetes defaults it
    }
    batch = {"spec": {"parallelism": 2, "template": template(container({"memory": "512Mi"}))}}
    assert requests_of(batch) == {"memory": 2**30}
    # A request wins over the limit of the same resource; no replicas, no requests.
    mixed = {
        "spec": {
            "tfReplicaSpecs": {
                "PS": {"replicas": 0, "template": template(container({"cpu": "8"}))},
                "Worker": {
                    "replicas": 2,
                    "template": template(container({"cpu": "1"}, {"cpu": "4"})),
                },
            }
        }
    }
    assert requests_of(mixed) == {"cpu": 2}
    assert requests_of({}) == {}


def test_the_requests_of_built_jobs_name_the_gpu_the_way_the_pods_ask_for_it() -> None:
    assert requests_of(CASES["pytorch-ddp-gpu"].build())["nvidia.com/gpu"] == 8
    mig = requests_of(CASES["pytorch-mig"].build())
    assert mig["nvidia.com/mig-1g.10gb"] == 2 and "nvidia.com/gpu" not in mig
    vgpu = requests_of(CASES["pytorch-volcano-vgpu"].build())
    assert vgpu["volcano.sh/vgpu-number"] == 3
    for case in CASES.values():
        needs = requests_of(case.build())
        assert needs["cpu"] > 0 and needs["memory"] > 0


def test_a_queue_short_of_any_resource_says_which_and_how_much() -> None:
    needs = requests_of(CASES["pytorch-mig"].build())
    full = queue(
        {"cpu": "64", "memory": "256Gi", "nvidia.com/mig-1g.10gb": "14"},
        {"cpu": "8", "memory": "32Gi", "nvidia.com/mig-1g.10gb": "13"},
    )
    reason, message = waiting_reason(pods=[], pod_group=None, queue=full, needs=needs) or ("", "")
    assert reason == "QueueFull"
    assert message.startswith(
        "Queue 'vision' has 1 nvidia.com/mig-1g.10gb free of 14; the job needs 2."
    )
    short_of_memory = queue({"cpu": "64", "memory": "16Gi"}, {"cpu": "1", "memory": "12Gi"})
    reason, message = waiting_reason(
        pods=[], pod_group=None, queue=short_of_memory, needs=needs
    ) or ("", "")
    assert (reason, message.split(";")[0]) == (
        "QueueFull",
        "Queue 'vision' has 4 GiB memory free of 16 GiB",
    )
    assert "the job needs 8 GiB" in message
    roomy = queue({"cpu": "64", "memory": "256Gi", "nvidia.com/mig-1g.10gb": "14"}, {})
    assert waiting_reason(pods=[], pod_group=None, queue=roomy, needs=needs) is None
