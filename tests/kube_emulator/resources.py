"""The kinds of object the emulator serves, and where each lives in the REST API.

A :class:`ResourceType` names a resource the way the API server's discovery
does: group, version, plural, kind, whether it is namespaced and whether it
has a ``status`` subresource. The :class:`Registry` holds the built-in core
kinds and every custom resource registered since (``register_crd``, or a
``CustomResourceDefinition`` created through the API), and answers the
questions the HTTP layer and the store ask: which type serves
``/apis/kubeflow.org/v1/.../pytorchjobs``, which type an object's
``apiVersion`` + ``kind`` belongs to.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

__all__ = ["BUILTIN_TYPES", "Registry", "ResourceType"]


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" is the core group, served under /api/v1
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    status_subresource: bool = False
    singular: str = ""
    short_names: tuple[str, ...] = field(default=())
    #: Subresources other than ``status`` (``log`` for pods), for discovery.
    extra_subresources: tuple[str, ...] = field(default=())
    #: Defined by a CustomResourceDefinition (list items then keep kind and apiVersion).
    custom: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)

    @property
    def qualified(self) -> str:
        """``pods`` or ``pytorchjobs.kubeflow.org``, as in API server messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def base_path(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"


def _core(plural: str, kind: str, **kwargs: object) -> ResourceType:
    return ResourceType("", "v1", plural, kind, **kwargs)  # type: ignore[arg-type]


BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _core(
        "pods",
        "Pod",
        status_subresource=True,
        singular="pod",
        short_names=("po",),
        extra_subresources=("log",),
    ),
    _core(
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        status_subresource=True,
        singular="persistentvolumeclaim",
        short_names=("pvc",),
    ),
    _core("services", "Service", status_subresource=True, singular="service", short_names=("svc",)),
    _core("events", "Event", singular="event", short_names=("ev",)),
    _core("secrets", "Secret", singular="secret"),
    _core("configmaps", "ConfigMap", singular="configmap", short_names=("cm",)),
    _core("endpoints", "Endpoints", singular="endpoints", short_names=("ep",)),
    _core("serviceaccounts", "ServiceAccount", singular="serviceaccount", short_names=("sa",)),
    _core(
        "namespaces",
        "Namespace",
        namespaced=False,
        status_subresource=True,
        singular="namespace",
        short_names=("ns",),
    ),
    _core(
        "nodes",
        "Node",
        namespaced=False,
        status_subresource=True,
        singular="node",
        short_names=("no",),
    ),
    ResourceType(
        "networking.k8s.io",
        "v1",
        "ingresses",
        "Ingress",
        status_subresource=True,
        singular="ingress",
        short_names=("ing",),
    ),
    ResourceType("batch", "v1", "jobs", "Job", status_subresource=True, singular="job"),
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role", singular="role"),
    ResourceType(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "RoleBinding",
        singular="rolebinding",
    ),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        status_subresource=True,
        singular="customresourcedefinition",
        short_names=("crd", "crds"),
    ),
)


class Registry:
    """Thread-safe lookup of resource types; custom resources come and go at run time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        for rtype in BUILTIN_TYPES:
            self.add(rtype)

    def add(self, rtype: ResourceType) -> None:
        with self._lock:
            self._types[(rtype.group, rtype.version, rtype.plural)] = rtype

    def remove_group_plural(self, group: str, plural: str) -> None:
        with self._lock:
            for key in [k for k in self._types if k[0] == group and k[2] == plural]:
                del self._types[key]

    def all(self) -> list[ResourceType]:
        with self._lock:
            return list(self._types.values())

    def by_path(self, group: str, version: str, plural: str) -> ResourceType | None:
        with self._lock:
            return self._types.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        with self._lock:
            for rtype in self._types.values():
                if rtype.group == group and rtype.version == version and rtype.kind == kind:
                    return rtype
        return None

    def by_plural(self, plural: str) -> ResourceType:
        """``pods``, ``pytorchjobs`` or ``pytorchjobs.kubeflow.org`` (for the direct API)."""
        name, _, group = plural.partition(".")
        with self._lock:
            matches = [
                t
                for t in self._types.values()
                if t.plural == name and (not group or t.group == group)
            ]
        if not matches:
            raise KeyError(f"no resource type named {plural!r} is registered")
        # The core group wins a clash, as kubectl's short resource names do.
        matches.sort(key=lambda t: (t.group != "", t.group))
        return matches[0]

    def groups(self) -> dict[str, list[str]]:
        """Group name -> served versions (the core group excluded)."""
        with self._lock:
            groups: dict[str, list[str]] = {}
            for rtype in self._types.values():
                if rtype.group and rtype.version not in groups.setdefault(rtype.group, []):
                    groups[rtype.group].append(rtype.version)
            return groups

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        with self._lock:
            return [t for t in self._types.values() if t.group == group and t.version == version]
