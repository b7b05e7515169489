"""Katib's admission rules: each broken rule is named, a valid Experiment passes.

Every case starts from an Experiment the builder made (which passes) and
breaks one rule, so a rule that stops being checked fails its case.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest

from mofang_lab.sweeps.katib import admission_problems, build_experiment, check_experiment
from mofang_lab.sweeps.spec import ALGORITHMS
from mofang_spawner.errors import InvalidRequestError
from tests.sweeps.test_katib_experiment import (
    LAYERS,
    LR,
    OPT,
    algorithm_sweep,
    batch_job,
    build,
    sweep,
)

Obj = dict[str, Any]


def valid() -> Obj:
    experiment = build(sweep(parameters=[LR, OPT, LAYERS]))
    assert admission_problems(experiment) == []
    return experiment


@pytest.mark.parametrize("name", ALGORITHMS)
def test_what_the_builder_makes_passes_for_every_algorithm(name: str) -> None:
    assert admission_problems(build(algorithm_sweep(name))) == []


def _set(path: str, value: Any) -> Callable[[Obj], None]:
    def change(experiment: Obj) -> None:
        *parents, last = path.split(".")
        target: Any = experiment
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target[int(last)] = value
        elif value is None:
            target.pop(last, None)
        else:
            target[last] = value

    return change


def _env(value: str) -> Callable[[Obj], None]:
    def change(experiment: Obj) -> None:
        container = experiment["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"][
            "containers"
        ][0]
        container["env"].append({"name": "EXTRA", "value": value})

    return change


BROKEN: list[tuple[str, Callable[[Obj], None], str]] = [
    ("long name", _set("metadata.name", "a" * 41), "at most 40 characters"),
    ("upper-case name", _set("metadata.name", "Train"), "lower case"),
    ("name ending in -", _set("metadata.name", "train-"), "end with a letter or digit"),
    ("name starting with a digit", _set("metadata.name", "9train"), "start with a letter"),
    ("no trials", _set("spec.maxTrialCount", 0), "maxTrialCount .* greater than 0"),
    ("zero parallel", _set("spec.parallelTrialCount", 0), "parallelTrialCount .* greater than 0"),
    (
        "parallel above max",
        _set("spec.parallelTrialCount", 9),
        r"\(9 parallel trials\) must be at most maxTrialCount \(8\)",
    ),
    (
        "failed above max",
        _set("spec.maxFailedTrialCount", 9),
        r"maxFailedTrialCount \(9\) must be at most maxTrialCount \(8\)",
    ),
    (
        "negative failed",
        _set("spec.maxFailedTrialCount", -1),
        "maxFailedTrialCount must be 0 or more",
    ),
    ("objective type", _set("spec.objective.type", "best"), "minimize or maximize"),
    ("no metric", _set("spec.objective.objectiveMetricName", ""), "needs a metric name"),
    (
        "metric twice",
        _set("spec.objective.additionalMetricNames", ["loss", "accuracy"]),
        "also an additional metric",
    ),
    ("unknown algorithm", _set("spec.algorithm.algorithmName", "genetic"), "not one Katib serves"),
    (
        "unknown setting",
        _set("spec.algorithm.algorithmSettings", [{"name": "n_startup_trials", "value": "3"}]),
        "does not take setting",
    ),
    (
        "unknown early stopping",
        _set("spec.earlyStopping", {"algorithmName": "patience"}),
        "use medianstop",
    ),
    (
        "bad medianstop setting",
        _set(
            "spec.earlyStopping",
            {
                "algorithmName": "medianstop",
                "algorithmSettings": [{"name": "start_step", "value": "0"}],
            },
        ),
        "start_step must be a whole number of at least 1",
    ),
    (
        "unknown medianstop setting",
        _set(
            "spec.earlyStopping",
            {
                "algorithmName": "medianstop",
                "algorithmSettings": [{"name": "patience", "value": "2"}],
            },
        ),
        "does not take setting 'patience'",
    ),
    ("no parameters", _set("spec.parameters", []), "at least one parameter"),
    (
        "parameter type",
        _set("spec.parameters.0.parameterType", "float"),
        "type 'float' is not one of",
    ),
    ("min above max", _set("spec.parameters.0.feasibleSpace.min", "1.0"), "min must be below max"),
    ("missing max", _set("spec.parameters.0.feasibleSpace.max", None), "needs min and max"),
    (
        "list on a double",
        _set("spec.parameters.0.feasibleSpace.list", ["1"]),
        "takes min and max, not a list",
    ),
    (
        "distribution",
        _set("spec.parameters.0.feasibleSpace.distribution", "gaussian"),
        "distribution 'gaussian'",
    ),
    (
        "log from zero",
        _set("spec.parameters.0.feasibleSpace.min", "0"),
        "logUniform range needs min > 0",
    ),
    ("fractional int", _set("spec.parameters.2.feasibleSpace.max", "4.5"), "whole numbers"),
    ("step too big", _set("spec.parameters.2.feasibleSpace.step", "10"), "step '10' must be"),
    ("empty list", _set("spec.parameters.1.feasibleSpace.list", []), "needs a non-empty list"),
    (
        "min on categorical",
        _set("spec.parameters.1.feasibleSpace.min", "1"),
        "takes a list, not min",
    ),
    (
        "quote in a value",
        _set("spec.parameters.1.feasibleSpace.list", ["adam", 'sg"d']),
        "may hold only letters, digits",
    ),
    (
        "backslash in a value",
        _set("spec.parameters.1.feasibleSpace.list", ["a\\b"]),
        "may hold only letters, digits",
    ),
    (
        "space in a value",
        _set("spec.parameters.1.feasibleSpace.list", ["big model"]),
        "may hold only letters, digits",
    ),
    ("repeated parameter", _set("spec.parameters.1.name", "lr"), "parameter 'lr' is listed twice"),
    ("collector", _set("spec.metricsCollectorSpec.collector.kind", "File"), "must be StdOut"),
    (
        "no primary container",
        _set("spec.trialTemplate.primaryContainerName", ""),
        "primary container's name",
    ),
    (
        "wrong primary container",
        _set("spec.trialTemplate.primaryContainerName", "trainer"),
        "'trainer' is not a container of the primary replica",
    ),
    (
        "no success condition",
        _set("spec.trialTemplate.successCondition", None),
        "success and a failure condition",
    ),
    (
        "job with a name",
        _set("spec.trialTemplate.trialSpec.metadata.name", "x"),
        "must not set metadata.name",
    ),
    (
        "job with a namespace",
        _set("spec.trialTemplate.trialSpec.metadata.namespace", "x"),
        "metadata.namespace",
    ),
    (
        "job without a kind",
        _set("spec.trialTemplate.trialSpec.kind", None),
        "needs an apiVersion and a kind",
    ),
    (
        "unknown job kind",
        _set("spec.trialTemplate.trialSpec.kind", "CronJob"),
        "cannot be a batch/v1 CronJob",
    ),
    (
        "unreferenced parameter",
        _set("spec.trialTemplate.trialParameters.0.reference", "learning_rate"),
        "refers to 'learning_rate', which is not a parameter",
    ),
    (
        "unused trial parameter",
        _set("spec.trialTemplate.trialParameters.0.name", "rate"),
        "trial parameter 'rate' is not used",
    ),
    ("undefined placeholder", _env("${trialParameters.momentum}"), "undefined name.* momentum"),
    (
        "braces in a name",
        _set("spec.trialTemplate.trialParameters.0.name", "l{r}"),
        "without braces",
    ),
    (
        "no trial parameters",
        _set("spec.trialTemplate.trialParameters", None),
        "needs trial parameters",
    ),
    ("no trial spec", _set("spec.trialTemplate.trialSpec", None), "needs a trial spec"),
]


@pytest.mark.parametrize(
    ("change", "message"), [(c, m) for _, c, m in BROKEN], ids=[n for n, _, _ in BROKEN]
)
def test_each_broken_rule_is_named(change: Callable[[Obj], None], message: str) -> None:
    experiment = valid()
    change(experiment)
    problems = admission_problems(experiment)
    assert any(re.search(message, p) for p in problems), problems
    with pytest.raises(InvalidRequestError, match="Katib would refuse this sweep"):
        check_experiment(experiment)


def test_repeated_trial_parameters_and_references_are_named() -> None:
    experiment = valid()
    declared = experiment["spec"]["trialTemplate"]["trialParameters"]
    declared.append(copy.deepcopy(declared[0]))
    assert "trial parameter 'lr' is listed twice" in admission_problems(experiment)
    declared[-1]["name"] = "lr2"
    assert "two trial parameters refer to 'lr'" in admission_problems(experiment)


def test_every_problem_is_reported_at_once() -> None:
    experiment = valid()
    experiment["metadata"]["name"] = "Bad_Name"
    experiment["spec"]["parallelTrialCount"] = 99
    experiment["spec"]["metricsCollectorSpec"]["collector"]["kind"] = "File"
    with pytest.raises(InvalidRequestError) as caught:
        check_experiment(experiment)
    assert all(word in str(caught.value) for word in ("Bad_Name", "99", "StdOut"))


def test_a_grid_with_more_trials_than_points_is_refused() -> None:
    experiment = build(algorithm_sweep("grid"))
    assert admission_problems(experiment) == []
    experiment["spec"]["maxTrialCount"] = 10_000
    assert any("more than the grid's" in p for p in admission_problems(experiment))
    del experiment["spec"]["parameters"][1]["feasibleSpace"]["step"]
    assert any("needs a step" in p for p in admission_problems(experiment))


def test_cmaes_needs_two_ranges() -> None:
    experiment = build(algorithm_sweep("cmaes"))
    experiment["spec"]["parameters"][0]["parameterType"] = "discrete"
    experiment["spec"]["parameters"][0]["feasibleSpace"] = {"list": ["1", "2"]}
    assert "cmaes needs two or more int or double parameters" in admission_problems(experiment)


def test_hyperband_needs_its_resource() -> None:
    experiment = build(algorithm_sweep("hyperband"))
    settings = experiment["spec"]["algorithm"]["algorithmSettings"]
    settings[2]["value"] = "opt"
    assert any("resource_name 'opt'" in p for p in admission_problems(experiment))
    del settings[1:]
    assert "hyperband needs the settings r_l and resource_name" in admission_problems(experiment)


def test_build_experiment_refuses_a_categorical_value_katib_could_not_pass_on() -> None:
    bad = sweep(parameters=[{**OPT, "values": ["adam", 'say "hi"']}])
    with pytest.raises(InvalidRequestError, match="may hold only letters, digits"):
        build_experiment(
            settings=bad,
            trial_job=batch_job(),
            primary_container="python",
            sweep_id="train-k3x9qa",
            namespace="alice",
            owner="alice",
            group=None,
            notebook="train.ipynb",
        )
