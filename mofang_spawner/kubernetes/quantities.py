"""Kubernetes resource quantities ("500m", "4Gi", "1e3", 2.5) as numbers.

The quota check adds up what pods request; the API returns those amounts in
the quantity notation (decimal and binary suffixes, milli-units, exponents),
and in JSON they may also arrive as plain numbers. Pure and small, so the
counting can be tested without a cluster.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

__all__ = ["GIB", "parse_quantity"]

GIB = 2**30

_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$")


def parse_quantity(value: str | int | float) -> float:
    """The amount a quantity stands for, in base units (cores, bytes, devices).

    Raises ValueError for anything that is not a quantity, so a malformed pod
    in the namespace is reported rather than silently counted as zero.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a quantity: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    match = _QUANTITY.match(value.strip())
    if not match:
        raise ValueError(f"not a quantity: {value!r}")
    number, suffix = match.groups()
    try:
        return float(Decimal(number) * _SUFFIXES[suffix])
    except InvalidOperation:
        raise ValueError(f"not a quantity: {value!r}") from None
