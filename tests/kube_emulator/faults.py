"""Fault injection: make the emulated API server fail the way real ones do.

``kube.faults`` turns requests that match a method and a path (a regular
expression matched against the whole path, without the query) into:

* failures: ``fail(status=500)`` and friends answer with the Kubernetes
  ``Status`` body of that code (``InternalError``, ``Forbidden``,
  ``Conflict``, ``Invalid``, ``TooManyRequests`` with ``Retry-After`` ...)
  before the request reaches the store, so nothing changes;
* delays: ``delay(seconds=...)`` holds the request first (a slow API server,
  or, longer than a client's timeout, a timeout);
* dropped watches: ``drop_watches(after_events=N)`` cuts watch connections
  (those open now and those opened later) once each has sent N more events,
  the way a load balancer or an API server restart does; the client sees the
  connection end without the stream's clean close.

Each rule applies ``times`` times (None: until ``clear()``). The rules are
checked by the HTTP layer; the direct Python API is never faulted.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

from . import apistatus
from .apistatus import ApiError

__all__ = ["Faults"]

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Gone",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}
_MESSAGES = {
    403: "forbidden: the emulator was told to refuse this request",
    409: "Operation cannot be fulfilled: the emulator was told to report a conflict",
    422: "the emulator was told to reject this object as invalid",
    503: "the server is currently unable to handle the request",
    504: "the server was unable to return a response in the time allotted",
}


@dataclass
class _Rule:
    method: str | None
    path: re.Pattern[str]
    remaining: int | None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method.upper()) and bool(
            self.path.fullmatch(path)
        )

    def consume(self) -> bool:
        """Use the rule once; False if it was used up."""
        if self.remaining is None:
            return True
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


@dataclass
class _Failure(_Rule):
    error: ApiError = field(default_factory=lambda: apistatus.internal_error("injected"))


@dataclass
class _Delay(_Rule):
    seconds: float = 0.0


@dataclass
class _Drop:
    after_events: int
    remaining: int | None
    #: id of watch stream -> events it has sent since the rule was made.
    counts: dict[int, int] = field(default_factory=dict)


def _error(status: int, message: str | None, retry_after: int) -> ApiError:
    if status == 429:
        error = apistatus.too_many_requests(retry_after)
        if message:
            error.message = error.body["message"] = message
        return error
    if status == 500:
        return apistatus.internal_error(message or "injected by the emulator")
    reason = _REASONS.get(status, "Unknown")
    return ApiError(status, reason, message or _MESSAGES.get(status, reason))


class Faults:
    """Thread-safe set of fault rules; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
        self._delays: list[_Delay] = []
        self._drops: list[_Drop] = []

    def fail(
        self,
        method: str | None = None,
        path: str = ".*",
        status: int = 500,
        times: int | None = 1,
        message: str | None = None,
        retry_after: int = 1,
    ) -> None:
        """Answer matching requests with ``status`` and its Kubernetes ``Status`` body."""
        rule = _Failure(
            method.upper() if method else None,
            re.compile(path),
            times,
            _error(status, message, retry_after),
        )
        with self._lock:
            self._failures.append(rule)

    def delay(
        self,
        method: str | None = None,
        path: str = ".*",
        seconds: float = 1.0,
        times: int | None = None,
    ) -> None:
        """Hold matching requests for ``seconds`` before serving them."""
        with self._lock:
            self._delays.append(
                _Delay(method.upper() if method else None, re.compile(path), times, seconds)
            )

    def drop_watches(self, after_events: int = 0, times: int | None = None) -> None:
        """Cut watch streams after ``after_events`` more events each (``times`` streams)."""
        with self._lock:
            self._drops.append(_Drop(after_events, times))

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()
            self._delays.clear()
            self._drops.clear()

    # -- used by the HTTP layer ----------------------------------------------------

    def failure_for(self, method: str, path: str) -> ApiError | None:
        with self._lock:
            for rule in self._failures:
                if rule.matches(method, path) and rule.consume():
                    return rule.error
        return None

    def delay_for(self, method: str, path: str) -> float:
        with self._lock:
            return sum(
                rule.seconds
                for rule in self._delays
                if rule.matches(method, path) and rule.consume()
            )

    def should_drop(self, stream: int, sent_one: bool) -> bool:
        """Whether watch ``stream`` must be cut now; ``sent_one``: it just sent an event."""
        with self._lock:
            for rule in self._drops:
                count = rule.counts.setdefault(stream, 0) + (1 if sent_one else 0)
                rule.counts[stream] = count
                if count >= rule.after_events and (rule.remaining is None or rule.remaining > 0):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    del rule.counts[stream]
                    return True
        return False
