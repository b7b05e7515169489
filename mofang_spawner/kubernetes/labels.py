"""Labels and annotations that make a Mofang server findable on the cluster.

Every notebook pod (and every claim the spawner creates) carries labels under
the ``mofang.io/`` prefix, so that anyone, and the live quota check, can find
a server's user, group, environment and GPUs with a label selector::

    kubectl get pods -l mofang.io/group=vision,mofang.io/gpus!=0

Label values must be at most 63 characters of ``[A-Za-z0-9._-]``, so user and
group names go through :func:`~mofang_spawner.planning.safe_name` (the same
escaping as their storage directories); the raw names are kept in annotations
of the same keys, which accept any string. The job backend puts
:data:`GROUP_LABEL` on every replica's pod, which is how the quota check counts
a group's jobs beside its servers.
"""

from __future__ import annotations

from mofang_spawner.planning import ServerPlan, safe_name

__all__ = [
    "GPUS_LABEL",
    "GPU_TYPE_LABEL",
    "GROUP_LABEL",
    "MANAGED_BY_LABEL",
    "PREFIX",
    "TEMPLATE_LABEL",
    "USER_LABEL",
    "group_selector",
    "server_annotations",
    "server_labels",
]

PREFIX = "mofang.io/"
#: The escaped user name (``safe_name``); the raw name is in the annotation of the same key.
USER_LABEL = PREFIX + "user"
#: The escaped resource group name; the raw name is in the annotation of the same key.
GROUP_LABEL = PREFIX + "group"
#: The environment template's name (already a valid label value).
TEMPLATE_LABEL = PREFIX + "template"
#: The standard label naming the tool that manages an object; Mofang's objects say ``mofang``.
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
#: How many GPUs the pod asks for ("0" for a CPU server).
GPUS_LABEL = PREFIX + "gpus"
#: The GPU type's name; absent on a CPU server.
GPU_TYPE_LABEL = PREFIX + "gpu-type"


def server_labels(plan: ServerPlan) -> dict[str, str]:
    """The ``mofang.io/`` labels of the pod that runs ``plan``."""
    labels = {
        USER_LABEL: safe_name(plan.user),
        GROUP_LABEL: safe_name(plan.group.name),
        TEMPLATE_LABEL: plan.template.name,
        GPUS_LABEL: str(plan.gpu.count if plan.gpu else 0),
    }
    if plan.gpu is not None:
        labels[GPU_TYPE_LABEL] = plan.gpu.type
    return labels


def server_annotations(plan: ServerPlan) -> dict[str, str]:
    """The raw (unescaped) user and group names, for people reading the pod."""
    return {USER_LABEL: plan.user, GROUP_LABEL: plan.group.name}


def group_selector(group: str) -> str:
    """The label selector of everything (servers and job pods) of resource group ``group``."""
    return f"{GROUP_LABEL}={safe_name(group)}"
