"""Katib's algorithm names, served locally by Optuna.

Katib's own ``optuna`` suggestion service serves ``tpe``, ``multivariate-tpe``,
``cmaes``, ``random`` and ``grid`` with Optuna's samplers; the local backend
uses the same samplers for those names, and the closest Optuna equivalents for
the two Katib serves with other services:

==================== ==============================================
Katib name           Optuna locally
==================== ==============================================
random               ``RandomSampler``
grid                 ``GridSampler`` over every parameter's values
tpe                  ``TPESampler``
multivariate-tpe     ``TPESampler(multivariate=True)``
cmaes                ``CmaEsSampler``
bayesianoptimization ``GPSampler`` (a Gaussian process; Katib: skopt)
hyperband            ``RandomSampler`` + ``HyperbandPruner``
==================== ==============================================

The Katib ``algorithmSettings`` each accepts are in ``LOCAL_SETTINGS``; a
setting the local search cannot honour is refused, not ignored.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from mofang_lab.sweeps.spec import (
    CategoricalParameter,
    DiscreteParameter,
    DoubleParameter,
    IntParameter,
    Parameter,
    SweepSettings,
)
from mofang_spawner.errors import InvalidRequestError

if TYPE_CHECKING:
    import optuna

__all__ = [
    "LOCAL_SETTINGS",
    "create_search",
    "distributions",
    "grid_size",
    "grid_values",
    "suggest",
]

#: Algorithm settings (Katib ``algorithmSettings`` names) each algorithm accepts locally.
LOCAL_SETTINGS: dict[str, frozenset[str]] = {
    "random": frozenset({"random_state"}),
    "grid": frozenset({"random_state"}),
    "tpe": frozenset({"n_startup_trials", "n_ei_candidates", "random_state"}),
    "multivariate-tpe": frozenset({"n_startup_trials", "n_ei_candidates", "random_state"}),
    "cmaes": frozenset({"sigma", "restart_strategy", "random_state"}),
    "bayesianoptimization": frozenset({"random_state"}),
    "hyperband": frozenset({"random_state"}),
}


def create_search(
    settings: SweepSettings,
) -> tuple[optuna.samplers.BaseSampler, optuna.pruners.BasePruner]:
    """The sampler and pruner that run ``settings.algorithm`` locally."""
    import optuna

    name = settings.algorithm.name
    given = dict(settings.algorithm.settings)
    unknown = sorted(set(given) - LOCAL_SETTINGS[name])
    if unknown:
        allowed = ", ".join(sorted(LOCAL_SETTINGS[name]))
        raise InvalidRequestError(
            f"Algorithm {name!r} does not take setting(s) {', '.join(unknown)}; "
            f"it takes: {allowed}."
        )
    seed = _int(given, "random_state", settings.seed)
    samplers = optuna.samplers
    pruner: optuna.pruners.BasePruner = optuna.pruners.NopPruner()
    sampler: optuna.samplers.BaseSampler
    if name == "random":
        sampler = samplers.RandomSampler(seed=seed)
    elif name == "grid":
        sampler = samplers.GridSampler(
            {p.name: grid_values(p) for p in settings.parameters}, seed=seed
        )
    elif name in ("tpe", "multivariate-tpe"):
        sampler = samplers.TPESampler(
            seed=seed,
            n_startup_trials=_int(given, "n_startup_trials", 10) or 10,
            n_ei_candidates=_int(given, "n_ei_candidates", 24) or 24,
            multivariate=name == "multivariate-tpe",
        )
    elif name == "cmaes":
        restart = given.get("restart_strategy")
        sampler = samplers.CmaEsSampler(
            seed=seed,
            sigma0=_float(given, "sigma"),
            restart_strategy=None if restart in (None, "none", "None") else restart,
        )
    elif name == "bayesianoptimization":
        if importlib.util.find_spec("torch") is None:
            raise InvalidRequestError(
                "Algorithm 'bayesianoptimization' runs locally on Optuna's GPSampler, which "
                "needs PyTorch in the server's environment; install torch or choose 'tpe'."
            )
        sampler = samplers.GPSampler(seed=seed)
    else:  # hyperband
        sampler = samplers.RandomSampler(seed=seed)
        pruner = optuna.pruners.HyperbandPruner()
    return sampler, pruner


def suggest(trial: optuna.trial.Trial, parameters: tuple[Parameter, ...]) -> dict[str, Any]:
    """One value per parameter, drawn through ``trial`` from its distribution."""
    values: dict[str, Any] = {}
    for p in parameters:
        if isinstance(p, DoubleParameter):
            log = p.distribution == "logUniform"
            values[p.name] = trial.suggest_float(
                p.name, p.min, p.max, step=None if log else p.step, log=log
            )
        elif isinstance(p, IntParameter):
            log = p.distribution == "logUniform"
            values[p.name] = trial.suggest_int(
                p.name, p.min, p.max, step=1 if log else (p.step or 1), log=log
            )
        else:
            values[p.name] = trial.suggest_categorical(p.name, list(p.values))
    return values


def distributions(
    parameters: tuple[Parameter, ...],
) -> dict[str, optuna.distributions.BaseDistribution]:
    """The distribution :func:`suggest` draws each parameter from (to rebuild a study)."""
    from optuna.distributions import (
        BaseDistribution,
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    result: dict[str, BaseDistribution] = {}
    for p in parameters:
        if isinstance(p, DoubleParameter):
            log = p.distribution == "logUniform"
            result[p.name] = FloatDistribution(p.min, p.max, log=log, step=None if log else p.step)
        elif isinstance(p, IntParameter):
            log = p.distribution == "logUniform"
            result[p.name] = IntDistribution(
                p.min, p.max, log=log, step=1 if log else (p.step or 1)
            )
        else:
            result[p.name] = CategoricalDistribution(list(p.values))
    return result


def grid_size(parameters: tuple[Parameter, ...]) -> int:
    """How many distinct trials a grid search over ``parameters`` has."""
    size = 1
    for p in parameters:
        size *= len(grid_values(p))
    return size


def grid_values(p: Parameter) -> list[Any]:
    """Every value a grid search tries for ``p``."""
    if isinstance(p, DiscreteParameter | CategoricalParameter):
        return list(p.values)
    if isinstance(p, IntParameter):
        return list(range(p.min, p.max + 1, p.step or 1))
    assert isinstance(p, DoubleParameter) and p.step is not None  # SweepSettings checks it
    count = int((p.max - p.min) / p.step + 1e-9) + 1
    return [round(p.min + i * p.step, 12) for i in range(count)]


def _int(given: dict[str, str], key: str, default: int | None) -> int | None:
    if key not in given:
        return default
    try:
        return int(given[key])
    except ValueError:
        raise InvalidRequestError(
            f"Setting {key} must be a whole number, not {given[key]!r}."
        ) from None


def _float(given: dict[str, str], key: str) -> float | None:
    if key not in given:
        return None
    try:
        value = float(given[key])
    except ValueError:
        raise InvalidRequestError(f"Setting {key} must be a number, not {given[key]!r}.") from None
    if value <= 0:
        raise InvalidRequestError(f"Setting {key} must be greater than 0.")
    return value
