"""``GET /mofang/api/events``: your jobs' state changes as server-sent events.

One stream per client instead of one poll per job: the sidebar, ``mofang
submit --wait`` and ``%mofang_submit --wait`` read it. Each event is
``id: <seq>``, ``event: job`` and ``data: <JobEvent as JSON>``; a client that
reconnects sends ``Last-Event-ID`` (or ``?since=``) and gets what it missed.
With ``?job=ID`` the stream carries that job's events only and ends after its
final state. A comment line is sent every ``keepalive`` seconds so proxies
keep the connection open.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from tornado import web
from tornado.iostream import StreamClosedError

from mofang_lab.backends.base import JobEvent
from mofang_lab.handlers.jobs import JobsBaseHandler
from mofang_spawner.errors import InvalidRequestError

__all__ = ["EventsHandler"]

KEEPALIVE_SECONDS = 15.0


class EventsHandler(JobsBaseHandler):
    @web.authenticated
    async def get(self) -> None:
        since_text = self.request.headers.get("Last-Event-ID") or self.get_argument("since", "0")
        try:
            since = int(since_text)
        except ValueError as exc:
            raise InvalidRequestError(
                f"since must be an event number (got {since_text!r})"
            ) from exc
        job = self.get_argument("job", None)
        events = await self.backend.events(
            self.owner, since=since, job_id=self.checked_id(job) if job else None
        )
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        try:
            await self._send(events)
        except StreamClosedError:
            return
        finally:
            await events.aclose()  # type: ignore[attr-defined]
        self.finish()

    async def _send(self, events: AsyncIterator[JobEvent]) -> None:
        self.write(": mofang job events\n\n")
        await self.flush()
        pending: asyncio.Future[JobEvent] | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(anext(events))
                done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE_SECONDS)
                if not done:
                    self.write(": keepalive\n\n")
                    await self.flush()
                    continue
                try:
                    event = pending.result()
                except StopAsyncIteration:
                    return
                pending = None
                self.write(f"id: {event.seq}\nevent: job\ndata: {event.model_dump_json()}\n\n")
                await self.flush()
        finally:
            if pending is not None:
                pending.cancel()
