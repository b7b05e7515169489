"""The notebook's cell tagged ``parameters``: which variables it sets, and applying values.

A sweep searches variables that the notebook assigns in the cell tagged
``parameters`` (papermill's convention, which trials use to receive their
values), so a typo in a parameter name is refused before any trial runs
instead of producing trials that all ignore it.

``apply_values`` writes a sweep's best values back into that cell: the right
hand side of each assignment is replaced where it stands, so other lines,
comments and formatting stay; a variable the cell does not assign yet gets a
new line at its end.

``cell_values``, ``suggest_search`` and ``reported_metrics`` read a notebook for
the sweep dialog: the cell's current values, a search around each, and the
metric names the notebook seems to report.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

import nbformat

from mofang_lab.jobs.parameters import PARAMETERS_TAG
from mofang_spawner.errors import InvalidRequestError

__all__ = [
    "apply_values",
    "cell_values",
    "parameter_variables",
    "read_notebook",
    "reported_metrics",
    "suggest_search",
]


def read_notebook(text: str, *, source_name: str) -> Any:
    """The notebook node of ``text``; a clear error if Jupyter cannot read it."""
    try:
        return nbformat.reads(text, as_version=4)  # type: ignore[no-untyped-call]
    except Exception as exc:  # nbformat raises JSON, validation and version errors alike
        raise InvalidRequestError(
            f"{source_name} is not a notebook Jupyter can read ({exc}); open it in "
            "JupyterLab and save it."
        ) from exc


def _parameters_cell(notebook: Any, source_name: str) -> Any:
    for cell in notebook.cells:
        if cell.get("cell_type") == "code" and PARAMETERS_TAG in cell.get("metadata", {}).get(
            "tags", []
        ):
            return cell  # papermill uses the first such cell, so do we
    raise InvalidRequestError(
        f"{source_name} has no code cell tagged 'parameters'. Put the variables to search "
        "(lr = 0.01, ...) in one cell and give it the tag 'parameters' (the cell's "
        "property inspector in JupyterLab)."
    )


def _parse(source: str, source_name: str) -> ast.Module:
    try:
        return ast.parse(source)
    except SyntaxError as exc:
        raise InvalidRequestError(
            f"The cell tagged 'parameters' of {source_name} is not valid Python "
            f"(line {exc.lineno}: {exc.msg}); fix it first."
        ) from exc


def _assignments(tree: ast.Module) -> dict[str, ast.expr]:
    """Top-level ``NAME = value`` (and ``NAME: type = value``) statements: name -> value."""
    found: dict[str, ast.expr] = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and statement.value is not None:
            for target in statement.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = statement.value
        elif (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and statement.value is not None
        ):
            found[statement.target.id] = statement.value
    return found


def parameter_variables(text: str, *, source_name: str) -> list[str]:
    """The variables the notebook's ``parameters`` cell assigns, in order."""
    cell = _parameters_cell(read_notebook(text, source_name=source_name), source_name)
    return list(_assignments(_parse(cell.source, source_name)))


def apply_values(text: str, values: Mapping[str, Any], *, source_name: str) -> str:
    """The notebook ``text`` with ``values`` assigned in its ``parameters`` cell."""
    notebook = read_notebook(text, source_name=source_name)
    cell = _parameters_cell(notebook, source_name)
    source: str = cell.source
    found = _assignments(_parse(source, source_name))
    lines = source.splitlines(keepends=True)
    # Replace from the end of the cell backwards, so earlier offsets stay valid.
    targets = sorted(
        ((name, node) for name, node in found.items() if name in values),
        key=lambda item: (item[1].lineno, item[1].col_offset),
        reverse=True,
    )
    for name, node in targets:
        assert node.end_lineno is not None and node.end_col_offset is not None
        first, last = node.lineno - 1, node.end_lineno - 1
        # ast offsets count UTF-8 bytes; slice the encoded lines to honour that.
        head = lines[first].encode()[: node.col_offset].decode()
        tail = lines[last].encode()[node.end_col_offset :].decode()
        lines[first : last + 1] = [head + repr(values[name]) + tail]
    missing = [name for name in values if name not in found]
    if missing:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines += [f"{name} = {values[name]!r}\n" for name in missing]
    cell.source = "".join(lines)
    return str(nbformat.writes(notebook))  # type: ignore[no-untyped-call]


def cell_values(text: str, source_name: str) -> dict[str, Any]:
    """The literal values assigned in the cell tagged ``parameters`` (others are left out)."""
    cell = next(
        (
            c
            for c in read_notebook(text, source_name=source_name).cells
            if c.get("cell_type") == "code"
            and PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])
        ),
        None,
    )
    values: dict[str, Any] = {}
    if cell is None:
        return values
    for statement in ast.parse(cell.source).body:
        if isinstance(statement, ast.Assign):
            targets, value = statement.targets, statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets, value = [statement.target], statement.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                try:
                    values[target.id] = ast.literal_eval(value)
                except ValueError:  # an expression, not a literal: no default to show
                    values.pop(target.id, None)
    return values


def suggest_search(name: str, value: Any) -> dict[str, Any] | None:
    """A search around a default value: ten times either side, or half to twice it."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        low, high = (max(1, value // 2), value * 2) if value > 0 else (value * 2, value // 2)
        return {"type": "int", "name": name, "min": low, "max": high if value else 10}
    if isinstance(value, float):
        if value > 0:
            return {
                "type": "double",
                "name": name,
                "min": value / 10,
                "max": value * 10,
                "distribution": "logUniform",
            }
        return {
            "type": "double",
            "name": name,
            "min": value - 1,
            "max": value + 1,
            "distribution": "uniform",
        }
    if isinstance(value, str):
        return {"type": "categorical", "name": name, "values": [value]}
    return None


# ``print(f"accuracy={acc}")``: a name printed in front of a value.
_PRINTED = re.compile(r"\b([A-Za-z_][A-Za-z0-9_|-]*)=\{")


def reported_metrics(text: str, source_name: str) -> list[str]:
    """Names the notebook seems to report: ``report(name=...)`` calls and printed ``name={``."""
    found: dict[str, None] = {}
    for cell in read_notebook(text, source_name=source_name).cells:
        if cell.get("cell_type") != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:  # IPython magics: the printed names are still found
            tree = ast.Module(body=[], type_ignores=[])
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            function = node.func
            name = function.attr if isinstance(function, ast.Attribute) else None
            if isinstance(function, ast.Name):
                name = function.id
            if name == "report":
                found.update(dict.fromkeys(k.arg for k in node.keywords if k.arg))
        found.update(dict.fromkeys(_PRINTED.findall(cell.source)))
    return list(found)
