"""The live quota: counting what a group's pods hold, and fitting or refusing a new server."""

from __future__ import annotations

from typing import Any

import pytest

from mofang_spawner.errors import PolicyError
from mofang_spawner.kubernetes.quantities import parse_quantity
from mofang_spawner.kubernetes.quota import Usage, fit_quota, group_usage, pod_usage
from mofang_spawner.planning import Choices, Resources, ServerPlan, plan_server
from tests.policies import cluster_policy

QUOTA = Resources(cpu=16, memory_gib=64, gpus=4, disk_gib=500)


def pod(
    name: str, *containers: dict[str, Any], phase: str = "Running", **meta: Any
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, **meta},
        "spec": {
            "containers": [{"name": f"c{i}", "resources": c} for i, c in enumerate(containers)]
        },
        "status": {"phase": phase},
    }


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", 0.5),
        ("2", 2.0),
        (2.5, 2.5),
        ("4Gi", 4 * 2**30),
        ("1G", 1e9),
        ("1.5Ki", 1536.0),
        ("1e3", 1000.0),
        ("100M", 1e8),
        ("1E", 1e18),
    ],
)
def test_quantities(text: str | float, value: float) -> None:
    assert parse_quantity(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "abc", "4GB", "1..2", "Gi", True])
def test_malformed_quantities_are_errors(text: Any) -> None:
    with pytest.raises(ValueError, match="not a quantity"):
        parse_quantity(text)


def test_a_pod_holds_the_larger_of_request_and_limit_summed_over_containers() -> None:
    usage = pod_usage(
        pod(
            "p",
            {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}},
            {"requests": {"cpu": "1", "nvidia.com/gpu": "2", "ephemeral-storage": "10Gi"}},
        )
    )
    assert (usage.cpu, usage.memory_gib, usage.gpus, usage.disk_gib) == (3, 2, 2, 10)


def test_every_gpu_kind_counts_as_gpus() -> None:
    pods = [
        pod("whole", {"limits": {"nvidia.com/gpu": "1"}}),
        pod("mig", {"limits": {"nvidia.com/mig-1g.10gb": "2"}}),
        pod("hami", {"limits": {"nvidia.com/gpu": "1", "nvidia.com/gpumem": "8192"}}),
        pod(
            "volcano", {"limits": {"volcano.sh/vgpu-number": "1", "volcano.sh/vgpu-memory": "4096"}}
        ),
    ]
    assert group_usage(pods).gpus == 5


def test_init_containers_count_like_the_scheduler_counts_them() -> None:
    spec = pod("p", {"requests": {"cpu": "1"}})
    spec["spec"]["initContainers"] = [{"name": "init", "resources": {"requests": {"cpu": "3"}}}]
    assert pod_usage(spec).cpu == 3


def test_finished_deleting_and_own_pods_do_not_count() -> None:
    gpu = {"limits": {"nvidia.com/gpu": "1", "cpu": "1"}}
    pods = [
        pod("running", gpu),
        pod("pending", gpu, phase="Pending"),
        pod("done", gpu, phase="Succeeded"),
        pod("failed", gpu, phase="Failed"),
        pod("going", gpu, deletionTimestamp="2025-01-01T00:00:00Z"),
        pod("jupyter-alice", gpu),
    ]
    usage = group_usage(pods, exclude="jupyter-alice")
    assert usage.gpus == 2
    assert set(usage.pods) == {"running", "pending"}


def gpu_plan(gpus: int = 2, **choices: Any) -> ServerPlan:
    policy = cluster_policy()
    return plan_server(
        "alice", ["vision"], Choices(template="pytorch", gpus=gpus, **choices), policy
    )


def test_a_plan_that_fits_is_unchanged() -> None:
    plan = gpu_plan()
    fitted = fit_quota(
        plan=plan, groups=["vision"], quota=QUOTA, usage=Usage(gpus=2), policy=cluster_policy()
    )
    assert fitted is plan


def test_gpus_beyond_the_quota_are_lowered_and_the_user_told() -> None:
    fitted = fit_quota(
        plan=gpu_plan(),
        groups=["vision"],
        quota=QUOTA,
        usage=Usage(gpus=3, cpu=2),
        policy=cluster_policy(),
    )
    assert fitted.resources.gpus == 1
    assert fitted.gpu is not None and fitted.gpu.resources == {"nvidia.com/gpu": "1"}
    assert fitted.corrections[-1] == (
        "GPUs lowered from 2 to 1 GPUs: group 'Vision team' already holds 3 of its quota "
        "of 4 GPUs (servers and jobs together)."
    )


def test_no_gpus_left_gives_a_cpu_server_without_gpu_placement() -> None:
    fitted = fit_quota(
        plan=gpu_plan(1, gpu_type="a100"),
        groups=["vision"],
        quota=QUOTA,
        usage=Usage(gpus=4),
        policy=cluster_policy(),
    )
    assert fitted.gpu is None and fitted.resources.gpus == 0
    assert "nvidia.com/gpu.product" not in fitted.placement.node_selector
    assert "GPUs lowered from 1 to 0" in fitted.corrections[-1]


def test_refuse_mode_refuses_with_what_is_left() -> None:
    policy = cluster_policy(over_limit="refuse")
    plan = plan_server("alice", ["vision"], Choices(template="pytorch", gpus=2), policy)
    with pytest.raises(PolicyError) as caught:
        fit_quota(plan=plan, groups=["vision"], quota=QUOTA, usage=Usage(gpus=3), policy=policy)
    assert caught.value.message == (
        "GPUs: 2 GPUs does not fit: group 'Vision team' already holds 3 of its quota of 4 GPUs "
        "(servers and jobs together); ask for at most 1 GPUs. Stop a server or job of the "
        "group, or try again later."
    )


def test_cpu_used_up_is_refused_even_in_correct_mode() -> None:
    with pytest.raises(PolicyError, match=r"CPU: 2 cores does not fit.*nothing is left"):
        fit_quota(
            plan=gpu_plan(0),
            groups=["vision"],
            quota=QUOTA,
            usage=Usage(cpu=16),
            policy=cluster_policy(),
        )


def test_memory_partly_left_is_lowered() -> None:
    fitted = fit_quota(
        plan=gpu_plan(0, memory_gib=8),
        groups=["vision"],
        quota=QUOTA,
        usage=Usage(memory_gib=61),
        policy=cluster_policy(),
    )
    assert fitted.resources.memory_gib == 3
    assert fitted.corrections == (
        "Memory lowered from 8 to 3 GiB: group 'Vision team' already "
        "holds 61 of its quota of 64 GiB (servers and jobs together).",
    )
