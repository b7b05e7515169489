"""Waiting for a new pod to become a server, on the hub's shared watches of pods and events.

KubeSpawner notices readiness by polling its shared pod cache with a growing
pause (0.1 to 0.4 s here); this waits on the watch updates themselves, so the
spawn returns as soon as the pod is ready, and it reads the pod's events as
they come, so a hopeless spawn ends at once with the reason
(:class:`~mofang_spawner.kubernetes.events.SpawnTracker` decides). The
updates come from the hub's one watch of the servers' pods and one of pod
events (``reflectors.py``), shared by every spawn in progress: ``subscribe``
hands them over, the caches' current state first, until the wait ends,
however it ends. The shared watches recover from drops by themselves;
``keep_watching``, called every few seconds of quiet, restarts one that gave
up (and raises if it cannot).

A ready pod is not yet a server that answers: the hub then polls its URL with
a growing pause (up to seconds apart while JupyterLab starts). Given
``answers``, the wait goes on, watching, until the server's port accepts a
connection (checked after a few hundredths of a second, then at most a
quarter of a second apart), so the hub's first check succeeds; a server
that exits meanwhile still ends the spawn with its reason. After
``port_timeout`` the pod is returned anyway and the hub's own check decides.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import urlparse

from mofang_spawner.kubernetes.events import Ready, SpawnTracker, StartFailure

__all__ = ["Subscribe", "Update", "port_answers", "wait_for_server"]

#: ``(kind, type, object)``: kind "pods" or "events", type "ADDED", "MODIFIED" or "DELETED".
Update = tuple[str, str, dict[str, Any]]
#: Hands each update of the pod waited on to the callback, until the block ends.
Subscribe = Callable[[Callable[[Update], None]], AbstractContextManager[None]]
_PORT_CHECK_INTERVAL = 0.03
_PORT_CHECK_MAX = 0.25
#: Seconds of no update after which the shared watches are checked (``keep_watching``).
_QUIET_CHECK = 5.0


async def port_answers(url: str, *, timeout: float = 0.5) -> bool:
    """Whether the host and port of ``url`` accept a TCP connection."""
    parsed = urlparse(url)
    if not parsed.hostname:
        return False
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        address = ipaddress.ip_address(parsed.hostname)
    except ValueError:
        return await _name_answers(parsed.hostname, port, timeout)
    # A pod's IP (KubeSpawner's default): a bare connect, no streams, no task, no
    # resolver thread; this is checked many times per spawn.
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        try:
            async with asyncio.timeout(timeout):
                await asyncio.get_running_loop().sock_connect(sock, (str(address), port))
        except (OSError, TimeoutError):
            return False
    return True


async def _name_answers(host: str, port: int, timeout: float) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


class _Inbox:
    """The updates handed over and not yet read, and a wait for the next one.

    Cheaper than a queue read under ``asyncio.wait_for`` (a task per wait):
    a hub with a hundred spawns waiting wakes for every update of every pod.
    """

    def __init__(self) -> None:
        self.updates: list[Update] = []
        self._bell: asyncio.Future[None] | None = None

    def deliver(self, update: Update) -> None:
        self.updates.append(update)
        if self._bell is not None and not self._bell.done():
            self._bell.set_result(None)

    async def take(self, timeout: float) -> list[Update]:
        """Every update so far, waiting up to ``timeout`` seconds for one."""
        if not self.updates and timeout > 0:
            loop = asyncio.get_running_loop()
            bell = self._bell = loop.create_future()
            timer = loop.call_later(timeout, _ring, bell)
            try:
                await bell
            finally:
                timer.cancel()
                self._bell = None
        taken, self.updates = self.updates, []
        return taken


def _ring(bell: asyncio.Future[None]) -> None:
    if not bell.done():
        bell.set_result(None)


async def wait_for_server(
    *,
    subscribe: Subscribe,
    tracker: SpawnTracker,
    timeout: float,
    on_progress: Callable[[str], None],
    answers: Callable[[dict[str, Any]], Awaitable[bool]] | None = None,
    keep_watching: Callable[[], Awaitable[None]] | None = None,
    port_timeout: float = 30.0,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """The ready pod, or raise the StartFailure (or API error) that ended the wait."""
    inbox = _Inbox()
    deadline = clock() + timeout
    last = "it was still being scheduled"
    ready_since: float | None = None
    port_pause = _PORT_CHECK_INTERVAL
    with subscribe(inbox.deliver):
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
                # Check again shortly, reading the updates meanwhile: the server may exit.
                # The pause grows: JupyterLab can take seconds, a stub a few hundredths.
                wait = port_pause
                port_pause = min(port_pause * 1.5, _PORT_CHECK_MAX)
            else:
                if now >= deadline:
                    raise StartFailure(
                        f"The server did not start within {timeout:g} seconds (last: {last}). "
                        "Try again later; if it keeps happening, tell an administrator.",
                        cause="timeout",
                    )
                wait = min(deadline, tracker.next_deadline() or deadline) - now + 0.01
                wait = min(wait, _QUIET_CHECK)
            items = await inbox.take(max(wait, 0.0))
            if not items:
                if keep_watching is not None and wait >= _QUIET_CHECK:
                    await keep_watching()
                continue
            for kind, event_type, obj in items:
                if kind == "pods":
                    messages = tracker.observe_pod(obj, clock(), deleted=event_type == "DELETED")
                else:
                    messages = tracker.observe_event(obj, clock())
                for message in messages:
                    last = message
                    on_progress(message)
