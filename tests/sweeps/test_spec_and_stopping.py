"""SweepSettings validation and the medianstop rule."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mofang_lab.sweeps import EarlyStopping, Objective, SweepSettings, median_threshold, should_stop

MAXIMIZE = Objective(type="maximize", metric="accuracy")
MINIMIZE = Objective(type="minimize", metric="loss")


def settings(**overrides: Any) -> SweepSettings:
    raw: dict[str, Any] = {
        "parameters": [
            {"type": "double", "name": "lr", "min": 0.001, "max": 0.1, "distribution": "logUniform"}
        ],
        "objective": {"type": "maximize", "metric": "accuracy"},
    }
    raw.update(overrides)
    return SweepSettings.model_validate(raw)


def test_defaults() -> None:
    s = settings()
    assert (s.algorithm.name, s.parallel_trials, s.max_trials, s.max_failed_trials) == (
        "tpe",
        3,
        12,
        3,
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"parameters": [{"type": "double", "name": "lr", "min": 1, "max": 1}]},
            "min must be below max",
        ),
        (
            {
                "parameters": [
                    {
                        "type": "double",
                        "name": "lr",
                        "min": 0,
                        "max": 1,
                        "distribution": "logUniform",
                    }
                ]
            },
            "needs min > 0",
        ),
        (
            {"parameters": [{"type": "int", "name": "n", "min": 1, "max": 5, "step": 9}]},
            "step must be",
        ),
        ({"parameters": [{"type": "discrete", "name": "x", "values": [1, 1]}]}, "values repeat"),
        ({"parameters": [{"type": "categorical", "name": "x", "values": []}]}, "at least 1"),
        ({"parameters": [{"type": "double", "name": "1lr", "min": 0, "max": 1}]}, "pattern"),
        (
            {"parameters": [{"type": "double", "name": "lr", "min": 0, "max": 1}] * 2},
            "names repeat",
        ),
        ({"parallel_trials": 5, "max_trials": 4}, "at most max_trials"),
        ({"algorithm": {"name": "grid"}}, "needs a step"),
        ({"algorithm": {"name": "simulated-annealing"}}, "Input should be"),
        ({"objective": {"type": "maximize", "metric": "acc uracy"}}, "pattern"),
        ({"objective": {"type": "best", "metric": "a"}}, "Input should be"),
    ],
)
def test_invalid_sweeps_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(**overrides)


RULE = EarlyStopping(min_trials_required=2, start_step=2)


def test_no_threshold_until_enough_trials_succeeded() -> None:
    assert median_threshold([[0.5, 0.6, 0.9]], RULE) is None


def test_threshold_is_the_mean_of_each_trials_first_start_step_average() -> None:
    # averages of first 2 reports: 0.55 and 0.75 -> 0.65
    assert median_threshold([[0.5, 0.6, 0.99], [0.7, 0.8]], RULE) == pytest.approx(0.65)


def test_maximised_trial_below_the_threshold_stops_from_start_step() -> None:
    assert not should_stop([0.1], 0.65, RULE, MAXIMIZE)  # before start_step
    assert should_stop([0.1, 0.2], 0.65, RULE, MAXIMIZE)
    assert not should_stop([0.1, 0.7], 0.65, RULE, MAXIMIZE)  # its best is above


def test_minimised_trial_above_the_threshold_stops() -> None:
    assert should_stop([3.0, 2.5], 1.0, RULE, MINIMIZE)
    assert not should_stop([3.0, 0.5], 1.0, RULE, MINIMIZE)


def test_without_a_threshold_nothing_stops() -> None:
    assert not should_stop([0.0, 0.0, 0.0], None, RULE, MAXIMIZE)
