"""The pure builders: storage levels as volumes and claims, placement, labels, trait merging."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from mofang_spawner.kubernetes.labels import (
    GPU_TYPE_LABEL,
    GPUS_LABEL,
    GROUP_LABEL,
    TEMPLATE_LABEL,
    USER_LABEL,
    group_selector,
    server_labels,
)
from mofang_spawner.kubernetes.objects import literal, pod_traits, server_env
from mofang_spawner.kubernetes.placement import VOLCANO_QUEUE_ANNOTATION, pod_placement
from mofang_spawner.kubernetes.storage import (
    StorageSettings,
    claim_names,
    user_claim_manifests,
    volumes_and_mounts,
)
from mofang_spawner.planning import PLAN_ENV, Choices, ServerPlan, plan_server, safe_name
from tests.kubernetes.schemas import validate
from tests.policies import cluster_policy

LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def plan(
    user: str = "alice", groups: tuple[str, ...] = ("vision",), **choices: object
) -> ServerPlan:
    return plan_server(user, list(groups), Choices.model_validate(choices), cluster_policy())


# --- storage -------------------------------------------------------------------------


def test_shared_claims_mount_each_level_at_the_local_spawners_paths() -> None:
    volumes, mounts = volumes_and_mounts(
        plan=plan(groups=("vision", "nlp")), storage=StorageSettings()
    )
    assert mounts == [
        {"name": "mofang-user", "mountPath": "/home/jovyan", "subPath": "alice"},
        {"name": "mofang-project-vision", "mountPath": "/home/jovyan/projects/vision"},
        {"name": "mofang-project-nlp", "mountPath": "/home/jovyan/projects/nlp"},
        {"name": "mofang-global", "mountPath": "/home/jovyan/global", "readOnly": True},
    ]
    assert volumes == [
        {"name": "mofang-user", "persistentVolumeClaim": {"claimName": "mofang-users"}},
        {
            "name": "mofang-project-vision",
            "persistentVolumeClaim": {"claimName": "mofang-project-vision"},
        },
        {
            "name": "mofang-project-nlp",
            "persistentVolumeClaim": {"claimName": "mofang-project-nlp"},
        },
        {
            "name": "mofang-global",
            "persistentVolumeClaim": {"claimName": "mofang-global", "readOnly": True},
        },
    ]


def test_mount_paths_come_from_the_plan_not_from_fixed_names() -> None:
    policy = cluster_policy(storage={"projects_dir": "teams", "global_dir": "shared"})
    result = plan_server("alice", ["vision"], Choices(), policy)
    _, mounts = volumes_and_mounts(plan=result, storage=StorageSettings(home_mount_path="/work"))
    assert [m["mountPath"] for m in mounts] == ["/work", "/work/teams/vision", "/work/shared"]


def test_claim_per_user_and_shared_project_claim() -> None:
    storage = StorageSettings(
        user_storage="claim-per-user",
        user_storage_class="cephfs",
        project_storage="shared-claim",
    )
    volumes, mounts = volumes_and_mounts(plan=plan(user="Alice"), storage=storage)
    home = safe_name("Alice")
    assert volumes[0]["persistentVolumeClaim"]["claimName"] == f"mofang-home-{home}"
    assert "subPath" not in mounts[0]
    assert volumes[1]["persistentVolumeClaim"]["claimName"] == "mofang-projects"
    assert mounts[1]["subPath"] == "vision"
    claims = user_claim_manifests(plan=plan(user="Alice"), storage=storage, labels={"app": "x"})
    assert claims == [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": f"mofang-home-{home}",
                "labels": {"app": "x", USER_LABEL: home},
                "annotations": {USER_LABEL: "Alice"},
            },
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "resources": {"requests": {"storage": "10Gi"}},
                "storageClassName": "cephfs",
            },
        }
    ]
    validate(claims[0])


def test_shared_user_claim_creates_no_claim_and_lists_what_must_exist() -> None:
    assert user_claim_manifests(plan=plan(), storage=StorageSettings(), labels={}) == []
    assert claim_names(plan=plan(groups=("vision", "nlp")), storage=StorageSettings()) == [
        "mofang-users",
        "mofang-project-vision",
        "mofang-project-nlp",
        "mofang-global",
    ]


def test_writable_global_level_and_disabled_global_level() -> None:
    writable = plan_server(
        "alice", ["vision"], Choices(), cluster_policy(storage={"global_read_only": False})
    )
    volumes, mounts = volumes_and_mounts(plan=writable, storage=StorageSettings())
    assert "readOnly" not in mounts[-1] and "readOnly" not in volumes[-1]["persistentVolumeClaim"]
    none = plan_server(
        "alice", ["vision"], Choices(), cluster_policy(storage={"global_enabled": False})
    )
    assert [v["name"] for v in volumes_and_mounts(plan=none, storage=StorageSettings())[0]] == [
        "mofang-user",
        "mofang-project-vision",
    ]


def test_long_group_names_still_give_valid_unique_volume_names() -> None:
    long_a = "Computer Vision Research Group, Building 7 (Munich)"
    long_b = "Computer Vision Research Group, Building 7 (Zurich)"
    policy = cluster_policy(
        groups=[
            {"name": long_a, "limits": {"cpu": 2, "memory_gib": 4}},
            {"name": long_b, "limits": {"cpu": 2, "memory_gib": 4}},
        ]
    )
    result = plan_server("alice", [long_a, long_b], Choices(), policy)
    volumes, _ = volumes_and_mounts(plan=result, storage=StorageSettings())
    names = [v["name"] for v in volumes]
    assert len(set(names)) == len(names)
    assert all(DNS_LABEL.match(n) for n in names), names


@pytest.mark.parametrize(
    "home", ["relative/path", "/", "/home/../etc", "/home/{username}", "C:\\Users"]
)
def test_home_mount_path_must_be_a_plain_absolute_directory(home: str) -> None:
    with pytest.raises(ValidationError):
        StorageSettings(home_mount_path=home)


# --- placement ---------------------------------------------------------------------


def test_group_pool_and_gpu_type_placement_are_spelled_as_pod_fields() -> None:
    result = plan(template="pytorch", gpus=1, gpu_type="a100")
    placement = pod_placement(plan=result, volcano_schedulers=frozenset({"volcano"}))
    assert placement.node_selector == {
        "mofang.io/pool": "vision",
        "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
    }
    assert placement.tolerations == (
        {"key": "pool", "operator": "Equal", "value": "vision", "effect": "NoSchedule"},
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    )
    assert placement.priority_class_name == "team-normal"
    assert placement.scheduler_name is None
    # The group has a queue, but the default scheduler does not read Volcano's annotation.
    assert placement.annotations == {}


def test_volcano_vgpu_gets_the_volcano_scheduler_and_the_groups_queue() -> None:
    result = plan(template="pytorch", gpus=1, gpu_type="vc-4g")
    placement = pod_placement(plan=result, volcano_schedulers=frozenset({"volcano"}))
    assert placement.scheduler_name == "volcano"
    assert placement.annotations == {VOLCANO_QUEUE_ANNOTATION: "vision"}


def test_hami_gpus_name_their_scheduler() -> None:
    result = plan(template="pytorch", gpus=1, gpu_type="hami-8g")
    assert pod_placement(plan=result, volcano_schedulers=frozenset()).scheduler_name == (
        "hami-scheduler"
    )


# --- labels ------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["alice", "Alice", "a.lice", "al ice", "Ålice", "x" * 80, "{u}"])
def test_labels_are_valid_label_values(user: str) -> None:
    labels = server_labels(plan(user=user, template="pytorch", gpus=2))
    assert labels[USER_LABEL] == safe_name(user)
    assert labels[GROUP_LABEL] == "vision"
    assert labels[TEMPLATE_LABEL] == "pytorch"
    assert labels[GPUS_LABEL] == "2"
    assert labels[GPU_TYPE_LABEL] == "a100"
    assert all(LABEL_VALUE.match(v) and len(v) <= 63 for v in labels.values()), labels


def test_cpu_servers_say_zero_gpus_and_no_gpu_type() -> None:
    labels = server_labels(plan())
    assert labels[GPUS_LABEL] == "0"
    assert GPU_TYPE_LABEL not in labels
    assert group_selector("Vision Team") == f"mofang.io/group={safe_name('Vision Team')}"


# --- the traits of KubeSpawner -------------------------------------------------------


def test_resources_gpus_and_disk_become_requests_and_limits() -> None:
    result = plan(template="pytorch", cpu=4, memory_gib=8, disk_gib=50, gpus=2, gpu_type="hami-8g")
    traits = pod_traits(
        plan=result, storage=StorageSettings(), configured={}, cpu_request_fraction=0.5
    )
    assert traits["cpu_limit"] == 4 and traits["cpu_guarantee"] == 2
    assert traits["mem_limit"] == traits["mem_guarantee"] == 8 * 2**30
    expected = {
        "ephemeral-storage": "50Gi",
        "nvidia.com/gpu": "2",
        "nvidia.com/gpumem": "8192",
        "nvidia.com/gpucores": "30",
    }
    assert traits["extra_resource_limits"] == traits["extra_resource_guarantees"] == expected
    assert traits["image"] == result.template.image
    assert traits["working_dir"] == traits["notebook_dir"] == "/home/jovyan"


@pytest.mark.parametrize(
    ("gpu_type", "resources"),
    [
        ("a100", {"nvidia.com/gpu": "1"}),
        ("a100-1g", {"nvidia.com/mig-1g.10gb": "1"}),
        ("vc-4g", {"volcano.sh/vgpu-number": "1", "volcano.sh/vgpu-memory": "4096"}),
    ],
)
def test_every_gpu_kind_requests_its_resources(gpu_type: str, resources: dict[str, str]) -> None:
    result = plan(template="pytorch", gpus=1, gpu_type=gpu_type)
    traits = pod_traits(plan=result, storage=StorageSettings(), configured={})
    assert traits["extra_resource_limits"] == {"ephemeral-storage": "20Gi", **resources}


def test_the_hubs_own_settings_are_kept_and_mofangs_added() -> None:
    configured = {
        "volumes": {"b": {"name": "extra-b"}, "a": {"name": "extra-a"}},
        "volume_mounts": [{"name": "extra-a", "mountPath": "/data"}],
        "tolerations": [{"key": "hub.jupyter.org/dedicated", "value": "user"}],
        "node_selector": {"hub.jupyter.org/node-purpose": "user", "mofang.io/pool": "x"},
        "extra_labels": {"team": "{username}"},
        "scheduler_name": "user-scheduler",
        "priority_class_name": "default-priority",
    }
    traits = pod_traits(plan=plan(), storage=StorageSettings(), configured=configured)
    assert [v["name"] for v in traits["volumes"]][:2] == ["extra-a", "extra-b"]
    assert traits["volume_mounts"][0] == {"name": "extra-a", "mountPath": "/data"}
    assert traits["tolerations"][0] == {"key": "hub.jupyter.org/dedicated", "value": "user"}
    assert len(traits["tolerations"]) == 2
    assert traits["node_selector"] == {
        "hub.jupyter.org/node-purpose": "user",
        "mofang.io/pool": "vision",  # the group's pool wins
    }
    assert traits["extra_labels"]["team"] == "{username}"  # still a template for KubeSpawner
    assert traits["scheduler_name"] == "user-scheduler"  # the plan names none
    assert traits["priority_class_name"] == "team-normal"  # the group's
    # The configured dicts are not changed in place (a spawner serves many spawns).
    assert configured["node_selector"]["mofang.io/pool"] == "x"


def test_names_with_braces_reach_kubespawner_as_literals() -> None:
    result = plan(user="{pod_name.__class__}")
    traits = pod_traits(plan=result, storage=StorageSettings(), configured={})
    annotation = traits["extra_annotations"][USER_LABEL]
    assert annotation == "{{pod_name.__class__}}"
    assert annotation.format() == "{pod_name.__class__}"
    assert literal({"a{": ["}"]}) == {"a{{": ["}}"]}


def test_the_plan_travels_in_the_environment() -> None:
    result = plan()
    env = server_env(plan=result, storage=StorageSettings(home_mount_path="/home/me"))
    assert ServerPlan.from_json(env[PLAN_ENV]) == result
    assert env["MOFANG_WORKSPACE"] == "/home/me"
