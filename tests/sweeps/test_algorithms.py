"""Each Katib algorithm name runs locally on its Optuna sampler and finds a good point."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from mofang_lab.sweeps import ALGORITHMS, SweepSettings
from mofang_lab.sweeps.algorithms import create_search, grid_values, suggest
from mofang_spawner.errors import InvalidRequestError

optuna.logging.set_verbosity(optuna.logging.WARNING)


def settings(algorithm: str, **extra: Any) -> SweepSettings:
    return SweepSettings.model_validate(
        {
            "parameters": [
                {"type": "double", "name": "x", "min": -2.0, "max": 2.0, "step": 0.5},
                {"type": "int", "name": "n", "min": 1, "max": 4},
                {"type": "categorical", "name": "act", "values": ["relu", "tanh"]},
            ],
            "objective": {"type": "minimize", "metric": "loss"},
            "algorithm": {"name": algorithm, "settings": extra},
            "max_trials": 30,
            "seed": 7,
        }
    )


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_algorithm_searches_locally(algorithm: str) -> None:
    s = settings(algorithm)
    sampler, pruner = create_search(s)
    study = optuna.create_study(direction="minimize", sampler=sampler, pruner=pruner)

    def objective(trial: optuna.trial.Trial) -> float:
        p = suggest(trial, s.parameters)
        assert set(p) == {"x", "n", "act"}
        assert p["act"] in ("relu", "tanh") and 1 <= p["n"] <= 4 and -2 <= p["x"] <= 2
        return (p["x"] - 0.5) ** 2 + (p["n"] - 3) ** 2 + (0 if p["act"] == "tanh" else 1)

    study.optimize(objective, n_trials=30)
    assert study.best_value <= 1.0


def test_algorithms_map_to_the_documented_samplers() -> None:
    kinds = {name: type(create_search(settings(name))[0]).__name__ for name in ALGORITHMS}
    assert kinds == {
        "random": "RandomSampler",
        "grid": "GridSampler",
        "tpe": "TPESampler",
        "multivariate-tpe": "TPESampler",
        "cmaes": "CmaEsSampler",
        "bayesianoptimization": "GPSampler",
        "hyperband": "RandomSampler",
    }
    assert type(create_search(settings("hyperband"))[1]).__name__ == "HyperbandPruner"


def test_grid_values_cover_the_space() -> None:
    s = settings("grid")
    assert grid_values(s.parameters[0]) == [-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0]
    assert grid_values(s.parameters[1]) == [1, 2, 3, 4]


def test_same_seed_same_suggestions() -> None:
    def first_points(seed_settings: SweepSettings) -> list[dict[str, Any]]:
        sampler, _ = create_search(seed_settings)
        study = optuna.create_study(sampler=sampler)
        points = []
        for _ in range(5):
            trial = study.ask()
            points.append(suggest(trial, seed_settings.parameters))
            study.tell(trial, 0.0)
        return points

    assert first_points(settings("tpe")) == first_points(settings("tpe"))


@pytest.mark.parametrize(
    ("algorithm", "extra", "message"),
    [
        ("tpe", {"sigma": "1"}, "does not take setting"),
        ("tpe", {"n_startup_trials": "many"}, "whole number"),
        ("cmaes", {"sigma": "-1"}, "greater than 0"),
    ],
)
def test_bad_algorithm_settings_are_refused(
    algorithm: str, extra: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        create_search(settings(algorithm, **extra))
