"""Notebook parameters: parsing ``NAME=VALUE`` and writing the injected cell.

Parameters reach a job the way papermill hands them to a notebook: the cell
tagged ``parameters`` keeps its defaults, and a new cell tagged
``injected-parameters`` is placed right after it, assigning the values given
at submit time. The REST API takes parameters as JSON values; the CLI and the
magics take ``NAME=VALUE`` and parse VALUE as a Python literal (``0.1``,
``[64, 128]``, ``'adam'``, ``True``). A bare word (``adam``) is taken as a
string; anything that starts like a literal but does not parse (``0.1.2``,
``[1, 2``) is an error rather than a surprise string.

The trials of a sweep on a cluster share one snapshot, so their values cannot
be written into it: each trial's containers get the environment variable
:data:`PARAMETERS_VARIABLE` (``MOFANG_PARAMETERS``), a JSON object of NAME:
VALUE, and the program applies it right after the cell tagged ``parameters``
(and after an injected cell), so its values override both, as papermill's
injected cell would. :func:`environment_source` writes that step: plain Python
that imports nothing of Mofang, parses with ``json.loads`` only, and refuses a
name the cell tagged ``parameters`` does not assign. Without the variable it
changes nothing, so every job runs as before.
"""

from __future__ import annotations

import ast
import json
import keyword
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from mofang_spawner.errors import InvalidRequestError

if TYPE_CHECKING:  # pydantic is not loaded at run time: the CLI parses parameters too
    from pydantic import JsonValue

__all__ = [
    "ENVIRONMENT_TAG",
    "INJECTED_TAG",
    "PARAMETERS_TAG",
    "PARAMETERS_VARIABLE",
    "environment_source",
    "injected_source",
    "parse_assignments",
]

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
#: The tag of the program's cell that applies :data:`PARAMETERS_VARIABLE`.
ENVIRONMENT_TAG = "environment-parameters"
#: The environment variable that carries a trial's values on a cluster (a JSON object).
PARAMETERS_VARIABLE = "MOFANG_PARAMETERS"

# A value starting with one of these was meant as a literal, so failing to parse
# it is reported instead of silently passing the text on.
_LITERAL_START = tuple("0123456789+-.[({'\"")


def parse_assignments(items: Iterable[str]) -> dict[str, JsonValue]:
    """``["lr=0.1", "opt=adam"]`` -> ``{"lr": 0.1, "opt": "adam"}``; a clear error otherwise."""
    result: dict[str, JsonValue] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep:
            raise InvalidRequestError(
                f"Parameter {item!r} has no '='; write NAME=VALUE, for example lr=0.01."
            )
        if not name.isidentifier() or keyword.iskeyword(name):
            raise InvalidRequestError(
                f"Parameter name {name!r} is not a Python variable name; use letters, "
                "digits and '_' (it must match a variable of the cell tagged 'parameters')."
            )
        result[name] = _parse_value(name, text.strip())
    return result


def _parse_value(name: str, text: str) -> JsonValue:
    try:
        value: Any = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        if text.startswith(_LITERAL_START) or text in ("", "None", "True", "False"):
            raise InvalidRequestError(
                f"The value of parameter {name} does not parse as a Python literal: {text!r}. "
                "Quote strings (name='text'), write numbers as 0.01 and lists as [1, 2]."
            ) from exc
        return text
    try:
        # Parameters travel as JSON; a tuple becomes a list, a set is refused.
        return json.loads(json.dumps(value))  # type: ignore[no-any-return]
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(
            f"The value of parameter {name} ({text!r}) is not a number, string, boolean, "
            "None, list or dict with string keys."
        ) from exc


def injected_source(parameters: Mapping[str, JsonValue]) -> str:
    """The source of the injected cell: one assignment per parameter, as papermill writes it."""
    lines = ["# Parameters"]
    lines += [f"{name} = {_python_literal(value)}" for name, value in parameters.items()]
    return "\n".join(lines) + "\n"


def _python_literal(value: JsonValue) -> str:
    # repr() of JSON-decoded data is valid Python: dicts, lists, str, int, float,
    # True/False/None. Floats from JSON are finite, so no 'inf' or 'nan' appears.
    return repr(value)


_ENVIRONMENT_STEP = """\
# A sweep's trials on a cluster share this program: each gets its values in the
# environment variable {variable} (a JSON object of NAME: VALUE), applied here,
# after the cell tagged 'parameters', as an injected cell would be. Unset, it
# changes nothing.
def _mofang_parameters(names):
    import json
    import os

    text = os.environ.get("{variable}")
    if text is None:
        return {{}}
    try:
        values = json.loads(text)
    except ValueError as exc:
        raise SystemExit(f"{variable} is not valid JSON ({{exc}}): {{text!r}}") from None
    if not isinstance(values, dict):
        raise SystemExit(f"{variable} must be a JSON object of NAME: VALUE, not {{text!r}}")
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise SystemExit(
            f"{variable} sets {{', '.join(unknown)}}, which the cell tagged 'parameters' "
            f"does not assign (it assigns: {{', '.join(names) or 'nothing'}}); a trial "
            "can only set those variables."
        )
    return values


globals().update(_mofang_parameters({names}))
del _mofang_parameters
"""


def environment_source(names: Iterable[str]) -> str:
    """The program step that applies :data:`PARAMETERS_VARIABLE`; ``names``: the settable ones."""
    return _ENVIRONMENT_STEP.format(variable=PARAMETERS_VARIABLE, names=repr(tuple(names)))
