"""Watch streams: ``?watch=true`` answered as the API server answers it.

A watch is a ``200`` response with chunked ``application/json`` holding one
JSON object per line, ``{"type": "ADDED" | "MODIFIED" | "DELETED" |
"ERROR", "object": {...}}``:

* without ``resourceVersion`` (or with ``"0"``) it starts with a synthetic
  ``ADDED`` for every current object, then follows changes;
* with a ``resourceVersion`` it replays the changes after that version, or,
  if the version is older than the kept history, sends one ``ERROR`` event
  carrying a 410 ``Expired`` ``Status`` and ends (clients then list again);
* with selectors, an object that starts to match arrives as ``ADDED`` and one
  that stops matching as ``DELETED``, as from the API server's watch cache;
* ``timeoutSeconds`` ends the stream cleanly after that long;
* the stream is cut without a clean end when a ``drop_watches`` fault says so,
  and ended when the emulator closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
from typing import Any

from aiohttp import web

from .apistatus import ApiError
from .faults import Faults
from .resources import ResourceType
from .selectors import FieldSelector, LabelSelector
from .store import Store, StoreEvent

__all__ = ["WatchStreams"]

_stream_ids = itertools.count(1)
#: How often an idle stream looks at its deadline, faults and the emulator closing.
_TICK = 0.2


def _line(event_type: str, obj: dict[str, Any]) -> bytes:
    return (json.dumps({"type": event_type, "object": obj}, separators=(",", ":")) + "\n").encode()


class WatchStreams:
    """Serves watch requests and ends them all when the emulator closes."""

    def __init__(self, store: Store, faults: Faults) -> None:
        self._store = store
        self._faults = faults
        self._queues: set[asyncio.Queue[StoreEvent | None]] = set()

    def close_all(self) -> None:
        """End every open stream (on the loop)."""
        for queue in list(self._queues):
            queue.put_nowait(None)

    async def serve(
        self,
        request: web.Request,
        rtype: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        resource_version: str | None,
        timeout_seconds: float | None,
    ) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[StoreEvent | None] = asyncio.Queue()
        stream_id = next(_stream_ids)

        def callback(event: StoreEvent) -> None:
            if event.rtype.key == rtype.key:
                with contextlib.suppress(RuntimeError):  # the loop has closed
                    loop.call_soon_threadsafe(queue.put_nowait, event)

        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        try:
            initial = self._store.open_watch(rtype, namespace, resource_version, callback)
        except ApiError as error:
            await response.prepare(request)
            await response.write(_line("ERROR", error.body))
            await response.write_eof()
            return response
        self._queues.add(queue)
        try:
            await response.prepare(request)
            deadline = loop.time() + timeout_seconds if timeout_seconds else None
            if self._faults.should_drop(stream_id, sent_one=False):
                return self._cut(request, response)
            pending: list[StoreEvent | None] = list(initial)
            while True:
                if pending:
                    event = pending.pop(0)
                else:
                    wait = _TICK if deadline is None else min(_TICK, deadline - loop.time())
                    if wait <= 0:
                        break
                    try:
                        event = await asyncio.wait_for(queue.get(), wait)
                    except TimeoutError:
                        if request.transport is None or request.transport.is_closing():
                            return response
                        if self._faults.should_drop(stream_id, sent_one=False):
                            return self._cut(request, response)
                        continue
                if event is None:
                    break
                translated = _translate(event, namespace, labels, fields)
                if translated is None:
                    continue
                await response.write(_line(*translated))
                if self._faults.should_drop(stream_id, sent_one=True):
                    return self._cut(request, response)
            with contextlib.suppress(ConnectionError):
                await response.write_eof()
            return response
        except ConnectionError:
            return response  # the client went away
        finally:
            self._store.unsubscribe(callback)
            self._queues.discard(queue)

    @staticmethod
    def _cut(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        # Closing the socket mid-stream, before the terminating chunk, is
        # what the client sees when a connection drops.
        if request.transport is not None:
            request.transport.abort()
        return response


def _matches(obj: dict[str, Any] | None, labels: LabelSelector, fields: FieldSelector) -> bool:
    if obj is None:
        return False
    return labels.matches((obj.get("metadata") or {}).get("labels")) and fields.matches(obj)


def _translate(
    event: StoreEvent, namespace: str | None, labels: LabelSelector, fields: FieldSelector
) -> tuple[str, dict[str, Any]] | None:
    """The event this watcher sees for a store event, if any."""
    if namespace and (event.obj.get("metadata") or {}).get("namespace") != namespace:
        return None
    now_matches = _matches(event.obj, labels, fields)
    if event.type != "MODIFIED":
        return (event.type, event.obj) if now_matches else None
    matched_before = _matches(event.old, labels, fields)
    if now_matches:
        return ("MODIFIED" if matched_before else "ADDED", event.obj)
    if matched_before and event.old is not None:
        # Left the selection: DELETED with the last matching state, stamped
        # with this change's version so the client resumes after it.
        last = copy.deepcopy(event.old)
        last["metadata"]["resourceVersion"] = event.obj["metadata"]["resourceVersion"]
        return ("DELETED", last)
    return None
