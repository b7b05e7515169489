"""The event stream of a backend: the store's events, then new ones as the backend signals them.

Every backend records state changes in its job store (numbered per server)
and calls :meth:`Changes.notify` after each write; :func:`stream_events`
replays an owner's events after ``since`` and then waits for the next
signal, so a client that reconnects with the last ``seq`` it saw misses
nothing and sees nothing twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from mofang_lab.backends.base import JobEvent
from mofang_lab.backends.store import EVENTS_PAGE, JobStore

__all__ = ["Changes", "stream_events"]


class Changes:
    """Wakes every waiting stream when the store changed."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def waiter(self) -> asyncio.Event:
        """The event the next :meth:`notify` sets; take it *before* reading the store."""
        return self._event


async def stream_events(
    store: JobStore, changes: Changes, owner: str, since: int, job_id: str | None
) -> AsyncIterator[JobEvent]:
    """``owner``'s events after ``since``, then new ones; with ``job_id``, until it ends."""
    last = since
    while True:
        changed = changes.waiter()  # taken before reading, so no change is missed
        page = store.events_since(owner, last, job_id)
        for event in page:
            last = event.seq
            yield event
            if job_id is not None and event.state.terminal:
                return
        if len(page) < EVENTS_PAGE:  # a full page: more may be stored already
            await changed.wait()
