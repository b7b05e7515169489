"""The notebook snapshot: a notebook as submitted, and the program every replica runs.

At submit time the notebook is read once and turned into two texts that are
stored in the job's folder, so every replica (and, on a cluster, every pod)
runs the same thing and the user can see exactly what ran:

* ``notebook.ipynb``: the notebook as submitted, with the parameters injected
  the way papermill does it (a cell tagged ``injected-parameters`` right after
  the cell tagged ``parameters``, replacing an earlier injection);
* ``program.py``: that notebook converted by nbconvert's ``PythonExporter``.
  Cells tagged ``skip`` are left out, and so are the lines of the ``%mofang_*``
  magics (a job must not submit itself). IPython syntax (``%time``, ``!ls``)
  becomes ``get_ipython()`` calls, exactly as nbconvert writes them; a program
  that has any gets a short preamble that makes ``get_ipython()`` an IPython
  shell bound to the program's own globals, so it runs with plain ``python``
  (and therefore under ``torchrun`` and ``mpirun``) with the notebook's meaning.
  A notebook with a cell tagged ``parameters`` gets, right after that cell
  (and after the injected one), the step that applies ``MOFANG_PARAMETERS``:
  how the trials of a sweep on a cluster, which share one snapshot, receive
  their values (see :mod:`mofang_lab.jobs.parameters`).

Everything here works on text in memory: a notebook that does not parse is an
error before anything is written.
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Mapping
from typing import Any

import nbformat
from nbconvert import PythonExporter
from pydantic import BaseModel, ConfigDict, JsonValue

from mofang_lab.jobs.parameters import (
    ENVIRONMENT_TAG,
    INJECTED_TAG,
    PARAMETERS_TAG,
    environment_source,
    injected_source,
)
from mofang_spawner.errors import InvalidRequestError

__all__ = ["SKIP_TAG", "Snapshot", "assigned_names", "snapshot_notebook"]

#: Cells with this tag stay in the notebook but are left out of the program.
SKIP_TAG = "skip"

# The job-control magics, and loading them, are notebook-only: dropped from programs.
_MOFANG_LINE = re.compile(r"^\s*(%{1,2}mofang_\w*|%(re)?load_ext\s+mofang_lab\b)")

_IPYTHON_PREAMBLE = """\
# This notebook uses IPython syntax (magics, !commands). nbconvert turned it into
# get_ipython() calls; this shell runs them against the program's own globals.
import sys as _mofang_sys

from IPython.core.interactiveshell import InteractiveShell as _MofangShell

get_ipython = _MofangShell.instance(
    user_module=_mofang_sys.modules[__name__], user_ns=globals()
).get_ipython
"""


class Snapshot(BaseModel):
    """The two texts a job folder stores: what was submitted, and what runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    notebook: str
    program: str
    uses_ipython: bool


def snapshot_notebook(
    text: str, *, source_name: str, parameters: Mapping[str, JsonValue]
) -> Snapshot:
    """Parse a notebook's JSON text, inject ``parameters`` and convert it to a program."""
    try:
        notebook = nbformat.reads(text, as_version=4)  # type: ignore[no-untyped-call]
    except Exception as exc:  # nbformat raises JSON, validation and version errors alike
        raise InvalidRequestError(
            f"{source_name} is not a notebook Jupyter can read ({exc}); open it in "
            "JupyterLab, save it, and submit again."
        ) from exc
    _inject_parameters(notebook, parameters)
    program_notebook = copy.deepcopy(notebook)
    _add_environment_step(program_notebook)
    program_notebook.cells = [
        _without_mofang_lines(cell)
        for cell in program_notebook.cells
        if SKIP_TAG not in _tags(cell)
    ]
    exporter = PythonExporter()  # type: ignore[no-untyped-call]
    exporter.exclude_input_prompt = True
    body, _resources = exporter.from_notebook_node(program_notebook)
    uses_ipython = "get_ipython()" in body
    program = _with_header(body, source_name=source_name, uses_ipython=uses_ipython)
    return Snapshot(
        notebook=nbformat.writes(notebook),  # type: ignore[no-untyped-call]
        program=program,
        uses_ipython=uses_ipython,
    )


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _inject_parameters(notebook: Any, parameters: Mapping[str, JsonValue]) -> None:
    if not parameters:
        return
    cells = [cell for cell in notebook.cells if INJECTED_TAG not in _tags(cell)]
    injected = nbformat.v4.new_code_cell(  # type: ignore[no-untyped-call]
        source=injected_source(parameters), metadata={"tags": [INJECTED_TAG]}
    )
    position = next(
        (i + 1 for i, cell in enumerate(cells) if PARAMETERS_TAG in _tags(cell)),
        0,  # no cell tagged 'parameters': papermill injects at the top
    )
    cells.insert(position, injected)
    notebook.cells = cells


def _add_environment_step(notebook: Any) -> None:
    """Put the ``MOFANG_PARAMETERS`` step after the parameters cell and its injected cell."""
    cells = notebook.cells
    found = next((i for i, cell in enumerate(cells) if PARAMETERS_TAG in _tags(cell)), None)
    if found is None:
        return  # nothing a trial could set: a sweep refuses such a notebook
    position = found + 1
    if position < len(cells) and INJECTED_TAG in _tags(cells[position]):
        position += 1
    step = nbformat.v4.new_code_cell(  # type: ignore[no-untyped-call]
        source=environment_source(assigned_names(cells[found].source)),
        metadata={"tags": [ENVIRONMENT_TAG]},
    )
    cells.insert(position, step)


def assigned_names(source: str) -> list[str]:
    """Variables a cell assigns at top level (``NAME = ...``, ``NAME: T = ...``), in order.

    IPython syntax (``%matplotlib inline``) is turned into Python first, as the
    program does; a cell that still does not parse assigns nothing settable.
    """
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        tree = ast.parse(TransformerManager().transform_cell(source))  # type: ignore[no-untyped-call]
    except SyntaxError:
        return []
    names: list[str] = []
    for statement in tree.body:
        targets: list[ast.expr] = []
        if isinstance(statement, ast.Assign):
            targets = statement.targets
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets = [statement.target]
        for target in targets:
            if isinstance(target, ast.Name) and target.id not in names:
                names.append(target.id)
    return names


def _without_mofang_lines(cell: Any) -> Any:
    if cell.get("cell_type") != "code":
        return cell
    lines = cell.source.splitlines(keepends=True)
    cell.source = "".join(line for line in lines if not _MOFANG_LINE.match(line))
    return cell


def _with_header(body: str, *, source_name: str, uses_ipython: bool) -> str:
    lines = body.splitlines(keepends=True)
    # Keep nbconvert's shebang and coding lines first, where Python looks for them.
    head = [line for line in lines[:2] if line.startswith("#")]
    rest = lines[len(head) :]
    note = (
        f"# Converted from {source_name} at submit time. notebook.ipynb beside this file\n"
        "# is the notebook as submitted; cells tagged 'skip' are not in this program.\n"
    )
    preamble = _IPYTHON_PREAMBLE if uses_ipython else ""
    return "".join(head) + note + preamble + "".join(rest)
