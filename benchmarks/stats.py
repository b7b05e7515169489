"""The summary every benchmark reports for a series of timings: median and spread."""

from __future__ import annotations

import statistics

__all__ = ["summary"]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }
