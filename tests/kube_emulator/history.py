"""The change history of the store: what a watch resuming from a ``resourceVersion`` replays.

Every change is a :class:`StoreEvent` stamped with the resource version it
produced. The history keeps the most recent ones (a bounded number, as etcd
keeps revisions until it compacts); a watch asking to resume from a version
older than the oldest kept is answered with 410 ``Expired`` and has to list
again, which is exactly the path clients must handle on a real cluster.
``compact()`` forgets everything at once so tests can take that path.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from . import apistatus
from .resources import ResourceType

__all__ = ["History", "StoreEvent"]


@dataclass(frozen=True)
class StoreEvent:
    """One change: ``obj`` is the new state (the last state for ``DELETED``)."""

    type: str
    rtype: ResourceType
    obj: dict[str, Any]
    old: dict[str, Any] | None
    resource_version: int

    @property
    def namespace(self) -> str:
        return str((self.obj.get("metadata") or {}).get("namespace") or "")


class History:
    """Bounded, ordered record of changes; not thread-safe (the store's lock guards it)."""

    def __init__(self, limit: int) -> None:
        self._events: deque[StoreEvent] = deque(maxlen=limit)
        # Changes at or below this version are no longer kept.
        self._compacted = 0

    def record(self, event: StoreEvent) -> None:
        if len(self._events) == self._events.maxlen:
            self._compacted = self._events[0].resource_version
        self._events.append(event)

    def after(self, text: str, rtype: ResourceType, namespace: str | None) -> list[StoreEvent]:
        """Changes of ``rtype`` (in ``namespace``) after version ``text``; 410 if forgotten."""
        try:
            since = int(text)
        except ValueError:
            raise apistatus.bad_request(f'invalid resource version "{text}"') from None
        if since < self._compacted:
            raise apistatus.expired(since, self._compacted + 1)
        return [
            event
            for event in self._events
            if event.resource_version > since
            and event.rtype.key == rtype.key
            and (not namespace or event.namespace == namespace)
        ]

    def compact(self, current: int) -> None:
        self._events.clear()
        self._compacted = current
