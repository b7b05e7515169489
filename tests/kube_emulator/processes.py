"""A container as a local process: its own process group, a log file, stopped like a container.

The kubelet runs the first container of a pod as a child process of the
emulator:

* in a new session (so a process group of its own): stopping the "container"
  signals the whole group, children included, as stopping a container ends
  everything in its PID namespace;
* with stdout and stderr together in one log file, which the
  ``pods/NAME/log`` endpoint serves (also after the process has ended, until
  the pod is deleted);
* stopped with SIGTERM, then SIGKILL after the grace period; whatever is
  left of the group once the main process has exited is killed too, so no
  process outlives its pod or the emulator.

Exit codes follow the container runtime: a process killed by signal N exits
with ``128 + N``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from pathlib import Path
from typing import IO

__all__ = ["PodProcess"]


class PodProcess:
    """One running container; create, then ``await start()``."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self._process: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None

    async def start(self) -> None:
        """Start it; ``OSError`` if the executable cannot be run (a StartError)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed when the process ends
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,
            )
        except BaseException:
            self._log.close()
            raise

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def exit_code(self) -> int | None:
        """The container's exit code once the process has ended, else None."""
        if self._process is None or self._process.returncode is None:
            return None
        code = self._process.returncode
        return 128 - code if code < 0 else code

    async def wait(self) -> int:
        """Wait for the process to end; returns the exit code."""
        assert self._process is not None
        await self._process.wait()
        self._kill_group(signal.SIGKILL)
        if self._log is not None:
            self._log.close()
        code = self.exit_code
        assert code is not None
        return code

    def _kill_group(self, signum: int) -> None:
        if self._process is None:
            return
        # The group id is the leader's pid (start_new_session); the group may
        # outlive the leader, so it is signalled even after the leader exits.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signum)

    async def stop(self, grace_seconds: float) -> int:
        """SIGTERM the group, SIGKILL after ``grace_seconds``; returns the exit code."""
        if self._process is None:
            return 0
        if self._process.returncode is None:
            self._kill_group(signal.SIGTERM if grace_seconds > 0 else signal.SIGKILL)
            try:
                await asyncio.wait_for(asyncio.shield(self._process.wait()), grace_seconds or None)
            except TimeoutError:
                self._kill_group(signal.SIGKILL)
        return await self.wait()
