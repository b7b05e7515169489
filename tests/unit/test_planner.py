"""plan_server: templates, groups, limits, corrections, refusals, GPUs, storage, placement."""

from __future__ import annotations

import pytest

from mofang_spawner.errors import PolicyError
from mofang_spawner.planning import Choices, ServerPlan, plan_server, safe_name
from tests.policies import cluster_policy, demo_catalog, demo_policy


def plan(
    user: str = "alice", groups: tuple[str, ...] = ("vision",), **choices: object
) -> ServerPlan:
    return plan_server(user, list(groups), Choices.model_validate(choices), demo_policy())


@pytest.mark.parametrize("template", [t["name"] for t in demo_catalog().TEMPLATES])
def test_every_template_plans_with_its_defaults(template: str) -> None:
    spec = next(t for t in demo_catalog().TEMPLATES if t["name"] == template)
    result = plan(template=template)
    assert result.template.name == template
    assert result.template.image == spec["image"]
    assert result.resources.cpu == spec["default"]["cpu"]
    assert result.resources.memory_gib == spec["default"]["memory_gib"]
    assert result.corrections == ()


def test_defaults_pick_the_first_group_and_first_allowed_template() -> None:
    result = plan(user="bob", groups=("nlp",))
    assert result.group.name == "nlp"
    assert result.template.name == "python"
    assert result.gpu is None


def test_choices_within_limits_are_kept() -> None:
    result = plan(template="pytorch", cpu=6, memory_gib=24, disk_gib=100, gpus=2)
    assert (result.resources.cpu, result.resources.memory_gib) == (6, 24)
    assert result.resources.gpus == 2
    assert result.corrections == ()


@pytest.mark.parametrize(
    ("field", "asked", "cap", "words"),
    [
        ("cpu", 8, 6, "CPU lowered from 8 to 6 cores"),  # group limit < template max
        ("memory_gib", 30, 24, "Memory lowered from 30 to 24 GiB"),
        ("disk_gib", 500, 100, "Disk lowered from 500 to 100 GiB"),
        ("gpus", 3, 2, "GPUs lowered from 3 to 2 GPUs"),
    ],
)
def test_over_limit_is_corrected_with_a_message(
    field: str, asked: float, cap: float, words: str
) -> None:
    result = plan(template="pytorch", **{field: asked})
    assert getattr(result.resources, field) == cap
    assert len(result.corrections) == 1
    assert result.corrections[0].startswith(words)
    assert "Vision team" in result.corrections[0]


def test_template_maximum_caps_below_the_group_limit() -> None:
    result = plan(template="python", cpu=6)  # python max 4 < vision limit 6
    assert result.resources.cpu == 4
    assert "'Python data science' environment" in result.corrections[0]


@pytest.mark.parametrize("field", ["cpu", "memory_gib", "gpus", "disk_gib"])
def test_over_limit_is_refused_when_the_admin_says_so(field: str) -> None:
    policy = demo_policy(over_limit="refuse")
    with pytest.raises(PolicyError, match="choose at most"):
        plan_server(
            "alice", ["vision"], Choices.model_validate({"template": "pytorch", field: 999}), policy
        )


def test_refuse_mode_still_accepts_requests_within_limits() -> None:
    policy = demo_policy(over_limit="refuse")
    result = plan_server("alice", ["vision"], Choices(template="pytorch", cpu=6), policy)
    assert result.resources.cpu == 6


def test_gpus_on_a_cpu_only_environment_are_corrected_to_zero_with_the_reason() -> None:
    result = plan(template="python", gpus=1)
    assert result.gpu is None
    assert result.resources.gpus == 0
    assert "runs on CPU only" in result.corrections[0]


def test_gpus_in_a_group_without_gpus_are_refused_with_the_reason() -> None:
    policy = demo_policy(over_limit="refuse")
    with pytest.raises(PolicyError, match="has no GPUs"):
        plan_server("bob", ["nlp"], Choices(template="pytorch", gpus=1), policy)


def test_not_a_member_of_the_group_is_refused_and_names_your_groups() -> None:
    with pytest.raises(PolicyError, match=r"not a member of group 'nlp'\. Your groups: 'vision'"):
        plan(group="nlp")


def test_a_group_that_does_not_exist_is_refused_like_one_you_are_not_in() -> None:
    with pytest.raises(PolicyError, match="not a member of group 'admins'"):
        plan(group="admins")


def test_unknown_template_is_refused_listing_the_choices() -> None:
    with pytest.raises(PolicyError, match=r"Unknown environment 'jax'.*'python', 'pytorch'"):
        plan(template="jax")


def test_template_not_allowed_for_the_group_is_refused() -> None:
    with pytest.raises(PolicyError, match="'tensorflow' is not available to group 'NLP team'"):
        plan(user="bob", groups=("nlp",), template="tensorflow")


def test_users_in_no_group_get_the_default_group() -> None:
    result = plan(user="admin", groups=())
    assert result.group.name == "everyone"
    assert [m.level for m in result.mounts] == ["user", "global"]


def test_users_in_no_group_are_refused_without_a_default_group() -> None:
    policy = demo_policy(default_group=None)
    with pytest.raises(PolicyError, match="not a member of any resource group"):
        plan_server("eve", ["unrelated"], Choices(), policy)


def test_hub_groups_that_are_not_resource_groups_are_ignored() -> None:
    result = plan(groups=("vision", "coffee-club"))
    assert [m.group for m in result.mounts if m.level == "project"] == ["vision"]


# --- storage ------------------------------------------------------------------


def test_storage_levels_user_every_project_group_and_global_read_only() -> None:
    result = plan(user="carol", groups=("vision", "nlp"), group="nlp")
    by_level = [(m.level, m.group, m.source, m.path, m.read_only) for m in result.mounts]
    assert by_level == [
        ("user", None, "users/carol", "", False),
        ("project", "vision", "projects/vision", "projects/vision", False),
        ("project", "nlp", "projects/nlp", "projects/nlp", False),
        ("global", None, "global", "global", True),
    ]
    assert result.group.name == "nlp"  # quota group; storage follows membership


def test_global_can_be_writable_or_absent() -> None:
    writable = plan_server(
        "a", ["vision"], Choices(), demo_policy(storage={"global_read_only": False})
    )
    assert [m.read_only for m in writable.mounts if m.level == "global"] == [False]
    absent = plan_server("a", ["vision"], Choices(), demo_policy(storage={"global_enabled": False}))
    assert [m.level for m in absent.mounts] == ["user", "project"]


def test_a_group_without_project_storage_gets_no_project_mount() -> None:
    result = plan(user="admin", groups=())
    assert not [m for m in result.mounts if m.level == "project"]


@pytest.mark.parametrize(
    "name", ["Alice", "alice.smith", "../../etc", "a/b", "Ålice", "用户", "x" * 300, "-"]
)
def test_odd_user_names_get_safe_contained_directories(name: str) -> None:
    result = plan(user=name)
    user_mount = result.mounts[0]
    assert user_mount.source == f"users/{safe_name(name)}"
    assert "/" not in result.user_dir and result.user_dir not in (".", "..")
    assert result.user == name


def test_odd_group_names_get_safe_project_paths() -> None:
    policy = demo_policy(groups=[{"name": "Vision/../Team", "limits": {"cpu": 1, "memory_gib": 1}}])
    result = plan_server("alice", ["Vision/../Team"], Choices(), policy)
    project = result.mounts[1]
    assert project.group == "Vision/../Team"
    assert project.source == f"projects/{safe_name('Vision/../Team')}"
    assert ".." not in project.path


# --- GPUs and placement -----------------------------------------------------


@pytest.mark.parametrize(
    ("gpu_type", "kind", "resources", "scheduler"),
    [
        ("a100", "whole", {"nvidia.com/gpu": "2"}, None),
        ("a100-1g", "mig", {"nvidia.com/mig-1g.10gb": "2"}, None),
        (
            "hami-8g",
            "hami",
            {"nvidia.com/gpu": "2", "nvidia.com/gpumem": "8192", "nvidia.com/gpucores": "30"},
            "hami-scheduler",
        ),
        (
            "vc-4g",
            "volcano-vgpu",
            {"volcano.sh/vgpu-number": "2", "volcano.sh/vgpu-memory": "4096"},
            "volcano",
        ),
    ],
)
def test_every_gpu_kind_gets_its_resource_names_and_scheduler(
    gpu_type: str, kind: str, resources: dict[str, str], scheduler: str | None
) -> None:
    result = plan_server(
        "alice",
        ["vision"],
        Choices(template="pytorch", gpus=2, gpu_type=gpu_type),
        cluster_policy(),
    )
    assert result.gpu is not None
    assert result.gpu.kind == kind
    assert result.gpu.resources == resources
    assert result.placement.scheduler_name == scheduler


def test_gpu_placement_merges_group_and_gpu_node_selectors_and_tolerations() -> None:
    result = plan_server("alice", ["vision"], Choices(template="pytorch", gpus=1), cluster_policy())
    assert result.gpu is not None and result.gpu.type == "a100"  # the group's first GPU type
    assert result.placement.node_selector == {
        "mofang.io/pool": "vision",
        "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
    }
    assert [t.key for t in result.placement.tolerations] == ["pool", "nvidia.com/gpu"]
    assert result.placement.priority_class_name == "team-normal"
    assert result.placement.queue == "vision"


def test_cpu_server_gets_only_the_group_placement() -> None:
    result = plan_server("alice", ["vision"], Choices(template="python"), cluster_policy())
    assert result.placement.node_selector == {"mofang.io/pool": "vision"}
    assert [t.key for t in result.placement.tolerations] == ["pool"]


def test_group_scheduler_is_used_without_gpus() -> None:
    result = plan_server("bob", ["nlp"], Choices(), cluster_policy())
    assert result.placement.scheduler_name == "volcano"
    assert result.placement.queue == "nlp"


def test_unknown_gpu_type_is_refused() -> None:
    with pytest.raises(PolicyError, match="Unknown GPU type 'h100'"):
        plan_server(
            "alice",
            ["vision"],
            Choices(template="pytorch", gpus=1, gpu_type="h100"),
            cluster_policy(),
        )


def test_gpu_type_of_another_group_is_refused() -> None:
    policy = cluster_policy()
    with pytest.raises(PolicyError, match="'a100' is not offered to group 'nlp'"):
        plan_server("bob", ["nlp"], Choices(template="pytorch", gpus=1, gpu_type="a100"), policy)


def test_plan_round_trips_through_json() -> None:
    result = plan_server(
        "alice",
        ["vision"],
        Choices(template="pytorch", gpus=1, gpu_type="hami-8g"),
        cluster_policy(),
    )
    assert ServerPlan.from_json(result.to_json()) == result


def test_same_inputs_same_plan() -> None:
    assert plan(template="pytorch", cpu=99) == plan(template="pytorch", cpu=99)


def test_the_plan_carries_what_the_group_allows_jobs() -> None:
    got = plan_server("ann", ["vision"], Choices(), cluster_policy())
    jobs = got.jobs
    assert jobs is not None
    assert jobs.queue == "vision" and jobs.priority_class_name == "team-normal"
    assert jobs.node_selector == {"mofang.io/pool": "vision"}
    assert jobs.replica_limits.gpus == 2 and jobs.replica_limits.cpu == 6
    assert [t.name for t in jobs.gpu_types] == ["a100", "a100-1g", "hami-8g", "vc-4g"]
    hami = jobs.gpu_type("hami-8g")
    assert hami is not None and hami.scheduler_name == "hami-scheduler"
    assert hami.resources(3) == {
        "nvidia.com/gpu": "3",
        "nvidia.com/gpumem": "8192",
        "nvidia.com/gpucores": "30",
    }
    mig = jobs.gpu_type(None)
    assert mig is not None and mig.name == "a100" and mig.resources(2) == {"nvidia.com/gpu": "2"}
    assert jobs.gpu_type("h100") is None
    # The placement of a CPU server says nothing about GPU nodes; the jobs policy does.
    assert got.placement.node_selector == {"mofang.io/pool": "vision"}


def test_a_group_without_gpu_types_allows_jobs_no_gpus() -> None:
    got = plan_server("ann", ["nlp"], Choices(), cluster_policy())
    assert got.jobs is not None
    assert got.jobs.gpu_types == () and got.jobs.replica_limits.gpus == 0
    assert got.jobs.scheduler_name == "volcano" and got.jobs.queue == "nlp"
