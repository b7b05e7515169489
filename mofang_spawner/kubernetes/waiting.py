"""Waiting for a new pod to become a server, with one watch on the pod and one on its events.

KubeSpawner notices readiness by polling its shared pod cache with a growing
pause (0.1 to 0.4 s here); this waits on the watch events themselves, so the
spawn returns as soon as the pod is ready, and it reads the pod's events as
they come, so a hopeless spawn ends at once with the reason
(:class:`~mofang_spawner.kubernetes.events.SpawnTracker` decides). Both
watches recover from drops (see :meth:`Cluster.watch`), and both are closed
when the wait ends, however it ends.

A ready pod is not yet a server that answers: the hub then polls its URL with
a growing pause (up to seconds apart while JupyterLab starts). Given
``answers``, the wait goes on, watching, until the server's port accepts a
connection (checked every few hundredths of a second), so the hub's first
check succeeds; a server that exits meanwhile still ends the spawn with its
reason. After ``port_timeout`` the pod is returned anyway and the hub's own
check decides.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlparse

from mofang_spawner.kubernetes.cluster import Cluster, WatchKind
from mofang_spawner.kubernetes.events import Ready, SpawnTracker, StartFailure

__all__ = ["port_answers", "wait_for_server"]

_Item = tuple[WatchKind, str, dict[str, Any]] | BaseException
_PORT_CHECK_INTERVAL = 0.03


async def port_answers(url: str, *, timeout: float = 0.5) -> bool:
    """Whether the host and port of ``url`` accept a TCP connection."""
    parsed = urlparse(url)
    if not parsed.hostname:
        return False
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(parsed.hostname, port), timeout)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def wait_for_server(
    *,
    cluster: Cluster,
    tracker: SpawnTracker,
    timeout: float,
    on_progress: Callable[[str], None],
    answers: Callable[[dict[str, Any]], Awaitable[bool]] | None = None,
    port_timeout: float = 30.0,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """The ready pod, or raise the StartFailure (or API error) that ended the wait."""
    queue: asyncio.Queue[_Item] = asyncio.Queue()
    name = tracker.pod_name

    async def pump(kind: WatchKind, selector: str) -> None:
        try:
            async for event_type, obj in cluster.watch(kind, selector):
                queue.put_nowait((kind, event_type, obj))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # handed to the waiting loop, which raises it
            queue.put_nowait(exc)

    pumps = [
        asyncio.create_task(pump("pods", f"metadata.name={name}")),
        asyncio.create_task(pump("events", f"involvedObject.kind=Pod,involvedObject.name={name}")),
    ]
    deadline = clock() + timeout
    last = "it was still being scheduled"
    ready_since: float | None = None
    try:
        while True:
            now = clock()
            verdict = tracker.verdict(now)
            if isinstance(verdict, StartFailure):
                raise verdict
            if isinstance(verdict, Ready):
                if answers is None or await answers(verdict.pod):
                    return verdict.pod
                ready_since = ready_since or now
                if now - ready_since > port_timeout:
                    return verdict.pod
                # Check again shortly, reading the watches meanwhile: the server may exit.
                wait = _PORT_CHECK_INTERVAL
            else:
                if now >= deadline:
                    raise StartFailure(
                        f"The server did not start within {timeout:g} seconds (last: {last}). "
                        "Try again later; if it keeps happening, tell an administrator.",
                        cause="timeout",
                    )
                wait = min(deadline, tracker.next_deadline() or deadline) - now + 0.01
            try:
                item = await asyncio.wait_for(queue.get(), timeout=max(wait, 0.0))
            except TimeoutError:
                continue
            if isinstance(item, BaseException):
                raise item
            kind, event_type, obj = item
            if kind == "pods":
                messages = tracker.observe_pod(obj, clock(), deleted=event_type == "DELETED")
            else:
                messages = tracker.observe_event(obj, clock())
            for message in messages:
                last = message
                on_progress(message)
    finally:
        for task in pumps:
            task.cancel()
        # Give the watches a moment to close; never let their teardown hold the spawn.
        await asyncio.wait(pumps, timeout=1.0)
