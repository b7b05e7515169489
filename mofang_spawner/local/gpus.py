"""Handing out this machine's GPUs to local servers.

One pool per hub process: a device of a non-shared GPU type goes to at most
one running server. The pool is rebuilt from the spawners' saved state when
the hub restarts (``restore``), so a restart never hands a busy GPU out twice.
"""

from __future__ import annotations

import threading

from mofang_spawner.errors import PolicyError
from mofang_spawner.planning import GpuType

__all__ = ["POOL", "LocalGpuPool"]


class LocalGpuPool:
    """Which local device each server holds, keyed by an owner id (user/server)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, tuple[str, ...]] = {}

    def allocate(self, owner: str, gpu_type: GpuType, count: int) -> tuple[str, ...]:
        """Reserve ``count`` devices of ``gpu_type`` for ``owner``; release what it held."""
        if len(gpu_type.local_devices) < count:
            raise PolicyError(
                f"This machine has {len(gpu_type.local_devices)} GPU(s) of type "
                f"'{gpu_type.title}'; ask for at most that many."
            )
        with self._lock:
            self._held.pop(owner, None)
            if gpu_type.shared:
                devices = gpu_type.local_devices[:count]
            else:
                busy = {d for held in self._held.values() for d in held}
                free = [d for d in gpu_type.local_devices if d not in busy]
                if len(free) < count:
                    raise PolicyError(
                        f"{len(free)} of {len(gpu_type.local_devices)} GPU(s) of type "
                        f"'{gpu_type.title}' are free right now and you asked for {count}. "
                        "Ask for fewer, or try again when a server stops."
                    )
                devices = tuple(free[:count])
            self._held[owner] = devices
            return devices

    def restore(self, owner: str, devices: tuple[str, ...]) -> None:
        with self._lock:
            self._held[owner] = devices

    def release(self, owner: str) -> None:
        with self._lock:
            self._held.pop(owner, None)

    def held(self, owner: str) -> tuple[str, ...]:
        with self._lock:
            return self._held.get(owner, ())


#: The hub process's pool.
POOL = LocalGpuPool()
