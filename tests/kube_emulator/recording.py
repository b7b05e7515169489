"""The requests the emulated API server received, for tests that assert on them.

``kube.requests`` lists every HTTP request in arrival order, faulted ones
included: a contract test can record what KubeSpawner (or the job backend)
asks of the API and fail loudly when an upgrade changes it.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any

__all__ = ["Request", "RequestLog"]


@dataclass(frozen=True)
class Request:
    """One request: ``query`` maps each parameter to all its values; ``body`` is parsed JSON.

    ``body`` is a dict for objects and merge patches, a list for JSON patches,
    the raw text for a body that is not JSON (an apply patch in YAML), and
    None when there was none. ``status`` is the HTTP status of the answer
    (None while it is being served, as a watch is until it ends).
    """

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int | None = None


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[Request] = []

    def add(self, request: Request) -> int:
        """Record ``request``; returns its index for :meth:`answered`."""
        with self._lock:
            self._requests.append(request)
            return len(self._requests) - 1

    def answered(self, index: int, status: int) -> None:
        with self._lock:
            if index < len(self._requests):  # not cleared meanwhile
                self._requests[index] = dataclasses.replace(self._requests[index], status=status)

    def snapshot(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
