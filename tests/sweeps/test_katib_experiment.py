"""Golden dicts of the Katib builder: a sweep and a trial job in, the Experiment out.

These need no cluster and no schema files; the schema checks of the same
objects are in ``test_katib_schema.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from mofang_lab.sweeps.katib import experiment_manifest, experiment_name
from mofang_lab.sweeps.katib.algorithms import KATIB_ALGORITHMS, algorithm_spec
from mofang_lab.sweeps.katib.experiment import max_failed_trial_count, trial_counts
from mofang_lab.sweeps.katib.trials import parameters_value
from mofang_lab.sweeps.spec import ALGORITHMS, SweepSettings
from mofang_spawner.errors import InvalidRequestError
from mofang_spawner.planning import safe_name

LR = {"type": "double", "name": "lr", "min": 0.0001, "max": 0.1, "distribution": "logUniform"}
OPT = {"type": "categorical", "name": "opt", "values": ["adam", "sgd"]}
LAYERS = {"type": "int", "name": "layers", "min": 1, "max": 4}
DROPOUT = {"type": "discrete", "name": "dropout", "values": [0.1, 0.5]}


def sweep(**overrides: Any) -> SweepSettings:
    body: dict[str, Any] = {
        "parameters": [LR, OPT],
        "objective": {"type": "maximize", "metric": "accuracy", "additional_metrics": ["loss"]},
        "algorithm": {"name": "random"},
        "parallel_trials": 2,
        "max_trials": 8,
        "max_failed_trials": 2,
    }
    return SweepSettings.model_validate(body | overrides)


def batch_job(name: str | None = "train-k3x9qa") -> dict[str, Any]:
    """A minimal trial job, as the job builder shapes a python job."""
    metadata: dict[str, Any] = {"namespace": "alice", "labels": {"mofang.io/job-id": name}}
    if name is not None:
        metadata["name"] = name
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "python",
                            "image": "img:1",
                            "command": ["python", "program.py"],
                            "env": [{"name": "MOFANG_JOB_ID", "value": name}],
                        }
                    ],
                }
            }
        },
    }


def build(settings: SweepSettings, job: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "settings": settings,
        "trial_job": job if job is not None else batch_job(),
        "primary_container": "python",
        "sweep_id": "train-k3x9qa",
        "namespace": "alice",
        "owner": "Alice",
        "group": "vision lab",
        "notebook": "work/train.ipynb",
    }
    return experiment_manifest(**(args | kw))


def test_golden_experiment_of_a_python_trial() -> None:
    parameters = '{"lr": ${trialParameters.lr}, "opt": "${trialParameters.opt}"}'
    assert build(sweep(early_stopping={"min_trials_required": 2, "start_step": 3})) == {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {
            "name": "train-k3x9qa",
            "namespace": "alice",
            "labels": {
                "app.kubernetes.io/managed-by": "mofang",
                "mofang.io/user": safe_name("Alice"),
                "mofang.io/sweep-id": "train-k3x9qa",
                "mofang.io/group": safe_name("vision lab"),
            },
            "annotations": {
                "mofang.io/user": "Alice",
                "mofang.io/notebook": "work/train.ipynb",
                "mofang.io/sweep-id": "train-k3x9qa",
                "mofang.io/group": "vision lab",
            },
        },
        "spec": {
            "objective": {
                "type": "maximize",
                "objectiveMetricName": "accuracy",
                "metricStrategies": [{"name": "accuracy", "value": "max"}],
                "additionalMetricNames": ["loss"],
            },
            "algorithm": {"algorithmName": "random"},
            "earlyStopping": {
                "algorithmName": "medianstop",
                "algorithmSettings": [
                    {"name": "min_trials_required", "value": "2"},
                    {"name": "start_step", "value": "3"},
                ],
            },
            "parallelTrialCount": 2,
            "maxTrialCount": 8,
            "maxFailedTrialCount": 3,
            "parameters": [
                {
                    "name": "lr",
                    "parameterType": "double",
                    "feasibleSpace": {"min": "0.0001", "max": "0.1", "distribution": "logUniform"},
                },
                {
                    "name": "opt",
                    "parameterType": "categorical",
                    "feasibleSpace": {"list": ["adam", "sgd"]},
                },
            ],
            "metricsCollectorSpec": {"collector": {"kind": "StdOut"}},
            "trialTemplate": {
                "primaryContainerName": "python",
                "successCondition": 'status.conditions.#(type=="Complete")#|#(status=="True")#',
                "failureCondition": 'status.conditions.#(type=="Failed")#|#(status=="True")#',
                "trialParameters": [
                    {
                        "name": "lr",
                        "description": "double parameter lr of the notebook's parameters cell",
                        "reference": "lr",
                    },
                    {
                        "name": "opt",
                        "description": "categorical parameter opt of the notebook's "
                        "parameters cell",
                        "reference": "opt",
                    },
                    {
                        "name": "trial-name",
                        "description": "the trial's name, which is its job's name",
                        "reference": "${trialSpec.Name}",
                    },
                ],
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": {
                        "labels": {
                            "mofang.io/job-id": "${trialParameters.trial-name}",
                            "mofang.io/sweep-id": "train-k3x9qa",
                        }
                    },
                    "spec": {
                        "template": {
                            "spec": {
                                "restartPolicy": "Never",
                                "containers": [
                                    {
                                        "name": "python",
                                        "image": "img:1",
                                        "command": ["python", "program.py"],
                                        "env": [
                                            {
                                                "name": "MOFANG_JOB_ID",
                                                "value": "${trialParameters.trial-name}",
                                            },
                                            {"name": "MOFANG_PARAMETERS", "value": parameters},
                                        ],
                                    }
                                ],
                            }
                        }
                    },
                },
            },
        },
    }


def test_the_builder_leaves_its_inputs_alone() -> None:
    job = batch_job()
    before = json.dumps(job)
    build(sweep(), job)
    assert json.dumps(job) == before


def test_without_a_group_there_is_no_group_label_or_annotation() -> None:
    metadata = build(sweep(), group=None)["metadata"]
    assert "mofang.io/group" not in metadata["labels"]
    assert "mofang.io/group" not in metadata["annotations"]


def test_a_job_without_its_name_elsewhere_gets_no_trial_name_parameter() -> None:
    template = build(sweep(), batch_job(name=None))["spec"]["trialTemplate"]
    assert [p["name"] for p in template["trialParameters"]] == ["lr", "opt"]


# --- parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameter", "expected"),
    [
        (LR, {"min": "0.0001", "max": "0.1", "distribution": "logUniform"}),
        (
            {"type": "double", "name": "m", "min": 0.1, "max": 0.5, "step": 0.1},
            {"min": "0.1", "max": "0.5", "step": "0.1", "distribution": "uniform"},
        ),
        (LAYERS, {"min": "1", "max": "4", "distribution": "uniform"}),
        (
            {"type": "int", "name": "batch", "min": 32, "max": 256, "step": 32},
            {"min": "32", "max": "256", "step": "32", "distribution": "uniform"},
        ),
        (
            {"type": "int", "name": "units", "min": 16, "max": 256, "distribution": "logUniform"},
            {"min": "16", "max": "256", "distribution": "logUniform"},
        ),
        (DROPOUT, {"list": ["0.1", "0.5"]}),
        ({"type": "discrete", "name": "eps", "values": [1e-05, 32]}, {"list": ["1e-05", "32.0"]}),
        (OPT, {"list": ["adam", "sgd"]}),
    ],
)
def test_feasible_spaces_in_katib_spelling(parameter: dict[str, Any], expected: Any) -> None:
    spec = build(sweep(parameters=[parameter]))["spec"]["parameters"][0]
    assert spec == {
        "name": parameter["name"],
        "parameterType": parameter["type"],
        "feasibleSpace": expected,
    }


def test_numbers_are_bare_and_strings_quoted_in_mofang_parameters() -> None:
    settings = sweep(parameters=[LR, LAYERS, DROPOUT, OPT])
    value = parameters_value(settings.parameters)
    assert value == (
        '{"lr": ${trialParameters.lr}, "layers": ${trialParameters.layers}, '
        '"dropout": ${trialParameters.dropout}, "opt": "${trialParameters.opt}"}'
    )
    # What a trial's program receives once Katib has replaced the placeholders.
    filled = (
        value.replace("${trialParameters.lr}", "0.003")
        .replace("${trialParameters.layers}", "3")
        .replace("${trialParameters.dropout}", "0.5")
        .replace("${trialParameters.opt}", "adam")
    )
    assert json.loads(filled) == {"lr": 0.003, "layers": 3, "dropout": 0.5, "opt": "adam"}


def test_a_job_that_already_sets_mofang_parameters_is_refused() -> None:
    job = batch_job()
    job["spec"]["template"]["spec"]["containers"][0]["env"].append(
        {"name": "MOFANG_PARAMETERS", "value": "{}"}
    )
    with pytest.raises(InvalidRequestError, match="already sets MOFANG_PARAMETERS"):
        build(sweep(), job)


def test_an_unknown_job_kind_is_refused() -> None:
    job = batch_job() | {"apiVersion": "apps/v1", "kind": "Deployment"}
    with pytest.raises(InvalidRequestError, match="cannot be a apps/v1 Deployment"):
        build(sweep(), job)


# --- counts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_failed", "max_trials", "expected"), [(0, 8, 1), (2, 8, 3), (7, 8, 8), (20, 8, 8)]
)
def test_max_failed_trial_count_keeps_the_local_meaning(
    max_failed: int, max_trials: int, expected: int
) -> None:
    # Locally a sweep fails when MORE than max_failed_trials fail; Katib when that many have.
    settings = sweep(max_failed_trials=max_failed, max_trials=max_trials)
    assert max_failed_trial_count(settings, max_trials) == expected
    assert build(settings)["spec"]["maxFailedTrialCount"] == expected


def test_a_grid_runs_at_most_its_points() -> None:
    grid = sweep(
        parameters=[LAYERS, OPT], algorithm={"name": "grid"}, max_trials=20, parallel_trials=10
    )
    assert trial_counts(grid) == (8, 8)  # 4 layers x 2 optimisers
    spec = build(grid)["spec"]
    assert (spec["parallelTrialCount"], spec["maxTrialCount"]) == (8, 8)


# --- algorithms ---------------------------------------------------------------------------

ALGORITHM_SETTINGS: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
    "random": ({}, {"algorithmName": "random"}),
    "grid": ({}, {"algorithmName": "grid"}),
    "tpe": (
        {"n_ei_candidates": "12", "gamma": "0.3"},
        {
            "algorithmName": "tpe",
            "algorithmSettings": [
                {"name": "gamma", "value": "0.3"},
                {"name": "n_EI_candidates", "value": "12"},
            ],
        },
    ),
    "multivariate-tpe": (
        {"n_startup_trials": "5"},
        {
            "algorithmName": "multivariate-tpe",
            "algorithmSettings": [{"name": "n_startup_trials", "value": "5"}],
        },
    ),
    "cmaes": (
        {"sigma": "0.5", "restart_strategy": "ipop"},
        {
            "algorithmName": "cmaes",
            "algorithmSettings": [
                {"name": "restart_strategy", "value": "ipop"},
                {"name": "sigma", "value": "0.5"},
            ],
        },
    ),
    "bayesianoptimization": (
        {"base_estimator": "GP", "n_initial_points": "4"},
        {
            "algorithmName": "bayesianoptimization",
            "algorithmSettings": [
                {"name": "base_estimator", "value": "GP"},
                {"name": "n_initial_points", "value": "4"},
            ],
        },
    ),
    "hyperband": (
        {"r_l": "9", "resource_name": "layers", "eta": "3"},
        {
            "algorithmName": "hyperband",
            "algorithmSettings": [
                {"name": "eta", "value": "3"},
                {"name": "r_l", "value": "9"},
                {"name": "resource_name", "value": "layers"},
            ],
        },
    ),
}


def algorithm_sweep(name: str, **overrides: Any) -> SweepSettings:
    """A sweep Katib accepts for algorithm ``name`` (cmaes needs two ranges, grid steps)."""
    given, _ = ALGORITHM_SETTINGS[name]
    return sweep(
        parameters=[LAYERS, {**LR, "distribution": "uniform", "step": 0.01}],
        algorithm={"name": name, "settings": given},
        max_trials=6,
        **overrides,
    )


def test_every_algorithm_has_a_golden_case() -> None:
    assert set(ALGORITHM_SETTINGS) == set(ALGORITHMS) == set(KATIB_ALGORITHMS)


@pytest.mark.parametrize("name", ALGORITHMS)
def test_golden_algorithm_of_every_algorithm(name: str) -> None:
    _, expected = ALGORITHM_SETTINGS[name]
    assert algorithm_spec(algorithm_sweep(name)) == expected
    assert build(algorithm_sweep(name))["spec"]["algorithm"] == expected


@pytest.mark.parametrize("name", [n for n in ALGORITHMS if n != "hyperband"])
def test_the_seed_becomes_random_state_unless_set(name: str) -> None:
    settings = algorithm_sweep(name, seed=7)
    assert {"name": "random_state", "value": "7"} in algorithm_spec(settings)["algorithmSettings"]
    chosen = algorithm_sweep(name, seed=7).model_copy(
        update={
            "algorithm": algorithm_sweep(name).algorithm.model_copy(
                update={"settings": {**ALGORITHM_SETTINGS[name][0], "random_state": "1"}}
            )
        }
    )
    assert {"name": "random_state", "value": "1"} in algorithm_spec(chosen)["algorithmSettings"]


@pytest.mark.parametrize(
    ("name", "settings", "message"),
    [
        ("tpe", {"n_startup_trials": "5"}, "hyperopt service, which does not take setting"),
        ("random", {"sigma": "1"}, "does not take setting"),
        ("hyperband", {"r_l": "9"}, "needs the setting.*resource_name"),
        ("hyperband", {"r_l": "9", "resource_name": "opt"}, "not an int or double parameter"),
        ("cmaes", {"restart_strategy": "sometimes"}, "ipop, bipop or none"),
        ("multivariate-tpe", {"n_ei_candidates": "many"}, "whole number"),
    ],
)
def test_settings_katib_would_refuse_are_refused(
    name: str, settings: dict[str, str], message: str
) -> None:
    bad = sweep(parameters=[LAYERS, LR, OPT], algorithm={"name": name, "settings": settings})
    with pytest.raises(InvalidRequestError, match=message):
        algorithm_spec(bad)


# --- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sweep_id",
    ["train-k3x9qa", "x" * 41, "Train_Model v2", "9lives-abc123", "-", "ümlaut-sweep", "a" * 200],
)
def test_experiment_names_are_valid_and_distinct(sweep_id: str) -> None:
    name = experiment_name(sweep_id)
    assert len(name) <= 40
    assert name[0].isalpha() and name[-1].isalnum()
    assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
    assert experiment_name(sweep_id + "x") != name


def test_a_valid_sweep_id_is_its_own_experiment_name() -> None:
    assert experiment_name("train-k3x9qa") == "train-k3x9qa"
    assert experiment_name("a" * 40) == "a" * 40
    assert experiment_name("a" * 41) != "a" * 40


def test_a_grid_keeps_the_step_of_a_log_uniform_range() -> None:
    ranged = {**LR, "step": 0.01, "max": 0.05}
    assert "step" not in build(sweep(parameters=[ranged]))["spec"]["parameters"][0]["feasibleSpace"]
    grid = build(sweep(parameters=[ranged], algorithm={"name": "grid"}, max_trials=4))
    assert grid["spec"]["parameters"][0]["feasibleSpace"]["step"] == "0.01"
