"""The sweep request, the parameters cell, the store and the --param syntax, without a server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

from mofang_lab.cli.sweep import ALGORITHMS as CLI_ALGORITHMS
from mofang_lab.cli.sweep import parse_param
from mofang_lab.jobs.request import parse_model
from mofang_lab.sweeps import ALGORITHMS
from mofang_lab.sweeps.notebook import apply_values, parameter_variables
from mofang_lab.sweeps.records import TrialState
from mofang_lab.sweeps.request import SweepRequest, trial_request
from mofang_lab.sweeps.store import SweepStore
from mofang_spawner.errors import InvalidRequestError


def notebook_text(parameters: str, *, tag: str = "parameters") -> str:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Training"),
        nbformat.v4.new_code_cell(parameters, metadata={"tags": [tag]}),
        nbformat.v4.new_code_cell("print(lr)"),
    ]
    return str(nbformat.writes(notebook))


def cell_of(text: str) -> str:
    return str(nbformat.reads(text, as_version=4).cells[1].source)


def request(**changes: Any) -> SweepRequest:
    body: dict[str, Any] = {
        "notebook": "train.ipynb",
        "settings": {
            "parameters": [{"type": "double", "name": "lr", "min": 0.001, "max": 0.1}],
            "objective": {"type": "maximize", "metric": "accuracy"},
        },
        **changes,
    }
    return parse_model(SweepRequest, body, what="sweep request")


def test_the_variables_of_the_parameters_cell() -> None:
    text = notebook_text("import math\nlr = 0.1  # rate\nlayers: int = 2\na = b = 3\nx, y = 1, 2\n")
    assert parameter_variables(text, source_name="t.ipynb") == ["lr", "layers", "a", "b"]
    with pytest.raises(InvalidRequestError, match="no code cell tagged 'parameters'"):
        parameter_variables(notebook_text("lr = 1", tag="other"), source_name="t.ipynb")
    with pytest.raises(InvalidRequestError, match=r"is not valid Python \(line 1"):
        parameter_variables(notebook_text("lr = (("), source_name="t.ipynb")
    with pytest.raises(InvalidRequestError, match="not a notebook Jupyter can read"):
        parameter_variables("{nope", source_name="t.ipynb")


def test_apply_values_rewrites_in_place_and_keeps_the_rest() -> None:
    source = (
        "# Parameters of the run\n"
        "lr = 0.1  # learning rate\n"
        "layers = [\n    64,\n    32,\n]  # sizes\n"
        "name = 'é'; opt = 'sgd'  # two on a line, after a non-ASCII character\n"
        "epochs = 10"
    )
    values = {"lr": 0.0123, "layers": [8], "opt": "adam", "dropout": 0.5}
    result = cell_of(apply_values(notebook_text(source), values, source_name="t.ipynb"))
    assert result == (
        "# Parameters of the run\n"
        "lr = 0.0123  # learning rate\n"
        "layers = [8]  # sizes\n"
        "name = 'é'; opt = 'adam'  # two on a line, after a non-ASCII character\n"
        "epochs = 10\n"
        "dropout = 0.5\n"
    )
    # The other cells are untouched.
    before = nbformat.reads(notebook_text(source), as_version=4)
    after = nbformat.reads(apply_values(notebook_text(source), values, source_name="t"), 4)
    assert [c.source for c in after.cells][::2] == [c.source for c in before.cells][::2]


def test_a_sweep_request_keeps_the_sweeps_fields_to_itself() -> None:
    with pytest.raises(InvalidRequestError, match=r"trial\.idempotency_key, trial\.name cannot be"):
        request(trial={"name": "x", "idempotency_key": "k"})
    with pytest.raises(InvalidRequestError, match="lr are both searched and fixed"):
        request(trial={"parameters": {"lr": 0.1}})
    with pytest.raises(InvalidRequestError, match=r"settings\.parallel_trials"):
        request(settings={**request().settings.model_dump(), "parallel_trials": 0})
    made = trial_request(
        request(trial={"kind": "pytorch", "parameters": {"epochs": 3}, "env": {"A": "1"}}),
        notebook="dir/train.ipynb",
        name="train-trial-4",
        key="train-abc123-4",
        values={"lr": 0.01},
    )
    assert (made.kind, made.name, made.idempotency_key) == (
        "pytorch",
        "train-trial-4",
        "train-abc123-4",
    )
    assert made.parameters == {"epochs": 3, "lr": 0.01} and made.env == {"A": "1"}


def test_the_store_answers_each_owner_with_their_own_rows(tmp_path: Path) -> None:
    store = SweepStore(tmp_path / ".mofang" / "sweeps.sqlite")
    store.insert(
        sweep_id="train-abc123",
        owner="alice",
        name="train",
        notebook="train.ipynb",
        request=request(),
        notebook_text="{}",
    )
    store.add_trial("alice", "train-abc123", 0, {"lr": 0.01})
    store.add_trial("alice", "train-abc123", 1, {"lr": 0.02})
    store.update_trial("alice", "train-abc123", 0, state=TrialState.SUCCEEDED, objective=0.8)
    store.update_trial("alice", "train-abc123", 1, state=TrialState.SUCCEEDED, objective=0.9)
    # Bob's calls change and see nothing of Alice's.
    with pytest.raises(LookupError):
        store.update_trial("bob", "train-abc123", 0, state=TrialState.FAILED)
    assert store.get("bob", "train-abc123") is None and store.sweeps_of("bob") == []
    assert store.trials("bob", "train-abc123") == []
    sweep = store.get("alice", "train-abc123")
    assert sweep is not None and sweep.counts == {"Succeeded": 2}
    assert sweep.best is not None and (sweep.best.number, sweep.best.objective) == (1, 0.9)
    store.close()
    reopened = SweepStore(tmp_path / ".mofang" / "sweeps.sqlite")
    assert [t.objective for t in reopened.trials("alice", "train-abc123")] == [0.8, 0.9]
    assert reopened.running() == [("alice", "train-abc123")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "lr=double:0.001:0.1:log",
            {
                "type": "double",
                "name": "lr",
                "min": 0.001,
                "max": 0.1,
                "distribution": "logUniform",
            },
        ),
        (
            "lr=double:0.1:0.5:0.1",
            {"type": "double", "name": "lr", "min": 0.1, "max": 0.5, "step": 0.1},
        ),
        ("layers=int:1:4", {"type": "int", "name": "layers", "min": 1, "max": 4}),
        ("d=discrete:0.1,0.5", {"type": "discrete", "name": "d", "values": [0.1, 0.5]}),
        (
            "opt=categorical:adam,sgd",
            {"type": "categorical", "name": "opt", "values": ["adam", "sgd"]},
        ),
    ],
)
def test_the_param_syntax(text: str, expected: dict[str, Any]) -> None:
    assert parse_param(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lr", "write NAME=double:MIN:MAX"),
        ("lr=float:0:1", "unknown type 'float'"),
        ("layers=int:1:2.5", "'2.5' is not a whole number"),
        ("lr=double:0:1:2:3", "write NAME=double:MIN:MAX"),
    ],
)
def test_bad_param_syntax(text: str, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        parse_param(text)


def test_the_cli_offers_the_algorithms_the_server_knows() -> None:
    assert CLI_ALGORITHMS == ALGORITHMS
