"""Turn raw ``user_options`` into ``Choices``, refusing anything malformed.

``user_options`` arrive from two places: the spawn form (through
``options_from_form``, every value a string) and the hub's REST API (any JSON).
Both are untrusted. This module accepts exactly the known keys with values that
parse as what they claim to be, within absolute bounds, and says precisely what
is wrong otherwise. Whether a well-formed value is *allowed* is the planner's
business, not this module's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from mofang_spawner.errors import InvalidRequestError
from mofang_spawner.planning.models import Choices

__all__ = ["ABSOLUTE_MAXIMUM", "OPTION_KEYS", "choices_from_options"]

#: Bounds no sane request exceeds, whatever the policy: a value above one is
#: malformed (a typo or an attack), not something to correct.
ABSOLUTE_MAXIMUM: dict[str, float] = {
    "cpu": 1024,
    "memory_gib": 16384,
    "gpus": 64,
    "disk_gib": 65536,
}
_LABELS = {"cpu": "CPU", "memory_gib": "Memory", "gpus": "GPUs", "disk_gib": "Disk"}
_TEXT_KEYS = ("template", "group", "gpu_type")
OPTION_KEYS = frozenset(_TEXT_KEYS) | frozenset(ABSOLUTE_MAXIMUM)
_MAX_TEXT = 256


def choices_from_options(options: Mapping[str, Any]) -> Choices:
    """Validate ``options`` and return the ``Choices`` they describe."""
    if not isinstance(options, Mapping):
        raise InvalidRequestError("Server options must be a JSON object.")
    unknown = sorted(str(k) for k in options if k not in OPTION_KEYS)
    if unknown:
        raise InvalidRequestError(
            f"Unknown server option(s): {', '.join(unknown)}. "
            f"Known options: {', '.join(sorted(OPTION_KEYS))}."
        )
    values: dict[str, Any] = {}
    for key in _TEXT_KEYS:
        if options.get(key) not in (None, ""):
            values[key] = _text(key, options[key])
    for key in ABSOLUTE_MAXIMUM:
        if options.get(key) not in (None, ""):
            values[key] = _number(key, options[key])
    return Choices(**values)


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidRequestError(f"Option '{key}' must be a string, not {type(value).__name__}.")
    if len(value) > _MAX_TEXT or any(ord(c) < 32 for c in value):
        raise InvalidRequestError(f"Option '{key}' is not a valid name.")
    return value


def _number(key: str, value: Any) -> float | int:
    label = _LABELS[key]
    integer = key == "gpus"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidRequestError(f"{label} must be a number, not {type(value).__name__}.")
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except ValueError:
        raise InvalidRequestError(f"{label} must be a number, not {value!r}.") from None
    if not math.isfinite(number):
        raise InvalidRequestError(f"{label} must be a finite number, not {value!r}.")
    top = ABSOLUTE_MAXIMUM[key]
    low_ok = number >= 0 if integer else number > 0
    if not low_ok or number > top:
        span = f"from 0 to {top:g}" if integer else f"more than 0 and at most {top:g}"
        raise InvalidRequestError(f"{label} must be {span}, not {value!r}.")
    if integer:
        if not number.is_integer():
            raise InvalidRequestError(f"{label} must be a whole number, not {value!r}.")
        return int(number)
    return number
