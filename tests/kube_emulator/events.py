"""Kubernetes ``Event`` objects, written and aggregated the way components record them.

The scheduler and the kubelet report what happens to a pod as ``v1`` Events
(``Scheduled``, ``Pulling``, ``FailedScheduling``, ``FailedMount`` ...), and
KubeSpawner shows them to the user on the spawn progress page. An event
repeated for the same object, with the same reason and message, is not a new
object: its ``count`` goes up and ``lastTimestamp`` moves, as the client-go
event recorder does.
"""

from __future__ import annotations

import secrets
import threading
from typing import Any

from .resources import Registry
from .store import Store
from .timestamps import now

__all__ = ["EventRecorder"]


class EventRecorder:
    """Writes Events into the store on behalf of a component (kubelet, scheduler, a test)."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self._store = store
        rtype = registry.by_path("", "v1", "events")
        assert rtype is not None
        self._rtype = rtype
        self._lock = threading.Lock()
        # (namespace, involved uid, type, reason, message, component) -> event name
        self._seen: dict[tuple[str, ...], str] = {}

    def record(
        self,
        involved_object: dict[str, Any],
        reason: str,
        message: str,
        type: str = "Normal",
        component: str = "kubelet",
        host: str | None = None,
        field_path: str | None = None,
    ) -> dict[str, Any]:
        """Record an event about ``involved_object`` (any object dict); returns the Event."""
        metadata = involved_object.get("metadata") or {}
        namespace = metadata.get("namespace") or "default"
        reference: dict[str, Any] = {
            "kind": involved_object.get("kind", ""),
            "namespace": metadata.get("namespace", ""),
            "name": metadata.get("name", ""),
            "uid": metadata.get("uid", ""),
            "apiVersion": involved_object.get("apiVersion", "v1"),
            "resourceVersion": metadata.get("resourceVersion", ""),
        }
        if field_path:
            reference["fieldPath"] = field_path
        key = (namespace, reference["uid"], type, reason, message, component)
        with self._lock:
            existing = self._seen.get(key)
            if existing is not None:
                updated = self._store.mutate(self._rtype, namespace, existing, _bump)
                if updated is not None:
                    return updated
            stamp = now()
            source: dict[str, Any] = {"component": component}
            if host:
                source["host"] = host
            event = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {
                    # The client-go recorder names events <object>.<hex nanoseconds>.
                    "name": f"{reference['name'] or 'event'}.{secrets.token_hex(8)}",
                    "namespace": namespace,
                },
                "involvedObject": reference,
                "reason": reason,
                "message": message,
                "type": type,
                "source": source,
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "count": 1,
                "eventTime": None,
                "reportingComponent": component,
                "reportingInstance": host or "",
            }
            created = self._store.create(self._rtype, namespace, event)
            self._seen[key] = created["metadata"]["name"]
            return created


def _bump(event: dict[str, Any]) -> None:
    event["count"] = int(event.get("count") or 1) + 1
    event["lastTimestamp"] = now()
