"""Katib's Experiment and Trial status read back as sweep and trial records (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mofang_lab.sweeps.katib import sweep_record, sweep_state, trial_records
from mofang_lab.sweeps.katib.status import objective_value, trial_state
from mofang_lab.sweeps.records import SweepState, TrialState
from mofang_lab.sweeps.spec import Objective, SweepSettings
from tests.sweeps.test_katib_experiment import LAYERS, LR, OPT

SETTINGS = SweepSettings.model_validate(
    {
        "parameters": [LR, OPT, LAYERS],
        "objective": {"type": "maximize", "metric": "accuracy", "additional_metrics": ["loss"]},
    }
)
MINIMIZE = Objective(type="minimize", metric="loss")


def condition(kind: str, status: str = "True", **fields: str) -> dict[str, str]:
    return {"type": kind, "status": status, **fields}


def trial(
    name: str,
    created: str,
    conditions: list[dict[str, str]],
    metrics: list[dict[str, str]] | None = None,
    values: tuple[str, str, str] = ("0.01", "adam", "2"),
    completed: str | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": conditions}
    if metrics is not None:
        status["observation"] = {"metrics": metrics}
    if completed:
        status["completionTime"] = completed
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Trial",
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {
            "parameterAssignments": [
                {"name": "lr", "value": values[0]},
                {"name": "opt", "value": values[1]},
                {"name": "layers", "value": values[2]},
            ]
        },
        "status": status,
    }


def metric(name: str, low: str, high: str, latest: str) -> dict[str, str]:
    return {"name": name, "min": low, "max": high, "latest": latest}


DONE = [condition("Created"), condition("Running", "False"), condition("Succeeded")]


@pytest.mark.parametrize(
    ("conditions", "metrics", "state", "message"),
    [
        ([condition("Created")], None, TrialState.PENDING, ""),
        ([condition("Created"), condition("Running")], None, TrialState.RUNNING, ""),
        (DONE, [metric("accuracy", "0.5", "0.9", "0.8")], TrialState.SUCCEEDED, ""),
        (
            DONE,
            [metric("accuracy", "unavailable", "unavailable", "unavailable")],
            TrialState.FAILED,
            "never reported accuracy",
        ),
        (
            [condition("Created"), condition("MetricsUnavailable")],
            None,
            TrialState.FAILED,
            "never reported accuracy",
        ),
        (
            [condition("Created"), condition("Failed", message="Job has failed: OOMKilled")],
            None,
            TrialState.FAILED,
            "OOMKilled",
        ),
        (
            [condition("Created"), condition("EarlyStopped")],
            [metric("accuracy", "0.1", "0.2", "0.2")],
            TrialState.EARLY_STOPPED,
            "Stopped early",
        ),
        (
            [condition("Created"), condition("Running"), condition("Killed")],
            None,
            TrialState.CANCELLED,
            "its sweep ended",
        ),
        ([condition("Created"), condition("Succeeded", "False")], None, TrialState.PENDING, ""),
    ],
)
def test_trial_states_follow_katibs_conditions(
    conditions: list[dict[str, str]],
    metrics: list[dict[str, str]] | None,
    state: TrialState,
    message: str,
) -> None:
    got, text = trial_state(
        trial("t", "2026-01-01T00:00:00Z", conditions, metrics), SETTINGS.objective
    )
    assert got == state and message in text


def test_the_objective_is_the_best_report_or_the_latest() -> None:
    maximize = SETTINGS.objective
    reports = trial(
        "t",
        "x",
        DONE,
        [metric("loss", "0.1", "0.7", "0.3"), metric("accuracy", "0.5", "0.9", "0.8")],
    )
    assert objective_value(reports, maximize) == 0.9
    assert objective_value(reports, MINIMIZE) == 0.1
    only_latest = trial("t", "x", DONE, [metric("accuracy", "unavailable", "unavailable", "0.4")])
    assert objective_value(only_latest, maximize) == 0.4
    assert objective_value(trial("t", "x", DONE), maximize) is None


def test_trials_are_numbered_by_creation_with_typed_values() -> None:
    trials = [
        trial(
            "exp-bbb",
            "2026-01-01T00:00:02Z",
            DONE,
            [metric("accuracy", "0.1", "0.7", "0.7")],
            ("0.02", "sgd", "3"),
        ),
        trial(
            "exp-aaa",
            "2026-01-01T00:00:01Z",
            DONE,
            [metric("accuracy", "0.1", "0.6", "0.6")],
            ("1e-05", "adam", "1"),
            "2026-01-01T00:05:00Z",
        ),
        trial("exp-ccc", "2026-01-01T00:00:02Z", [condition("Running")]),
    ]
    records = trial_records(trials, SETTINGS)
    assert [r.job_id for r in records] == ["exp-aaa", "exp-bbb", "exp-ccc"]
    assert [r.number for r in records] == [0, 1, 2]
    assert records[0].parameters == {"lr": 1e-05, "opt": "adam", "layers": 1}
    assert isinstance(records[0].parameters["layers"], int)
    assert records[0].created_at == datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert records[0].finished_at == datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    assert records[2].finished_at is None and records[2].objective is None


def experiment(*conditions: dict[str, str], completed: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": list(conditions)}
    if completed:
        status["completionTime"] = completed
    return {
        "metadata": {"name": "train-k3x9qa", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": status,
    }


@pytest.mark.parametrize(
    ("conditions", "state", "reason"),
    [
        ([], SweepState.RUNNING, ""),
        ([condition("Created"), condition("Running")], SweepState.RUNNING, ""),
        (
            [condition("Running", "False"), condition("Succeeded", reason="ExperimentGoalReached")],
            SweepState.SUCCEEDED,
            "GoalReached",
        ),
        (
            [condition("Succeeded", reason="ExperimentMaxTrialsReached")],
            SweepState.SUCCEEDED,
            "MaxTrialsReached",
        ),
        (
            [condition("Succeeded", reason="ExperimentSuggestionEndReached")],
            SweepState.SUCCEEDED,
            "MaxTrialsReached",
        ),
        (
            [
                condition(
                    "Failed", reason="ExperimentFailed", message="max failed count has reached"
                )
            ],
            SweepState.FAILED,
            "MaxFailedTrialsExceeded",
        ),
        ([condition("Failed", reason="SuggestionFailed")], SweepState.FAILED, "SuggestionFailed"),
    ],
)
def test_sweep_states_follow_the_experiments_conditions(
    conditions: list[dict[str, str]], state: SweepState, reason: str
) -> None:
    got, why, _message = sweep_state(experiment(*conditions))
    assert (got, why) == (state, reason)


def test_the_record_has_counts_and_the_best_succeeded_trial() -> None:
    trials = [
        trial(
            "e-1",
            "2026-01-01T00:00:01Z",
            DONE,
            [metric("accuracy", "0.2", "0.91", "0.9")],
            ("0.01", "adam", "2"),
        ),
        # Reported more, but stopped early: never the best.
        trial(
            "e-2",
            "2026-01-01T00:00:02Z",
            [condition("EarlyStopped")],
            [metric("accuracy", "0.2", "0.99", "0.3")],
        ),
        trial(
            "e-3",
            "2026-01-01T00:00:03Z",
            DONE,
            [metric("accuracy", "0.2", "0.95", "0.95")],
            ("0.02", "sgd", "4"),
        ),
        trial("e-4", "2026-01-01T00:00:04Z", [condition("Failed")]),
        trial("e-5", "2026-01-01T00:00:05Z", DONE, [metric("accuracy", "0.3", "0.95", "0.9")]),
    ]
    record = sweep_record(
        experiment=experiment(
            condition("Succeeded", reason="ExperimentMaxTrialsReached", message="done"),
            completed="2026-01-01T01:00:00Z",
        ),
        trials=trials,
        sweep_id="train-k3x9qa",
        owner="alice",
        name="train",
        notebook="train.ipynb",
        settings=SETTINGS,
        trial_template={"kind": "python"},
    )
    assert record.state == SweepState.SUCCEEDED and record.message == "done"
    assert record.counts == {"Succeeded": 3, "EarlyStopped": 1, "Failed": 1}
    assert record.best is not None
    # The earliest of equal objectives, as locally.
    assert (record.best.number, record.best.objective) == (2, 0.95)
    assert record.best.parameters == {"lr": 0.02, "opt": "sgd", "layers": 4}
    assert record.finished_at == datetime(2026, 1, 1, 1, tzinfo=UTC)
    assert record.trials[1].early_stopped and not record.trials[0].early_stopped


def test_a_running_sweep_has_no_end_and_maybe_no_best() -> None:
    record = sweep_record(
        experiment=experiment(condition("Running"), completed="2026-01-01T01:00:00Z"),
        trials=[trial("e-1", "2026-01-01T00:00:01Z", [condition("Running")])],
        sweep_id="s",
        owner="alice",
        name="s",
        notebook="n.ipynb",
        settings=SETTINGS,
        trial_template={},
    )
    assert record.state == SweepState.RUNNING and record.finished_at is None
    assert record.best is None and record.counts == {"Running": 1}
