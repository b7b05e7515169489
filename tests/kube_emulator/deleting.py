"""Deletion as a cluster does it: graceful pods, finalizers, cascades, garbage collection.

Part of :class:`~store.Store` (a mixin, to keep each module to one concern):

* a pod bound to a node that the kubelet runs is deleted gracefully: the
  delete only sets ``deletionTimestamp`` and ``deletionGracePeriodSeconds``
  (a ``MODIFIED`` event); the kubelet stops the containers and then calls
  :meth:`remove`, which produces the ``DELETED`` event;
* an object with ``finalizers`` stays, marked, until its finalizers are
  removed by an update;
* deleting a namespace deletes everything in it; deleting a
  CustomResourceDefinition stops serving its resource and deletes its objects;
* objects whose every owner (``ownerReferences``) is gone are deleted in turn
  (background propagation), unless the delete asked for ``Orphan``.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import apistatus
from .resources import Registry, ResourceType
from .timestamps import now

__all__ = ["DEFAULT_GRACE_SECONDS", "Deleting"]

Obj = dict[str, Any]
_NAMESPACES_KEY = ("", "namespaces")
#: Grace period of a pod that names none. A cluster defaults to 30 s; tests
#: should not wait that long for a process that ignores SIGTERM.
DEFAULT_GRACE_SECONDS = 5


class Deleting:
    """The delete path of the store."""

    if TYPE_CHECKING:  # provided by Store
        lock: threading.RLock
        registry: Registry
        graceful_deletion: Callable[[ResourceType, Obj], bool] | None
        _objects: dict[tuple[str, str], dict[tuple[str, str], Obj]]
        _types: dict[tuple[str, str], ResourceType]

        def _bucket(self, rtype: ResourceType) -> dict[tuple[str, str], Obj]: ...
        def _key(
            self, rtype: ResourceType, namespace: str | None, name: str
        ) -> tuple[str, str]: ...
        def _next_version(self) -> str: ...
        def _emit(
            self, event_type: str, rtype: ResourceType, obj: Obj, old: Obj | None
        ) -> None: ...
        def _update(
            self,
            rtype: ResourceType,
            namespace: str | None,
            name: str,
            compute: Callable[[Obj], Obj],
            *,
            internal: bool = False,
        ) -> Obj: ...
        def mutate(
            self,
            rtype: ResourceType,
            namespace: str | None,
            name: str,
            change: Callable[[Obj], None],
        ) -> Obj | None: ...

    def delete(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        *,
        grace_seconds: int | None = None,
        propagation: str | None = None,
        preconditions: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """Delete; returns the object and whether it is gone (False: deletion pending)."""
        with self.lock:
            key = self._key(rtype, namespace, name)
            obj = self._bucket(rtype).get(key)
            if obj is None:
                raise apistatus.not_found(rtype.plural, name, rtype.group)
            preconditions = preconditions or {}
            for field, attribute in (("uid", "uid"), ("resourceVersion", "resourceVersion")):
                wanted = preconditions.get(field)
                if wanted and wanted != obj["metadata"].get(attribute):
                    raise apistatus.conflict(
                        rtype.plural,
                        name,
                        rtype.group,
                        f"Precondition failed: {field}: {wanted}, "
                        f"{attribute}: {obj['metadata'].get(attribute)}",
                    )
            if dry_run:
                return copy.deepcopy(obj), True
            metadata = obj["metadata"]
            graceful = (
                grace_seconds != 0
                and self.graceful_deletion is not None
                and self.graceful_deletion(rtype, obj)
            )
            if metadata.get("deletionTimestamp"):
                if grace_seconds == 0 and not metadata.get("finalizers"):
                    return self._remove(rtype, key, propagation), True
                return copy.deepcopy(obj), False
            if graceful or metadata.get("finalizers"):
                grace = 0
                if graceful:
                    grace = (
                        grace_seconds
                        if grace_seconds is not None
                        else int(
                            (obj.get("spec") or {}).get(
                                "terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS
                            )
                        )
                    )

                def mark(current: Obj) -> Obj:
                    current["metadata"]["deletionTimestamp"] = now(grace)
                    current["metadata"]["deletionGracePeriodSeconds"] = grace
                    return current

                return self._update(rtype, namespace, name, mark, internal=True), False
            return self._remove(rtype, key, propagation), True

    def remove(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj | None:
        """Final removal (the kubelet after a graceful pod deletion); finalizers still hold it."""
        with self.lock:
            key = self._key(rtype, namespace, name)
            obj = self._bucket(rtype).get(key)
            if obj is None:
                return None
            if obj["metadata"].get("finalizers"):

                def zero_grace(current: Obj) -> None:
                    current["metadata"]["deletionGracePeriodSeconds"] = 0

                return self.mutate(rtype, namespace, name, zero_grace)
            return self._remove(rtype, key)

    def _remove(
        self, rtype: ResourceType, key: tuple[str, str], propagation: str | None = None
    ) -> Obj:
        obj = self._bucket(rtype).pop(key)
        obj["metadata"]["resourceVersion"] = self._next_version()
        self._emit("DELETED", rtype, obj, None)
        if rtype.key == _NAMESPACES_KEY:
            self._remove_namespace_contents(key[1])
        if rtype.kind == "CustomResourceDefinition" and rtype.group == "apiextensions.k8s.io":
            self._unregister_crd(obj)
        if propagation != "Orphan":
            self._collect_garbage(obj["metadata"]["uid"])
        return copy.deepcopy(obj)

    def _remove_namespace_contents(self, namespace: str) -> None:
        for group_plural, bucket in list(self._objects.items()):
            rtype = self._types[group_plural]
            for key in [k for k in bucket if k[0] == namespace]:
                if key in bucket:
                    self._remove(rtype, key)

    def _unregister_crd(self, crd: Obj) -> None:
        spec = crd.get("spec") or {}
        group, plural = spec.get("group", ""), (spec.get("names") or {}).get("plural", "")
        rtype = self._types.get((group, plural))
        if rtype is not None:
            for key in list(self._objects.get((group, plural), {})):
                self._remove(rtype, key)
        self.registry.remove_group_plural(group, plural)

    def _collect_garbage(self, owner_uid: str) -> None:
        live = {
            obj["metadata"]["uid"] for bucket in self._objects.values() for obj in bucket.values()
        }
        for group_plural, bucket in list(self._objects.items()):
            for key, obj in list(bucket.items()):
                owners = obj["metadata"].get("ownerReferences") or []
                uids = {ref.get("uid") for ref in owners}
                if owner_uid in uids and not (uids & live) and key in bucket:
                    self.delete(self._types[group_plural], key[0] or None, key[1])
