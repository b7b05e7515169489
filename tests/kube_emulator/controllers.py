"""Controller hooks: test code that reacts to objects the way an operator would.

``kube.on(kind="PyTorchJob", handler=fn)`` makes ``fn(kube, event_type,
obj)`` run after every ``ADDED`` / ``MODIFIED`` / ``DELETED`` of that kind,
like a controller's informer callback. A fake Training Operator, for
instance, sets a job's conditions with ``kube.patch_status`` and creates its
replica pods with ``kube.create``.

Handlers run one at a time, in the order of the changes, on one thread of
their own, never on the server's event loop: a handler may block and may
call the emulator's direct API (whose changes then reach the handlers in
turn). Registering a handler first delivers ``ADDED`` for the objects of
that kind that already exist, as an informer's initial list does. An
exception in a handler is logged, kept, and raised when the emulator
closes, so a broken fake controller fails the test instead of hanging it.
"""

from __future__ import annotations

import copy
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from .store import Store, StoreEvent

__all__ = ["ControllerHooks", "Handler"]

log = logging.getLogger(__name__)

#: ``handler(kube, event_type, obj)``
Handler = Callable[[Any, str, dict[str, Any]], None]


class ControllerHooks:
    """Dispatches store events to handlers by ``kind`` on a dedicated thread."""

    def __init__(self, store: Store, owner: Any, errors: list[BaseException]) -> None:
        self._store = store
        self._owner = owner
        self._errors = errors
        self._handlers: dict[str, list[Handler]] = {}
        self._queue: queue.Queue[tuple[Handler, str, dict[str, Any]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._subscribed = False

    def on(self, kind: str, handler: Handler) -> None:
        """Call ``handler`` for every change of objects of ``kind`` (see the module docstring)."""
        with self._store.lock:
            if not self._subscribed:
                self._store.subscribe(self._on_store_event)
                self._subscribed = True
            self._handlers.setdefault(kind, []).append(handler)
            for rtype in self._store.registry.all():
                if rtype.kind == kind:
                    for obj in self._store.list_objects(rtype)[0]:
                        self._queue.put((handler, "ADDED", obj))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="kube-emulator-controllers", daemon=True
                )
                self._thread.start()

    def _on_store_event(self, event: StoreEvent) -> None:
        # Under the store lock: only queue.
        for handler in self._handlers.get(event.rtype.kind, ()):
            self._queue.put((handler, event.type, copy.deepcopy(event.obj)))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                handler, event_type, obj = item
                try:
                    handler(self._owner, event_type, obj)
                except Exception as error:
                    log.exception("controller hook %r failed on %s", handler, event_type)
                    self._errors.append(error)
            finally:
                self._queue.task_done()

    def wait_idle(self) -> None:
        """Block until every queued change has been handled (including changes handlers made)."""
        if self._thread is not None:
            self._queue.join()

    def close(self) -> None:
        if self._subscribed:
            self._store.unsubscribe(self._on_store_event)
        if self._thread is not None:
            self._queue.put(None)
            if threading.current_thread() is not self._thread:
                self._thread.join(timeout=10)
