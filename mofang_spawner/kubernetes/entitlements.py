"""What a user's jobs may use on the cluster, written where the cluster's guard reads it (pure).

The job backend in a user's notebook pod creates jobs with the pod's token,
and so can the user, by hand, from a terminal. The cluster-side guard (a
``ValidatingAdmissionPolicy``, ``hub-config/kubernetes/jobs/guard.yaml``)
therefore checks every job object a user's service account creates against
that user's **entitlements**, which the hub derives from the same policy as
the user's notebook server and records on each spawn:

==================  =======================================================================
key                 value (comma-separated; empty: nothing)
==================  =======================================================================
``<sa>.user``       the escaped user name, the ``mofang.io/user`` label their objects carry
``<sa>.groups``     escaped names of the user's resource groups (``mofang.io/group`` labels)
``<sa>.claims``     ``claim`` (mount whole, writable), ``claim:ro`` (whole, read-only only),
                    ``claim/dir`` (only ``subPath`` ``dir`` or below it)
``<sa>.queues``     Volcano queues (``default`` for a group without one)
``<sa>.priorityClasses``  priority classes
``<sa>.schedulers`` scheduler names
``<sa>.nodeSelectors``    ``key=value`` node labels a pod may select (groups' pools, GPU types)
``<sa>.tolerations``      ``key`` (any value, ``Exists``) or ``key=value`` taints a pod may tolerate
``serviceAccounts``       service accounts job pods may run as (all users)
``volcanoSchedulers``     the scheduler names that are Volcano (all users)
==================  =======================================================================

``<sa>`` is the user's service account (:mod:`~mofang_spawner.kubernetes.identity`).
All users of a namespace share one ConfigMap (``mofang-entitlements``), which
the guard names as its parameter: Kubernetes CEL has no JSON parser and a
policy binding names one parameter object, so the record is flat strings,
one key per user and field, that CEL reads with ``split(',')``. None of the
values can contain a comma (names and label values cannot), so the lists
cannot be forged from inside a value. A ConfigMap holds at most 1 MiB:
about 1,500 users with typical policies; beyond that, spread users over
several namespaces.

Keyword-only arguments, plain values out, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from mofang_spawner.errors import ConfigurationError
from mofang_spawner.kubernetes.labels import MANAGED_BY_LABEL
from mofang_spawner.kubernetes.storage import StorageSettings, volumes_and_mounts
from mofang_spawner.planning import GpuType, ResourceGroup, ServerPlan, Toleration, safe_name

__all__ = [
    "DEFAULT_QUEUE",
    "DEFAULT_SCHEDULER",
    "ENTITLEMENTS_CONFIG_MAP",
    "Entitlements",
    "entitlements_config_map",
    "namespace_entitlements",
    "toleration_entry",
    "user_entitlements",
]

#: The ConfigMap (one per namespace) the guard takes as its parameter.
ENTITLEMENTS_CONFIG_MAP = "mofang-entitlements"
#: Volcano's queue for a pod group that names none.
DEFAULT_QUEUE = "default"
#: The scheduler of a pod that names none.
DEFAULT_SCHEDULER = "default-scheduler"


class Entitlements(BaseModel):
    """One user's entitlements (see the module docstring for each field's meaning)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str
    groups: tuple[str, ...]
    claims: tuple[str, ...]
    queues: tuple[str, ...]
    priority_classes: tuple[str, ...]
    schedulers: tuple[str, ...]
    node_selectors: tuple[str, ...]
    tolerations: tuple[str, ...]

    def data(self, service_account: str) -> dict[str, str]:
        """The ConfigMap keys of this user, whose service account is ``service_account``."""
        fields = {
            "user": (self.user,),
            "groups": self.groups,
            "claims": self.claims,
            "queues": self.queues,
            "priorityClasses": self.priority_classes,
            "schedulers": self.schedulers,
            "nodeSelectors": self.node_selectors,
            "tolerations": self.tolerations,
        }
        return {f"{service_account}.{key}": _joined(key, values) for key, values in fields.items()}


def user_entitlements(
    *,
    plan: ServerPlan,
    groups: Sequence[ResourceGroup],
    gpu_types: Sequence[GpuType],
    storage: StorageSettings,
    schedulers: Iterable[str] = ("volcano",),
    node_selector: Mapping[str, str] | None = None,
    tolerations: Iterable[Mapping[str, Any] | Toleration] = (),
) -> Entitlements:
    """The entitlements of ``plan``'s user, a member of resource ``groups``.

    ``plan`` gives the storage (its mounts are those of all the user's
    groups); ``groups`` (the user's resource groups, from
    :func:`~mofang_spawner.planning.member_groups`) give queues, pools,
    priority classes and GPU types, whichever group a job is submitted in.
    ``schedulers`` (the gang scheduler), ``node_selector`` and
    ``tolerations`` are allowed to everyone: the hub's own settings for
    user pods, and any the administrator adds for jobs.
    """
    by_name = {t.name: t for t in gpu_types}
    queues: list[str] = []
    priority_classes: list[str] = []
    allowed_schedulers: list[str] = list(schedulers)
    pairs: list[str] = [f"{k}={v}" for k, v in (node_selector or {}).items()]
    taints: list[str] = [_entry(t) for t in tolerations]
    for group in groups:
        queues.append(group.queue or DEFAULT_QUEUE)
        if group.priority_class_name:
            priority_classes.append(group.priority_class_name)
        if group.scheduler_name:
            allowed_schedulers.append(group.scheduler_name)
        elif not group.queue:
            # A group with a queue runs its jobs through Volcano only: the
            # default scheduler would let them bypass the queue's capacity.
            allowed_schedulers.append(DEFAULT_SCHEDULER)
        pairs.extend(f"{k}={v}" for k, v in group.node_selector.items())
        taints.extend(_entry(t) for t in group.tolerations)
        for name in group.gpu_types:
            gpu = by_name.get(name)
            if gpu is None:
                continue
            pairs.extend(f"{k}={v}" for k, v in gpu.node_selector.items())
            taints.extend(_entry(t) for t in gpu.tolerations)
            if gpu.default_scheduler:
                allowed_schedulers.append(gpu.default_scheduler)
    return Entitlements(
        user=safe_name(plan.user),
        groups=_unique(safe_name(g.name) for g in groups),
        claims=_claims(plan, storage),
        queues=_unique(queues),
        priority_classes=_unique(priority_classes),
        schedulers=_unique(allowed_schedulers),
        node_selectors=_unique(pairs),
        tolerations=_unique(t for t in taints if t),
    )


def namespace_entitlements(
    *, job_service_accounts: Iterable[str], volcano_schedulers: Iterable[str]
) -> dict[str, str]:
    """The keys every user of the namespace shares."""
    return {
        "serviceAccounts": _joined("serviceAccounts", _unique(job_service_accounts)),
        "volcanoSchedulers": _joined("volcanoSchedulers", _unique(volcano_schedulers)),
    }


def entitlements_config_map(
    *, data: Mapping[str, str], name: str = ENTITLEMENTS_CONFIG_MAP, labels: Mapping[str, str]
) -> dict[str, Any]:
    """The ConfigMap holding ``data``, as the hub creates it when it is missing."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {**labels, MANAGED_BY_LABEL: "mofang"}},
        "data": dict(data),
    }


def toleration_entry(toleration: Mapping[str, Any]) -> str:
    """How the guard spells a toleration: ``key`` for ``Exists``, ``key=value`` otherwise.

    The effect is not part of it. A toleration without a key (which tolerates
    every taint) is ``""``, which no entitlement matches.
    """
    key = str(toleration.get("key") or "")
    if not key:
        return ""
    if toleration.get("operator") == "Exists":
        return key
    return f"{key}={toleration.get('value') or ''}"


def _entry(toleration: Mapping[str, Any] | Toleration) -> str:
    if isinstance(toleration, Toleration):
        return toleration_entry(toleration.model_dump())
    return toleration_entry(toleration)


def _claims(plan: ServerPlan, storage: StorageSettings) -> tuple[str, ...]:
    volumes, mounts = volumes_and_mounts(plan=plan, storage=storage)
    claims = {v["name"]: v["persistentVolumeClaim"] for v in volumes}
    entries: list[str] = []
    for mount in mounts:
        claim = claims[mount["name"]]
        name = claim["claimName"]
        if mount.get("subPath"):
            entries.append(f"{name}/{mount['subPath']}")
        elif mount.get("readOnly") or claim.get("readOnly"):
            entries.append(f"{name}:ro")
        else:
            entries.append(name)
    return _unique(entries)


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _joined(key: str, values: Iterable[str]) -> str:
    values = tuple(values)
    for value in values:
        if "," in value:
            raise ConfigurationError(
                f"Entitlement {key} {value!r} contains a comma, which the cluster's guard "
                "cannot read; rename it in the policy."
            )
    return ",".join(values)
