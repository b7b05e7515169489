"""The run-time contract: a trial's values reach the shared program through MOFANG_PARAMETERS.

The snapshot's program is run as a real process, with and without the
variable, exactly as a trial's container would run it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mofang_lab.jobs.parameters import PARAMETERS_VARIABLE, environment_source
from mofang_lab.jobs.snapshot import assigned_names, snapshot_notebook
from tests.jobs.notebooks import write_notebook

PARAMETERS = 'lr = 0.1  # default\nopt = "sgd"\nlayers: int = 2\n'
SHOW = "print(repr(lr), repr(opt), repr(layers))"


def run(program: str, tmp_path: Path, value: str | None) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "program.py"
    path.write_text(program)
    env = {k: v for k, v in os.environ.items() if k != PARAMETERS_VARIABLE}
    if value is not None:
        env[PARAMETERS_VARIABLE] = value
    return subprocess.run(
        [sys.executable, str(path)], env=env, capture_output=True, text=True, timeout=60
    )


def program_of(tmp_path: Path, cells: list[object], **parameters: object) -> str:
    text = write_notebook(tmp_path / "n.ipynb", cells).read_text()  # type: ignore[arg-type]
    return snapshot_notebook(text, source_name="n.ipynb", parameters=parameters).program  # type: ignore[arg-type]


def test_without_the_variable_nothing_changes(tmp_path: Path) -> None:
    program = program_of(tmp_path, [(PARAMETERS, ["parameters"]), SHOW])
    done = run(program, tmp_path, None)
    assert done.returncode == 0 and done.stdout == "0.1 'sgd' 2\n"


def test_the_values_override_the_parameters_cell_typed_as_json(tmp_path: Path) -> None:
    program = program_of(tmp_path, [(PARAMETERS, ["parameters"]), SHOW])
    done = run(program, tmp_path, '{"lr": 0.003, "opt": "adam", "layers": 4}')
    assert done.returncode == 0, done.stderr
    assert done.stdout == "0.003 'adam' 4\n"


def test_they_also_override_an_injected_cell_and_keep_its_other_values(tmp_path: Path) -> None:
    program = program_of(tmp_path, [(PARAMETERS, ["parameters"]), SHOW], layers=8, opt="rmsprop")
    assert run(program, tmp_path, None).stdout == "0.1 'rmsprop' 8\n"
    assert run(program, tmp_path, '{"lr": 0.5, "opt": "adam"}').stdout == "0.5 'adam' 8\n"


def test_a_name_the_parameters_cell_does_not_assign_is_refused(tmp_path: Path) -> None:
    program = program_of(tmp_path, [(PARAMETERS, ["parameters"]), SHOW])
    done = run(program, tmp_path, '{"lr": 0.5, "momentum": 0.9}')
    assert done.returncode == 1 and done.stdout == ""
    assert (
        "MOFANG_PARAMETERS sets momentum, which the cell tagged 'parameters' does not assign"
        in done.stderr
    )
    assert "it assigns: lr, opt, layers" in done.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{lr: 0.5}", "is not valid JSON"),
        ("[0.5]", "must be a JSON object"),
        ('{"lr": __import__("os").getcwd()}', "is not valid JSON"),
    ],
)
def test_a_value_that_is_not_a_json_object_is_refused(
    tmp_path: Path, value: str, message: str
) -> None:
    program = program_of(tmp_path, [(PARAMETERS, ["parameters"]), SHOW])
    done = run(program, tmp_path, value)
    assert done.returncode == 1 and message in done.stderr and done.stdout == ""


def test_the_step_comes_right_after_the_parameters_cell(tmp_path: Path) -> None:
    program = program_of(
        tmp_path, ["lr = 'before'", (PARAMETERS, ["parameters"]), "lr = lr * 2\n" + SHOW]
    )
    assert run(program, tmp_path, '{"lr": 0.25}').stdout == "0.5 'sgd' 2\n"


def test_a_notebook_without_a_parameters_cell_gets_no_step(tmp_path: Path) -> None:
    program = program_of(tmp_path, ["lr = 1\nprint(lr)"])
    assert PARAMETERS_VARIABLE not in program
    assert run(program, tmp_path, '{"lr": 2}').stdout == "1\n"


def test_ipython_syntax_in_the_parameters_cell_is_understood(tmp_path: Path) -> None:
    cell = "%config InlineBackend.figure_format = 'png'\n" + PARAMETERS
    assert assigned_names(cell) == ["lr", "opt", "layers"]
    program = program_of(tmp_path, [(cell, ["parameters"]), SHOW])
    done = run(program, tmp_path, '{"opt": "adam"}')
    assert done.returncode == 0, done.stderr
    assert done.stdout == "0.1 'adam' 2\n"


def test_assigned_names_are_top_level_assignments_only() -> None:
    source = "a = 1\nb, c = 2, 3\nd: int\ne: float = 0.5\nif True:\n    f = 1\na = 2\n"
    assert assigned_names(source) == ["a", "e"]
    assert assigned_names("this is not python") == []


def test_the_step_is_plain_python_that_imports_no_mofang() -> None:
    source = environment_source(["lr"])
    compile(source, "step", "exec")
    assert "mofang_lab" not in source and "eval(" not in source
