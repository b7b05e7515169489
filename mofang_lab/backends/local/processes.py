"""Replica processes on this machine: starting them, reading their state, signalling them.

Every replica is a process group led by the runner (:mod:`.runner`), so one
signal to the group reaches everything the replica started (torchrun's
workers, mpirun's ranks). The runner's state file is the source of truth for
a replica's pid and exit code; this module reads it and checks whether a pid
is still the process that wrote it (pids are reused), so that a restarted
server can tell "still running" from "finished" from "vanished".
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from mofang_lab.backends.local import runner

__all__ = ["RunState", "alive", "on_exit", "read_state", "signal_group", "spawn"]

RUNNER = Path(runner.__file__).resolve()


class RunState(BaseModel):
    """What the runner wrote about one attempt of a replica."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    pid: int
    start_ticks: int | None = None
    attempt: int
    started_at: float
    exit_code: int | None = None
    finished_at: float | None = None


def spawn(
    command: Sequence[str],
    *,
    state_file: Path,
    attempt: int,
    python: str,
    cwd: Path,
    env: Mapping[str, str],
    log: Path,
) -> subprocess.Popen[bytes]:
    """Start ``command`` under the runner, in a new session, its output appended to ``log``."""
    # -P: the runner's own folder is not put on sys.path, so no module of this
    # package can shadow a standard one it imports.
    argv = [python, "-P", str(RUNNER), str(state_file), str(attempt), "--", *command]
    with log.open("ab") as out:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def read_state(path: Path) -> RunState | None:
    """The runner's last word on a replica, or None if it never wrote (or wrote garbage)."""
    try:
        return RunState.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None


def alive(pid: int, start_ticks: int | None) -> bool:
    """Is ``pid`` still the (not yet exited) process that started at ``start_ticks``?"""
    if sys.platform.startswith("linux"):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] in ("Z", "X"):  # exited, not yet reaped
            return False
        return start_ticks is None or int(fields[19]) == start_ticks
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def on_exit(pid: int, callback: Callable[[], None]) -> Callable[[], None] | None:
    """Call ``callback`` on the event loop when ``pid`` exits; returns a function to stop.

    A pidfd (Linux 5.3+) becomes readable when its process exits, whether or not
    it is our child, so a replica's end is noticed at once instead of at the
    next poll. Where pidfds are missing this returns None and polling alone serves.
    """
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None
    loop = asyncio.get_running_loop()
    closed = False

    def stop() -> None:
        nonlocal closed
        if not closed:
            closed = True
            loop.remove_reader(fd)
            os.close(fd)

    def ready() -> None:
        stop()
        callback()

    loop.add_reader(fd, ready)
    return stop


def signal_group(pgid: int, signum: signal.Signals) -> None:
    """Send ``signum`` to a replica's process group; a group that is gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
