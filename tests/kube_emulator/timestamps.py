"""Times as the API server writes them.

``metav1.Time`` is RFC 3339 in UTC with second precision
(``2024-05-01T12:00:00Z``); ``metav1.MicroTime`` (an event's ``eventTime``)
has microseconds. Clients parse both, so the emulator writes exactly these.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["micro_now", "now"]


def now(offset_seconds: float = 0.0) -> str:
    """The current time (plus ``offset_seconds``) as a ``metav1.Time``."""
    moment = datetime.now(UTC) + timedelta(seconds=offset_seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_now() -> str:
    """The current time as a ``metav1.MicroTime``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
