"""A ServerPlan as KubeSpawner settings: the one place a plan becomes pod fields (pure).

:func:`pod_traits` turns a plan, the storage settings and the hub's own
KubeSpawner configuration into the values of KubeSpawner's traits (image,
resources, volumes, placement, labels). ``MofangSpawner`` assigns them before
KubeSpawner builds the Pod, and ``mofang plan`` goes through the same spawner,
so the Pod it prints is the Pod a spawn creates.

Settings a hub already has (z2jh's tolerations for dedicated user nodes,
extra volumes, common labels) are kept and Mofang's are added, with Mofang's
winning where both set the same key. KubeSpawner expands ``{username}``-style
templates in some traits; Mofang's values are literal (a group may be named
``{x}``), so their braces are doubled before they go there.

Keyword-only arguments, plain values out, no I/O and no Kubernetes client.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from mofang_spawner.kubernetes.labels import server_annotations, server_labels
from mofang_spawner.kubernetes.placement import pod_placement
from mofang_spawner.kubernetes.quantities import GIB
from mofang_spawner.kubernetes.storage import STORAGE_ENV, StorageSettings, volumes_and_mounts
from mofang_spawner.planning import PLAN_ENV, ServerPlan

__all__ = ["MERGED_TRAITS", "WORKSPACE_ENV", "literal", "pod_traits", "server_env"]

#: Environment variable holding the workspace root inside the pod.
WORKSPACE_ENV = "MOFANG_WORKSPACE"

#: KubeSpawner traits whose configured value is merged with Mofang's, not replaced.
MERGED_TRAITS = (
    "volumes",
    "volume_mounts",
    "node_selector",
    "tolerations",
    "extra_labels",
    "extra_annotations",
    "scheduler_name",
    "priority_class_name",
)


def pod_traits(
    *,
    plan: ServerPlan,
    storage: StorageSettings,
    configured: Mapping[str, Any],
    cpu_request_fraction: float = 1.0,
    memory_request_fraction: float = 1.0,
    volcano_schedulers: frozenset[str] = frozenset({"volcano"}),
) -> dict[str, Any]:
    """KubeSpawner trait values that make its Pod run ``plan``.

    ``configured`` holds the hub's own values of :data:`MERGED_TRAITS`.
    The request fractions set the guarantee (request) as a share of the
    planned CPU and memory, which are the limits.
    """
    resources = plan.resources
    memory = int(resources.memory_gib * GIB)
    disk = f"{resources.disk_gib:g}Gi"
    extended = {"ephemeral-storage": disk}
    if plan.gpu is not None:
        # Extended resources (GPUs) must be requested exactly as limited.
        extended.update(plan.gpu.resources)
    volumes, mounts = volumes_and_mounts(plan=plan, storage=storage)
    placement = pod_placement(plan=plan, volcano_schedulers=volcano_schedulers)
    tolerations = _as_list(configured.get("tolerations"))
    tolerations += [t for t in placement.tolerations if t not in tolerations]
    return {
        "image": plan.template.image,
        "image_pull_policy": plan.template.image_pull_policy,
        "cpu_limit": resources.cpu,
        "cpu_guarantee": resources.cpu * cpu_request_fraction,
        "mem_limit": memory,
        "mem_guarantee": int(memory * memory_request_fraction),
        "extra_resource_limits": dict(extended),
        "extra_resource_guarantees": dict(extended),
        "volumes": _as_list(configured.get("volumes")) + literal(volumes),
        "volume_mounts": _as_list(configured.get("volume_mounts")) + literal(mounts),
        "node_selector": {**(configured.get("node_selector") or {}), **placement.node_selector},
        "tolerations": tolerations,
        "scheduler_name": placement.scheduler_name or configured.get("scheduler_name"),
        "priority_class_name": placement.priority_class_name
        or configured.get("priority_class_name"),
        "extra_labels": {**(configured.get("extra_labels") or {}), **literal(server_labels(plan))},
        "extra_annotations": {
            **(configured.get("extra_annotations") or {}),
            **literal({**server_annotations(plan), **placement.annotations}),
        },
        "working_dir": storage.home_mount_path,
        "notebook_dir": storage.home_mount_path,
    }


def server_env(*, plan: ServerPlan, storage: StorageSettings) -> dict[str, str]:
    """Environment of the notebook container: the plan, the workspace root, the storage."""
    return {
        PLAN_ENV: plan.to_json(),
        WORKSPACE_ENV: storage.home_mount_path,
        # The job backend in the server mounts the same storage levels into job pods.
        STORAGE_ENV: storage.model_dump_json(),
    }


def literal(value: Any) -> Any:
    """``value`` with every brace in its strings doubled, so KubeSpawner's templating keeps it."""
    if isinstance(value, str):
        return value.replace("{", "{{").replace("}", "}}")
    if isinstance(value, list | tuple):
        return [literal(v) for v in value]
    if isinstance(value, dict):
        return {literal(k): literal(v) for k, v in value.items()}
    return value


def _as_list(value: Any) -> list[Any]:
    # KubeSpawner accepts a list, or a dict whose values it takes in key order.
    if not value:
        return []
    if isinstance(value, dict):
        return [copy.deepcopy(value[k]) for k in sorted(value)]
    return copy.deepcopy(list(value))
