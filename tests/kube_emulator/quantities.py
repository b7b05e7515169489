"""Kubernetes resource quantities (``500m``, ``2``, ``128Gi``, ``1e3``) as exact fractions.

The fake scheduler compares pod requests with node capacity, so quantities
are parsed exactly (``fractions.Fraction``), never as floats: ``100m`` ten
times must fit in ``1`` cpu.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

__all__ = ["container_requests", "parse_quantity", "pod_requests"]

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))"
    r"(?:(?P<exponent>[eE][+-]?\d+)|(?P<binary>[KMGTPE]i)|(?P<decimal>[numkMGTPE]?))$"
)


def parse_quantity(value: str | int | float) -> Fraction:
    """The value of a quantity; ``ValueError`` for anything Kubernetes would refuse."""
    if isinstance(value, bool):
        raise ValueError(f"not a quantity: {value!r}")
    if isinstance(value, int | float):
        return Fraction(value)
    match = _QUANTITY.match(value.strip())
    if not match:
        raise ValueError(f"quantities must match the regular expression {_QUANTITY.pattern!r}")
    number = Fraction(match["number"])
    if match["exponent"]:
        return number * Fraction(10) ** int(match["exponent"][1:])
    if match["binary"]:
        return number * Fraction(1024) ** _BINARY[match["binary"]]
    return number * Fraction(10) ** _DECIMAL[match["decimal"] or ""]


def container_requests(container: Mapping[str, Any]) -> dict[str, Fraction]:
    """What a container asks for: its requests, and its limits where no request is given.

    The API server defaults a missing request to the limit, so the scheduler
    counts a limit-only resource as requested.
    """
    resources = container.get("resources") or {}
    merged: dict[str, Any] = {
        **(resources.get("limits") or {}),
        **(resources.get("requests") or {}),
    }
    return {name: parse_quantity(amount) for name, amount in merged.items()}


def pod_requests(pod: Mapping[str, Any]) -> dict[str, Fraction]:
    """A pod's effective request: the sum over containers, at least the largest init container."""
    spec = pod.get("spec") or {}
    total: dict[str, Fraction] = {}
    for container in spec.get("containers") or []:
        for name, amount in container_requests(container).items():
            total[name] = total.get(name, Fraction(0)) + amount
    for container in spec.get("initContainers") or []:
        for name, amount in container_requests(container).items():
            total[name] = max(total.get(name, Fraction(0)), amount)
    return total
