"""Reading a starting pod: progress for normal phases, early failure for hopeless causes."""

from __future__ import annotations

from typing import Any

import pytest

from mofang_spawner.kubernetes.events import Ready, SpawnTracker, StartFailure, pod_is_ready
from mofang_spawner.planning import Choices, ServerPlan, plan_server
from tests.policies import cluster_policy

POD = "jupyter-alice"
UID = "uid-1"


def gpu_plan(gpu_type: str = "a100") -> ServerPlan:
    choices = Choices(template="pytorch", gpus=1, gpu_type=gpu_type)
    return plan_server("alice", ["vision"], choices, cluster_policy())


def tracker(plan: ServerPlan | None = None, grace: float = 5) -> SpawnTracker:
    t = SpawnTracker(plan=plan or gpu_plan(), pod_name=POD, grace_seconds=grace)
    t.uid = UID
    return t


def event(reason: str, message: str, kind: str = "Warning", uid: str = UID) -> dict[str, Any]:
    return {
        "involvedObject": {"kind": "Pod", "name": POD, "uid": uid},
        "reason": reason,
        "message": message,
        "type": kind,
    }


def pod(
    phase: str = "Pending", *, node: str | None = None, statuses: list[Any] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"nodeName": node} if node else {}
    status: dict[str, Any] = {"phase": phase}
    if statuses is not None:
        status["containerStatuses"] = statuses
    if phase == "Running":
        status["podIP"] = "10.0.0.7"
    return {"metadata": {"name": POD, "uid": UID}, "spec": spec, "status": status}


NO_GPU = (
    "0/3 nodes are available: 1 Insufficient nvidia.com/gpu, 2 node(s) didn't match Pod's "
    "node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful."
)
NO_POOL = "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."
TAINT = "0/1 nodes are available: 1 node(s) had untolerated taint {pool: nlp}."
FULL = (
    "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node "
    "affinity/selector."
)


def test_a_ready_pod_is_ready_at_once() -> None:
    t = tracker()
    running = pod("Running", node="gpu-1", statuses=[{"name": "notebook", "ready": True}])
    t.observe_pod(running, 0.0)
    verdict = t.verdict(0.0)
    assert isinstance(verdict, Ready) and verdict.pod["spec"]["nodeName"] == "gpu-1"
    assert pod_is_ready(running)
    assert not pod_is_ready(pod("Running", statuses=[{"ready": False}]))
    assert not pod_is_ready({**running, "metadata": {"deletionTimestamp": "now"}})


def test_normal_phases_are_progress_messages_said_once() -> None:
    t = tracker()
    said = t.observe_event(event("Scheduled", "Successfully assigned ns/p to gpu-1", "Normal"), 0)
    said += t.observe_event(event("Pulling", "Pulling image x", "Normal"), 0)
    said += t.observe_event(event("Pulling", "Pulling image x", "Normal"), 0)
    said += t.observe_event(event("Pulled", "Pulled", "Normal"), 0)
    said += t.observe_event(event("Started", "Started container notebook", "Normal"), 0)
    assert said == [
        "Assigned to a node: Successfully assigned ns/p to gpu-1",
        "Pulling the image quay.io/jupyter/pytorch-notebook:cuda12-2025-01-06 (the first start "
        "of an environment on a node can take minutes).",
        "Image ready.",
        "Started; waiting for JupyterLab to answer.",
    ]
    assert t.verdict(100) is None


def test_no_gpu_fails_after_the_grace_with_what_to_do() -> None:
    t = tracker(grace=5)
    assert t.observe_event(event("FailedScheduling", NO_GPU), 10.0) == [
        "Waiting for a node: " + NO_GPU.split(" preemption:")[0]
    ]
    assert t.verdict(14.9) is None
    assert t.next_deadline() == 15.0
    failure = t.verdict(15.0)
    assert isinstance(failure, StartFailure) and failure.cause == "no-gpu"
    assert failure.message.startswith(
        "No node has 1 free NVIDIA A100 80GB GPU(s) for group 'Vision team' right now"
    )
    assert "Ask for fewer GPUs or another GPU type" in failure.message


@pytest.mark.parametrize("gpu_type", ["a100-1g", "hami-8g", "vc-4g"])
def test_every_gpu_kinds_resource_is_recognised(gpu_type: str) -> None:
    plan = gpu_plan(gpu_type)
    assert plan.gpu is not None
    resource = next(iter(plan.gpu.resources))
    t = tracker(plan, grace=0)
    t.observe_event(
        event("FailedScheduling", f"0/1 nodes are available: 1 Insufficient {resource}."), 0
    )
    failure = t.verdict(0)
    assert isinstance(failure, StartFailure) and failure.cause == "no-gpu"


@pytest.mark.parametrize("message", [NO_POOL, TAINT])
def test_no_node_of_the_pool_fails_naming_the_pools_labels(message: str) -> None:
    t = tracker(grace=1)
    t.observe_event(event("FailedScheduling", message), 0)
    failure = t.verdict(1)
    assert isinstance(failure, StartFailure) and failure.cause == "node-pool"
    assert "mofang.io/pool=vision" in failure.message
    assert "tell an administrator" in failure.message


def test_a_full_pool_only_waits() -> None:
    t = tracker(grace=1)
    assert t.observe_event(event("FailedScheduling", FULL), 0) == ["Waiting for a node: " + FULL]
    assert t.verdict(1000) is None


def test_the_pod_scheduled_condition_counts_like_the_event() -> None:
    t = tracker(grace=1)
    unschedulable = pod()
    unschedulable["status"]["conditions"] = [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": NO_GPU}
    ]
    t.observe_pod(unschedulable, 0)
    assert isinstance(t.verdict(1), StartFailure)


def test_being_scheduled_or_a_scale_up_cancels_a_scheduling_failure() -> None:
    t = tracker(grace=1)
    t.observe_event(event("FailedScheduling", NO_GPU), 0)
    t.observe_pod(pod(node="gpu-2"), 0.5)
    assert t.verdict(10) is None
    scaling = tracker(grace=1)
    scaling.observe_event(event("FailedScheduling", NO_GPU), 0)
    said = scaling.observe_event(event("TriggeredScaleUp", "pod triggered scale-up", "Normal"), 0.1)
    assert said == ["The cluster is adding a node for this server; this takes minutes."]
    assert scaling.verdict(10) is None


@pytest.mark.parametrize(
    "message",
    [
        '0/2 nodes are available: persistentvolumeclaim "mofang-global" not found.',
        "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims.",
    ],
)
def test_missing_or_unbound_claims_fail_after_the_grace(message: str) -> None:
    t = tracker(grace=2)
    t.observe_event(event("FailedScheduling", message), 0)
    assert t.verdict(1) is None
    failure = t.verdict(2)
    assert isinstance(failure, StartFailure) and failure.cause == "storage"
    assert "tell an administrator" in failure.message


def test_failed_mount_fails_after_the_grace_unless_the_pod_runs() -> None:
    t = tracker(grace=2)
    t.observe_event(event("FailedMount", "MountVolume.SetUp failed: mount error 110"), 0)
    failure = t.verdict(2)
    assert isinstance(failure, StartFailure) and failure.cause == "mount"
    recovered = tracker(grace=2)
    recovered.observe_event(event("FailedMount", "MountVolume.SetUp failed"), 0)
    recovered.observe_pod(pod("Running", node="n", statuses=[{"ready": False}]), 1)
    assert recovered.verdict(5) is None


@pytest.mark.parametrize(
    "waiting",
    [
        {"reason": "ErrImagePull", "message": 'pull access denied for "x"'},
        {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "x"'},
        {"reason": "InvalidImageName", "message": "bad name"},
    ],
)
def test_image_pull_failures_end_the_spawn_at_once(waiting: dict[str, str]) -> None:
    t = tracker()
    t.observe_pod(
        pod(
            node="n", statuses=[{"name": "notebook", "ready": False, "state": {"waiting": waiting}}]
        ),
        0,
    )
    failure = t.verdict(0)
    assert isinstance(failure, StartFailure) and failure.cause == "image-pull"
    assert failure.message.startswith(
        "The image quay.io/jupyter/pytorch-notebook:cuda12-2025-01-06 of the 'PyTorch' "
        "environment cannot be pulled: "
    )
    assert waiting["message"] in failure.message


def test_an_image_pull_event_ends_the_spawn_at_once() -> None:
    t = tracker()
    t.observe_event(event("Failed", "Error: ErrImagePull"), 0)
    failure = t.verdict(0)
    assert isinstance(failure, StartFailure) and failure.cause == "image-pull"


def test_a_container_that_exits_while_starting_ends_the_spawn() -> None:
    t = tracker()
    terminated = {"terminated": {"exitCode": 3, "reason": "Error"}}
    t.observe_pod(
        pod("Running", node="n", statuses=[{"ready": False, "lastState": terminated, "state": {}}]),
        0,
    )
    failure = t.verdict(0)
    assert isinstance(failure, StartFailure) and failure.cause == "exited"
    assert (
        "exit code 3, Error" in failure.message and "kubectl logs jupyter-alice" in failure.message
    )


def test_a_deleted_pod_ends_the_spawn() -> None:
    t = tracker()
    t.observe_pod(pod(), 0, deleted=True)
    failure = t.verdict(0)
    assert isinstance(failure, StartFailure) and failure.cause == "deleted"


def test_events_and_updates_of_an_earlier_pod_of_the_same_name_are_ignored() -> None:
    t = tracker(grace=0)
    assert t.observe_event(event("FailedScheduling", NO_GPU, uid="old"), 0) == []
    old = pod("Failed")
    old["metadata"]["uid"] = "old"
    t.observe_pod(old, 0)
    assert t.verdict(10) is None
