"""``GET /mofang/api/events``: your jobs' and sweeps' state changes as server-sent events.

One stream per client instead of one poll per job or sweep: the sidebar,
``mofang submit --wait`` and ``%mofang_submit --wait`` read it. Each event is
``id: <cursor>``, ``event: job`` or ``event: sweep``, and ``data:`` the
``JobEvent`` or ``SweepEvent`` as JSON.

Job events are numbered by the job store and sweep events by the sweep store,
two files with a sequence each, so the stream's position is both numbers:
the cursor ``<job seq>:<sweep seq>`` of the last event sent (``12:5``). Each
part only grows, so a client that reconnects with ``Last-Event-ID`` (or
``?since=``) set to the last cursor it saw gets exactly what it missed of
either kind; jobs come in their order and sweeps in theirs. A plain number
``N`` is the cursor ``N:0``. The job list and the sweep list carry the
numbers of the latest events (``event_seq``), so a client that loads both
lists and then connects from ``<jobs' event_seq>:<sweeps' event_seq>`` starts
where its lists left off instead of replaying history.

With ``?job=ID`` the stream carries that job's events only, each ``id:``
being the job seq, and ends after the job's final state. A comment line is
sent every ``keepalive`` seconds so proxies keep the connection open.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from tornado import web
from tornado.iostream import StreamClosedError

from mofang_lab.backends.base import JobEvent
from mofang_lab.handlers.sweeps import SweepsBaseHandler
from mofang_lab.sweeps.records import SweepEvent
from mofang_spawner.errors import InvalidRequestError

__all__ = ["EventsHandler", "parse_cursor"]

KEEPALIVE_SECONDS = 15.0

_CURSOR = re.compile(r"^(\d+)(?::(\d+))?\Z")

Event = JobEvent | SweepEvent


def parse_cursor(text: str) -> tuple[int, int]:
    """``"12:5"`` -> ``(12, 5)`` (job seq, sweep seq); ``"12"`` -> ``(12, 0)``."""
    match = _CURSOR.match(text.strip())
    if match is None:
        raise InvalidRequestError(
            f"since must be an event cursor such as 12:5 or a job event number (got {text!r}); "
            "send back the id of the last event you received."
        )
    return int(match.group(1)), int(match.group(2) or 0)


class EventsHandler(SweepsBaseHandler):
    @web.authenticated
    async def get(self) -> None:
        since_text = self.request.headers.get("Last-Event-ID") or self.get_argument("since", "0")
        job_seq, sweep_seq = parse_cursor(since_text)
        job = self.get_argument("job", None)
        streams: dict[str, AsyncIterator[Event]] = {
            "job": await self.backend.events(
                self.owner, since=job_seq, job_id=self.checked_id(job) if job else None
            )
        }
        if job is None:
            streams["sweep"] = await self.sweeps.events(self.owner, since=sweep_seq)
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        try:
            await self._send(streams, [job_seq, sweep_seq], one_job=job is not None)
        except StreamClosedError:
            return
        finally:
            for stream in streams.values():
                await stream.aclose()  # type: ignore[attr-defined]
        self.finish()

    async def _send(
        self, streams: dict[str, AsyncIterator[Event]], cursor: list[int], *, one_job: bool
    ) -> None:
        self.write(": mofang job and sweep events\n\n")
        await self.flush()
        pending: dict[asyncio.Future[Event], str] = {}
        try:
            while True:
                waiting = set(pending.values())
                for kind, stream in streams.items():
                    if kind not in waiting:
                        pending[asyncio.ensure_future(anext(stream))] = kind
                done, _ = await asyncio.wait(
                    pending, timeout=KEEPALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    self.write(": keepalive\n\n")
                    await self.flush()
                    continue
                ready: list[tuple[Event, str]] = []
                for future in done:
                    kind = pending.pop(future)
                    try:
                        ready.append((future.result(), kind))
                    except StopAsyncIteration:
                        return  # only a one-job stream ends
                for event, kind in sorted(ready, key=lambda item: item[0].time):
                    cursor[0 if kind == "job" else 1] = event.seq
                    event_id = str(event.seq) if one_job else f"{cursor[0]}:{cursor[1]}"
                    self.write(
                        f"id: {event_id}\nevent: {kind}\ndata: {event.model_dump_json()}\n\n"
                    )
                await self.flush()
        finally:
            for future in pending:
                future.cancel()
            # Let the streams see the cancellation before they are closed.
            await asyncio.gather(*pending, return_exceptions=True)
