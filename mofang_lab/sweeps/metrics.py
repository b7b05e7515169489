"""Metrics on stdout, read exactly as Katib's StdOut metrics collector reads them.

A trial reports ``name=value`` on its primary replica's stdout, one report per
line (``mofang_lab.report(accuracy=0.91, loss=0.2)`` prints such a line). On a
cluster Katib's collector parses those lines; locally this module does, with the
same rules, so a notebook behaves the same on both:

* a line is considered only if it contains one of the wanted metric names;
* if its first space-separated word is an RFC 3339 time, that is the report's
  timestamp;
* every match of Katib's default filter
  ``([\\w|-]+)\\s*=\\s*([+-]?\\d*(\\.\\d+)?([Ee][+-]?\\d+)?)`` whose name is one of
  the wanted metrics is a report (Go's ``\\w`` and ``\\d`` are ASCII: so here);
* a matched value that is not a number (``loss=`` or ``loss=+``) is dropped here,
  where Katib would store a value it later fails to read.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable, Sequence
from typing import TextIO

from pydantic import BaseModel, ConfigDict

__all__ = ["KATIB_METRIC_FILTER", "MetricReport", "format_report", "parse_metrics", "report"]

#: Katib's DefaultFilter (pkg/metricscollector/v1beta1/common), unchanged.
KATIB_METRIC_FILTER = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"
_FILTER = re.compile(KATIB_METRIC_FILTER, re.ASCII)
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$", re.ASCII
)
_NAME = re.compile(r"^[A-Za-z0-9_|-]+$", re.ASCII)


class MetricReport(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    value: float
    timestamp: str | None = None
    line: int


def parse_metrics(lines: Iterable[str], metrics: Sequence[str]) -> list[MetricReport]:
    """Every report of one of ``metrics`` in ``lines``, in order."""
    wanted = set(metrics)
    reports: list[MetricReport] = []
    for number, line in enumerate(lines, start=1):
        if not any(name in line for name in wanted):
            continue
        first, _, rest = line.partition(" ")
        timestamp = first if rest and _RFC3339.match(first) else None
        for match in _FILTER.finditer(line):
            name, text = match.group(1).strip(), match.group(2).strip()
            if name not in wanted:
                continue
            try:
                value = float(text)
            except ValueError:
                continue
            reports.append(MetricReport(name=name, value=value, timestamp=timestamp, line=number))
    return reports


def format_report(**metrics: float) -> str:
    """The line that reports ``metrics``: ``accuracy=0.91 loss=0.2``."""
    if not metrics:
        raise ValueError("report() needs at least one metric, e.g. report(accuracy=0.9)")
    parts = []
    for name, value in metrics.items():
        if not _NAME.match(name):
            raise ValueError(f"metric name {name!r} cannot be read back from stdout")
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"metric {name} is {number}; report finite numbers only")
        # repr() of a float never uses a form the filter cannot read (no 'inf', no '_').
        parts.append(f"{name}={number!r}")
    return " ".join(parts)


def report(*, file: TextIO | None = None, **metrics: float) -> None:
    """Report metrics of this trial (call once per epoch for early stopping)."""
    stream = file if file is not None else sys.stdout
    print(format_report(**metrics), file=stream, flush=True)
