"""CustomResourceDefinitions: from a definition to the resource types it serves, and back.

A custom resource is served as soon as its ``CustomResourceDefinition``
exists, whether a test called ``kube.register_crd`` or a client created the
definition through the API; deleting the definition stops serving it (and
removes its objects, as on a cluster). The schema is not enforced: custom
objects are stored as sent (``x-kubernetes-preserve-unknown-fields``); code
that builds them is checked against the real schemas in its own tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .resources import ResourceType

__all__ = ["crd_manifest", "crd_version", "established_status", "served_types"]

Obj = dict[str, Any]


def served_types(crd: Obj) -> list[ResourceType]:
    """The resource types a definition serves (one per served version)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    return [
        ResourceType(
            spec.get("group", ""),
            version["name"],
            names["plural"],
            names["kind"],
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            status_subresource="status" in (version.get("subresources") or {}),
            singular=names.get("singular") or names["kind"].lower(),
            short_names=tuple(names.get("shortNames") or ()),
            custom=True,
        )
        for version in spec.get("versions") or []
        if version.get("served", True)
    ]


def crd_version(version: str, *, status_subresource: bool, storage: bool) -> Obj:
    entry: Obj = {
        "name": version,
        "served": True,
        "storage": storage,
        "schema": {
            "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        },
    }
    if status_subresource:
        entry["subresources"] = {"status": {}}
    return entry


def crd_manifest(
    *,
    group: str,
    version: str,
    plural: str,
    kind: str,
    namespaced: bool,
    status_subresource: bool,
    singular: str | None,
    short_names: Iterable[str],
) -> Obj:
    """The ``apiextensions.k8s.io/v1`` definition ``kube.register_crd`` creates."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {
                "plural": plural,
                "singular": singular or kind.lower(),
                "kind": kind,
                "listKind": f"{kind}List",
                "shortNames": list(short_names),
            },
            "scope": "Namespaced" if namespaced else "Cluster",
            "versions": [crd_version(version, status_subresource=status_subresource, storage=True)],
        },
    }


def established_status(crd: Obj) -> Obj:
    """The status the API server gives a definition it has accepted."""
    return {
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"},
        ],
        "acceptedNames": crd["spec"]["names"],
        "storedVersions": [v["name"] for v in crd["spec"]["versions"] if v.get("storage")],
    }
