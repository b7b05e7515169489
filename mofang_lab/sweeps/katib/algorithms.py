"""A sweep's search and early stopping in Katib's words: ``algorithm`` and ``earlyStopping``.

Mofang's algorithm names are Katib's ``algorithmName`` values, so the name
maps to itself; what differs is who serves it. Katib 0.19's default
``katib-config`` serves each name with one suggestion service, and each
service accepts its own ``algorithmSettings`` (it refuses a setting it does not
know, after the Experiment exists):

==================== ========================== =================================================
``algorithmName``    Katib's service            settings it accepts
==================== ========================== =================================================
random               hyperopt                   random_state
tpe                  hyperopt                   gamma, prior_weight, n_EI_candidates, random_state
grid                 optuna                     random_state
multivariate-tpe     optuna                     n_startup_trials, n_ei_candidates, random_state
cmaes                goptuna                    random_state, sigma, restart_strategy
bayesianoptimization skopt                      base_estimator, n_initial_points, acq_func,
                                                acq_optimizer, random_state
hyperband            hyperband                  r_l, resource_name (both required), eta
==================== ========================== =================================================

The local names of a setting are kept where the service spells it otherwise
(``n_ei_candidates`` becomes ``n_EI_candidates`` for hyperopt's ``tpe``); a
setting the cluster's service would refuse is refused here, before anything
is created. A sweep's ``seed`` becomes ``random_state`` where the service
takes one and the sweep did not set it.
"""

from __future__ import annotations

from typing import Any

from mofang_lab.sweeps.spec import DoubleParameter, IntParameter, SweepSettings
from mofang_spawner.errors import InvalidRequestError

__all__ = [
    "KATIB_ALGORITHMS",
    "KATIB_SETTINGS",
    "SUGGESTION_SERVICES",
    "algorithm_spec",
    "early_stopping_spec",
]

#: Mofang's algorithm name -> Katib's ``algorithmName`` (the same words, by design).
KATIB_ALGORITHMS: dict[str, str] = {
    "random": "random",
    "grid": "grid",
    "tpe": "tpe",
    "multivariate-tpe": "multivariate-tpe",
    "cmaes": "cmaes",
    "bayesianoptimization": "bayesianoptimization",
    "hyperband": "hyperband",
}

#: Katib's ``algorithmName`` -> the suggestion service Katib 0.19's default config runs.
SUGGESTION_SERVICES: dict[str, str] = {
    "random": "hyperopt",
    "tpe": "hyperopt",
    "grid": "optuna",
    "multivariate-tpe": "optuna",
    "cmaes": "goptuna",
    "bayesianoptimization": "skopt",
    "hyperband": "hyperband",
}

#: The ``algorithmSettings`` each Katib algorithm's service accepts.
KATIB_SETTINGS: dict[str, frozenset[str]] = {
    "random": frozenset({"random_state"}),
    "tpe": frozenset({"gamma", "prior_weight", "n_EI_candidates", "random_state"}),
    "grid": frozenset({"random_state"}),
    "multivariate-tpe": frozenset({"n_startup_trials", "n_ei_candidates", "random_state"}),
    "cmaes": frozenset({"random_state", "sigma", "restart_strategy"}),
    "bayesianoptimization": frozenset(
        {"base_estimator", "n_initial_points", "acq_func", "acq_optimizer", "random_state"}
    ),
    "hyperband": frozenset({"r_l", "resource_name", "eta"}),
}

#: Settings spelt one way locally (Optuna) and another by Katib's service for that name.
_RENAMED: dict[str, dict[str, str]] = {"tpe": {"n_ei_candidates": "n_EI_candidates"}}

#: Settings a service cannot do without.
_REQUIRED: dict[str, tuple[str, ...]] = {"hyperband": ("r_l", "resource_name")}

_CMAES_RESTARTS = frozenset({"ipop", "bipop", "none", "None"})


def algorithm_spec(settings: SweepSettings) -> dict[str, Any]:
    """Katib's ``spec.algorithm`` for ``settings``; a setting Katib would refuse is an error."""
    name = settings.algorithm.name
    katib_name = KATIB_ALGORITHMS[name]
    renamed = _RENAMED.get(katib_name, {})
    given = {renamed.get(key, key): value for key, value in settings.algorithm.settings.items()}
    accepted = KATIB_SETTINGS[katib_name]
    unknown = sorted(set(given) - accepted)
    if unknown:
        raise InvalidRequestError(
            f"On a cluster, Katib serves algorithm {name!r} with its "
            f"{SUGGESTION_SERVICES[katib_name]} service, which does not take setting(s) "
            f"{', '.join(unknown)}; it takes: {', '.join(sorted(accepted))}."
        )
    missing = [key for key in _REQUIRED.get(katib_name, ()) if key not in given]
    if missing:
        raise InvalidRequestError(
            f"On a cluster, Katib's {name!r} needs the setting(s) {', '.join(missing)} "
            "(--algorithm-setting NAME=VALUE): r_l is the largest resource a trial gets, "
            "resource_name the int or double parameter that is that resource (epochs)."
        )
    _check_values(name, given, settings)
    if settings.seed is not None and "random_state" in accepted:
        given.setdefault("random_state", str(settings.seed))
    spec: dict[str, Any] = {"algorithmName": katib_name}
    if given:
        spec["algorithmSettings"] = [
            {"name": key, "value": value} for key, value in sorted(given.items())
        ]
    return spec


def _check_values(name: str, given: dict[str, str], settings: SweepSettings) -> None:
    if name == "cmaes" and given.get("restart_strategy", "none") not in _CMAES_RESTARTS:
        raise InvalidRequestError(
            f"Setting restart_strategy of cmaes is {given['restart_strategy']!r}; Katib "
            "takes ipop, bipop or none."
        )
    if name == "hyperband":
        resource = given["resource_name"]
        ranged = {
            p.name for p in settings.parameters if isinstance(p, DoubleParameter | IntParameter)
        }
        if resource not in ranged:
            raise InvalidRequestError(
                f"Setting resource_name of hyperband is {resource!r}, which is not an int or "
                f"double parameter of the sweep ({', '.join(sorted(ranged)) or 'none'})."
            )
    for key in ("random_state", "n_startup_trials", "n_ei_candidates", "n_EI_candidates"):
        if key in given and not _whole(given[key]):
            raise InvalidRequestError(
                f"Setting {key} must be a whole number of at least 0, not {given[key]!r}."
            )


def _whole(text: str) -> bool:
    try:
        return int(text) >= 0
    except ValueError:
        return False


def early_stopping_spec(settings: SweepSettings) -> dict[str, Any] | None:
    """Katib's ``spec.earlyStopping`` (``medianstop`` and its two settings), or None."""
    rule = settings.early_stopping
    if rule is None:
        return None
    return {
        "algorithmName": rule.algorithm,
        "algorithmSettings": [
            {"name": "min_trials_required", "value": str(rule.min_trials_required)},
            {"name": "start_step", "value": str(rule.start_step)},
        ],
    }
