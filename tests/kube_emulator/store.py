"""The emulated etcd plus the API server's write path: one thread-safe object store.

Every write, from an HTTP request, from the direct Python API of a test, from
the fake kubelet or from a controller hook, goes through :class:`Store`, which
does what the API server does around storage:

* fills server-owned metadata (``uid``, ``namespace``, ``creationTimestamp``,
  ``generation``, ``generateName`` names) and keeps it from being changed;
* stamps every change with the next ``resourceVersion`` of one counter shared
  by all objects, so versions order all events in the cluster;
* applies defaults and validation (``defaults``, ``validation``);
* keeps ``status`` apart from the rest for types with a ``status``
  subresource;
* runs deletion as a cluster does: graceful deletion of pods bound to a node
  (``deletionTimestamp`` first, removal when the kubelet is done), finalizers,
  and garbage collection of objects whose owners are gone;
* records a bounded history of events for watches that resume from a
  ``resourceVersion``, and tells subscribers (watch streams, the kubelet,
  controller hooks) of every change, in order, while still holding the lock.

Subscribers are called under the lock and must not block: they hand the event
to their own thread or event loop.
"""

from __future__ import annotations

import copy
import secrets
import threading
import uuid
from collections.abc import Callable
from typing import Any

from . import apistatus
from .crds import served_types
from .defaults import apply_spec_defaults, initial_status
from .deleting import DEFAULT_GRACE_SECONDS, Deleting
from .history import History, StoreEvent
from .patching import apply_json_patch, apply_merge_patch
from .resources import Registry, ResourceType
from .selectors import FieldSelector, LabelSelector
from .timestamps import now
from .validation import validate_create, validate_update

__all__ = ["DEFAULT_GRACE_SECONDS", "Store", "StoreEvent"]

Obj = dict[str, Any]
_NAMESPACES_KEY = ("", "namespaces")
_SERVER_METADATA = (
    "uid",
    "namespace",
    "name",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "resourceVersion",
)

_IDENTITY_METADATA = ("uid", "namespace", "name", "creationTimestamp", "resourceVersion")


def _spec_part(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


class Store(Deleting):
    """Objects by type and ``namespace/name``; see the module docstring."""

    def __init__(
        self, registry: Registry, *, history_limit: int = 10_000, strict_namespaces: bool = False
    ) -> None:
        self.registry = registry
        self.strict_namespaces = strict_namespaces
        self.lock = threading.RLock()
        self._objects: dict[tuple[str, str], dict[tuple[str, str], Obj]] = {}
        # The type of each bucket, kept even after a custom resource type is
        # unregistered so its objects can still be removed.
        self._types: dict[tuple[str, str], ResourceType] = {}
        self._resource_version = 0
        self._history = History(history_limit)
        self._subscribers: list[Callable[[StoreEvent], None]] = []
        #: Set by the kubelet: whether deleting this object must wait for it.
        self.graceful_deletion: Callable[[ResourceType, Obj], bool] | None = None

    # -- reading ---------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        with self.lock:
            return self._resource_version

    def _bucket(self, rtype: ResourceType) -> dict[tuple[str, str], Obj]:
        self._types.setdefault(rtype.key, rtype)
        return self._objects.setdefault(rtype.key, {})

    def _key(self, rtype: ResourceType, namespace: str | None, name: str) -> tuple[str, str]:
        return ((namespace or "") if rtype.namespaced else "", name)

    def find(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj | None:
        """A copy of the object, or None."""
        with self.lock:
            obj = self._bucket(rtype).get(self._key(rtype, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj:
        obj = self.find(rtype, namespace, name)
        if obj is None:
            raise apistatus.not_found(rtype.plural, name, rtype.group)
        return obj

    def list_objects(
        self,
        rtype: ResourceType,
        namespace: str | None = None,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
    ) -> tuple[list[Obj], int]:
        """Matching objects sorted by namespace and name, and the current resourceVersion."""
        if not rtype.namespaced:
            namespace = None
        with self.lock:
            items = [
                copy.deepcopy(obj)
                for key, obj in sorted(self._bucket(rtype).items())
                if (not namespace or key[0] == namespace)
                and (labels is None or labels.matches(obj["metadata"].get("labels")))
                and (fields is None or fields.matches(obj))
            ]
            return items, self._resource_version

    # -- subscriptions and watches ---------------------------------------------

    def subscribe(self, callback: Callable[[StoreEvent], None]) -> None:
        with self.lock:
            self._subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[StoreEvent], None]) -> None:
        with self.lock:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

    def open_watch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        resource_version: str | None,
        callback: Callable[[StoreEvent], None],
    ) -> list[StoreEvent]:
        """Subscribe ``callback`` and return the events it must see first.

        Without a version (or ``"0"``) these are synthetic ``ADDED`` events for
        the current objects; with one, the recorded events after it. A version
        older than the kept history is a 410 ``Expired``, as from etcd after
        compaction.
        """
        with self.lock:
            if resource_version in (None, "", "0"):
                initial = [
                    StoreEvent(
                        "ADDED",
                        rtype,
                        copy.deepcopy(obj),
                        None,
                        int(obj["metadata"]["resourceVersion"]),
                    )
                    for key, obj in sorted(self._bucket(rtype).items())
                    if not namespace or key[0] == namespace
                ]
            else:
                initial = self._history.after(str(resource_version), rtype, namespace)
            self._subscribers.append(callback)
            return initial

    def compact(self) -> int:
        """Forget all history (as etcd compaction does); returns the current version."""
        with self.lock:
            self._history.compact(self._resource_version)
            return self._resource_version

    def _emit(self, event_type: str, rtype: ResourceType, obj: Obj, old: Obj | None) -> None:
        event = StoreEvent(event_type, rtype, copy.deepcopy(obj), old, self._resource_version)
        self._history.record(event)
        for callback in list(self._subscribers):
            callback(event)

    def _next_version(self) -> str:
        self._resource_version += 1
        return str(self._resource_version)

    # -- creating ----------------------------------------------------------------

    def create(
        self,
        rtype: ResourceType,
        namespace: str | None,
        body: Obj,
        *,
        dry_run: bool = False,
        keep_status: bool = False,
    ) -> Obj:
        """Store a new object; ``keep_status`` is for the emulator's own objects (nodes)."""
        obj = copy.deepcopy(body)
        if not isinstance(obj, dict):
            raise apistatus.bad_request("the body of the request must be a JSON object")
        metadata = obj.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise apistatus.bad_request("metadata must be an object")
        self._check_type_fields(rtype, obj)
        if rtype.namespaced:
            body_namespace = metadata.get("namespace")
            if body_namespace and namespace and body_namespace != namespace:
                raise apistatus.bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            namespace = namespace or body_namespace or "default"
            metadata["namespace"] = namespace
        else:
            metadata.pop("namespace", None)
        with self.lock:
            if not metadata.get("name"):
                if not metadata.get("generateName"):
                    raise apistatus.invalid(
                        rtype.kind,
                        "",
                        [("metadata.name", "Required value: name or generateName is required")],
                        rtype.group,
                    )
                metadata["name"] = self._generate_name(rtype, namespace, metadata["generateName"])
            name = metadata["name"]
            apply_spec_defaults(rtype, obj)
            causes = validate_create(rtype, obj)
            if causes:
                raise apistatus.invalid(rtype.kind, name, causes, rtype.group)
            if rtype.namespaced:
                self._require_namespace(str(namespace), dry_run)
            key = self._key(rtype, namespace, name)
            if key in self._bucket(rtype):
                raise apistatus.already_exists(rtype.plural, name, rtype.group)
            for field in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
                metadata.pop(field, None)
            metadata["uid"] = str(uuid.uuid4())
            metadata["creationTimestamp"] = now()
            metadata["generation"] = 1
            if not keep_status:
                status = initial_status(rtype, obj)
                if status == {}:
                    obj.pop("status", None)
                elif status is not None:
                    obj["status"] = status
            if dry_run:
                return obj
            metadata["resourceVersion"] = self._next_version()
            self._bucket(rtype)[key] = obj
            self._emit("ADDED", rtype, obj, None)
            self._after_create(rtype, obj)
            return copy.deepcopy(obj)

    def _check_type_fields(self, rtype: ResourceType, obj: Obj) -> None:
        # Clients may leave kind and apiVersion out (the path says what they
        # are); if they are sent they must agree with the path.
        kind = obj.setdefault("kind", rtype.kind)
        api_version = obj.setdefault("apiVersion", rtype.api_version)
        if kind != rtype.kind or api_version != rtype.api_version:
            raise apistatus.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({rtype.api_version})"
                if api_version != rtype.api_version
                else f"the kind in the data ({kind}) does not match the expected kind "
                f"({rtype.kind})"
            )

    def _generate_name(self, rtype: ResourceType, namespace: str | None, prefix: str) -> str:
        alphabet = "bcdfghjklmnpqrstvwxz2456789"
        for _ in range(100):
            candidate = prefix[:58] + "".join(secrets.choice(alphabet) for _ in range(5))
            if self._key(rtype, namespace, candidate) not in self._bucket(rtype):
                return candidate
        raise apistatus.already_exists(rtype.plural, prefix, rtype.group)

    def _require_namespace(self, namespace: str, dry_run: bool) -> None:
        namespaces = self._objects.setdefault(_NAMESPACES_KEY, {})
        if ("", namespace) in namespaces:
            return
        if self.strict_namespaces:
            raise apistatus.not_found("namespaces", namespace)
        if not dry_run:
            # A convenience of the emulator: a namespace springs into
            # existence on first use (strict_namespaces=True turns this off).
            ns_type = self.registry.by_path("", "v1", "namespaces")
            assert ns_type is not None
            self.create(ns_type, None, {"metadata": {"name": namespace}})

    def _after_create(self, rtype: ResourceType, obj: Obj) -> None:
        if rtype.kind == "CustomResourceDefinition" and rtype.group == "apiextensions.k8s.io":
            self._register_crd(obj)

    def _register_crd(self, crd: Obj) -> None:
        for rtype in served_types(crd):
            self.registry.add(rtype)

    # -- updating ----------------------------------------------------------------

    def replace(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        body: Obj,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """PUT: the whole object (or its status), with an optimistic-concurrency check."""
        if not isinstance(body, dict):
            raise apistatus.bad_request("the body of the request must be a JSON object")
        sent_name = (body.get("metadata") or {}).get("name")
        if sent_name and sent_name != name:
            raise apistatus.bad_request(
                f"the name of the object ({sent_name}) does not match the name on the URL ({name})"
            )
        return self._update(
            rtype,
            namespace,
            name,
            lambda _old: copy.deepcopy(body),
            subresource=subresource,
            dry_run=dry_run,
            expected_version=(body.get("metadata") or {}).get("resourceVersion"),
        )

    def patch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        patch: Any,
        patch_type: str,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """PATCH in one of the formats of :mod:`patching` (``apply`` creates if missing)."""
        if patch_type == "apply" and self.find(rtype, namespace, name) is None:
            body = copy.deepcopy(patch)
            body.setdefault("metadata", {})["name"] = name
            return self.create(rtype, namespace, body, dry_run=dry_run)
        if patch_type == "json":

            def compute(old: Obj) -> Obj:
                return dict(apply_json_patch(old, patch))

            expected = None
        else:
            if not isinstance(patch, dict):
                raise apistatus.bad_request("a merge patch must be a JSON object")

            def compute(old: Obj) -> Obj:
                return dict(apply_merge_patch(old, patch))

            expected = (patch.get("metadata") or {}).get("resourceVersion")
        return self._update(
            rtype,
            namespace,
            name,
            compute,
            subresource=subresource,
            dry_run=dry_run,
            expected_version=expected,
        )

    def mutate(
        self, rtype: ResourceType, namespace: str | None, name: str, change: Callable[[Obj], None]
    ) -> Obj | None:
        """The emulator's own write (kubelet, events): ``change`` edits a copy in place.

        Skips validation and subresource rules (the kubelet writes ``spec.nodeName``
        and ``status`` together, as the scheduler's binding and the kubelet's
        status manager do); returns None if the object is gone.
        """
        with self.lock:
            if self.find(rtype, namespace, name) is None:
                return None

            def compute(old: Obj) -> Obj:
                change(old)
                return old

            return self._update(rtype, namespace, name, compute, internal=True)

    def _update(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        compute: Callable[[Obj], Obj],
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        expected_version: str | None = None,
        internal: bool = False,
    ) -> Obj:
        with self.lock:
            key = self._key(rtype, namespace, name)
            old = self._bucket(rtype).get(key)
            if old is None:
                raise apistatus.not_found(rtype.plural, name, rtype.group)
            new = compute(copy.deepcopy(old))
            if not isinstance(new, dict):
                raise apistatus.bad_request("the result of the patch is not an object")
            if expected_version and str(expected_version) != old["metadata"]["resourceVersion"]:
                raise apistatus.conflict(rtype.plural, name, rtype.group)
            if not internal:
                self._check_type_fields(rtype, new)
            metadata = new.get("metadata")
            if not isinstance(metadata, dict):
                metadata = new["metadata"] = {}
            # The emulator's own writes may set deletion fields; clients may not.
            for field in _IDENTITY_METADATA if internal else _SERVER_METADATA:
                if field in old["metadata"]:
                    metadata[field] = old["metadata"][field]
                else:
                    metadata.pop(field, None)
            new["kind"], new["apiVersion"] = rtype.kind, rtype.api_version
            if subresource == "status":
                # Only the status changes through the status endpoint.
                status = new.get("status")
                new = copy.deepcopy(old)
                if status is None:
                    new.pop("status", None)
                else:
                    new["status"] = status
            elif rtype.status_subresource and not internal:
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
            if not internal:
                apply_spec_defaults(rtype, new)
                if subresource is None:
                    causes = validate_update(rtype, old, new)
                    if causes:
                        raise apistatus.invalid(rtype.kind, name, causes, rtype.group)
            if new == old:
                # A no-op write leaves the version alone, as on a cluster.
                return copy.deepcopy(old)
            if _spec_part(new) != _spec_part(old):
                metadata["generation"] = int(old["metadata"].get("generation", 1)) + 1
            if dry_run:
                return new
            metadata["resourceVersion"] = self._next_version()
            self._bucket(rtype)[key] = new
            self._emit("MODIFIED", rtype, new, copy.deepcopy(old))
            if rtype.kind == "CustomResourceDefinition" and rtype.group == "apiextensions.k8s.io":
                self._register_crd(new)  # a version may have been added
            if (
                metadata.get("deletionTimestamp")
                and not metadata.get("finalizers")
                and metadata.get("deletionGracePeriodSeconds", 0) == 0
            ):
                self._remove(rtype, key)
            return copy.deepcopy(new)
