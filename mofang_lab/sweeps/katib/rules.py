"""Katib's admission rules for an ``Experiment``, checked before anything is created.

A schema says which fields exist; Katib's validating webhook (and, after the
Experiment exists, its suggestion services) refuse far more. A sweep that
breaks one of those rules would be refused by the cluster, or worse, fail
once its Experiment is running, so :func:`check_experiment` applies them to
the dict :func:`~mofang_lab.sweeps.katib.experiment.experiment_manifest` built
and refuses with one message per broken rule, each saying what to change.

The rules, as Katib 0.19 applies them:

* ``metadata.name``: at most 40 characters, lower case letters, digits and
  ``-``, starting with a letter and ending with a letter or digit (Katib's
  webhook checks only a prefix of that pattern; the whole name is checked here);
* ``maxTrialCount`` > 0, ``parallelTrialCount`` > 0, ``maxFailedTrialCount`` >= 0,
  and the last two at most ``maxTrialCount``;
* the objective: ``minimize`` or ``maximize``, a metric name, not also listed
  in ``additionalMetricNames``;
* the algorithm and the early-stopping rule are ones Katib's default config
  serves, with settings their services accept (see :mod:`.algorithms`); a grid
  has at least ``maxTrialCount`` points; ``cmaes`` needs two or more int or
  double parameters; ``hyperband`` needs ``r_l`` and ``resource_name``;
* at least one parameter; each of type double, int, discrete or categorical;
  double and int with ``min`` < ``max`` and no ``list``; discrete and
  categorical with a ``list`` and no ``min``, ``max`` or ``step``; a known
  distribution; a categorical value of letters, digits and ``-+._`` only
  (Katib pastes it into the trial's text, and the cluster's guard admits no
  other character);
* the trial template: a primary container name that the primary pod has,
  success and failure conditions, trial parameters with a name (no braces)
  and a reference, neither repeated; every reference a parameter of the
  Experiment; every ``${trialParameters.NAME}`` in the trial spec defined and
  every defined one used; a trial spec with ``apiVersion`` and ``kind`` and
  without ``metadata.name`` or ``metadata.namespace``;
* the metrics collector is ``StdOut``, the one whose format ``report()`` prints.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from mofang_lab.sweeps.katib.algorithms import KATIB_SETTINGS, SUGGESTION_SERVICES
from mofang_lab.sweeps.katib.trials import TRIAL_KINDS, primary_template
from mofang_spawner.errors import InvalidRequestError

__all__ = ["admission_problems", "check_experiment"]

_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?\Z")
_PLACEHOLDER = re.compile(r"\$\{trialParameters\.(.+?)\}")
_META_REFERENCE = re.compile(
    r"^\$\{trialSpec\.(Name|Namespace|Kind|APIVersion|(Labels|Annotations)\[.+\])\}$"
)
_PARAMETER_TYPES = ("double", "int", "discrete", "categorical")
_DISTRIBUTIONS = ("uniform", "logUniform", "normal", "logNormal")
_EARLY_STOPPING = {"medianstop": frozenset({"min_trials_required", "start_step"})}
#: What a categorical value may hold: Katib pastes values into the trial's text, and the
#: cluster's guard (hub-config/kubernetes/jobs/guard.yaml) admits exactly these characters.
_SAFE_VALUE = re.compile(r"^[-+.0-9A-Za-z_]+\Z")


def check_experiment(experiment: dict[str, Any]) -> None:
    """Raise :class:`InvalidRequestError` naming every Katib rule ``experiment`` breaks."""
    problems = admission_problems(experiment)
    if problems:
        raise InvalidRequestError("Katib would refuse this sweep: " + "; ".join(problems) + ".")


def admission_problems(experiment: dict[str, Any]) -> list[str]:
    """One message per Katib rule ``experiment`` breaks (empty: Katib accepts it)."""
    problems: list[str] = []
    name = str((experiment.get("metadata") or {}).get("name", ""))
    if len(name) > 40 or not _NAME.match(name):
        problems.append(
            f"the Experiment name {name!r} must be at most 40 characters of lower case "
            "letters, digits and '-', start with a letter and end with a letter or digit"
        )
    spec = experiment.get("spec") or {}
    problems += _counts(spec)
    problems += _objective(spec.get("objective"))
    problems += _parameters(spec.get("parameters") or [])
    problems += _algorithm(spec)
    problems += _early_stopping(spec.get("earlyStopping"))
    problems += _template(spec)
    kind = ((spec.get("metricsCollectorSpec") or {}).get("collector") or {}).get("kind")
    if kind != "StdOut":
        problems.append(
            f"the metrics collector is {kind!r}; trials report on stdout, so it must be StdOut"
        )
    return problems


def _counts(spec: dict[str, Any]) -> list[str]:
    problems = []
    max_trials = spec.get("maxTrialCount")
    parallel = spec.get("parallelTrialCount")
    failed = spec.get("maxFailedTrialCount")
    if not isinstance(max_trials, int) or max_trials <= 0:
        problems.append(f"maxTrialCount (max trials) must be greater than 0, not {max_trials}")
        return problems
    if not isinstance(parallel, int) or parallel <= 0:
        problems.append(
            f"parallelTrialCount (parallel trials) must be greater than 0, not {parallel}"
        )
    elif parallel > max_trials:
        problems.append(
            f"parallelTrialCount ({parallel} parallel trials) must be at most maxTrialCount "
            f"({max_trials})"
        )
    if not isinstance(failed, int) or failed < 0:
        problems.append(f"maxFailedTrialCount must be 0 or more, not {failed}")
    elif failed > max_trials:
        problems.append(
            f"maxFailedTrialCount ({failed}) must be at most maxTrialCount ({max_trials})"
        )
    return problems


def _objective(objective: Any) -> list[str]:
    if not isinstance(objective, dict):
        return ["the objective must be given"]
    problems = []
    if objective.get("type") not in ("minimize", "maximize"):
        problems.append(
            f"the objective type must be minimize or maximize, not {objective.get('type')!r}"
        )
    metric = objective.get("objectiveMetricName")
    if not metric:
        problems.append("the objective needs a metric name")
    elif metric in (objective.get("additionalMetricNames") or []):
        problems.append(
            f"the objective metric {metric!r} is also an additional metric; list it once"
        )
    return problems


def _float(text: Any) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _parameters(parameters: list[dict[str, Any]]) -> list[str]:
    if not parameters:
        return ["the sweep needs at least one parameter"]
    problems = []
    names = [p.get("name") for p in parameters]
    for repeated in sorted({n for n in names if names.count(n) > 1}, key=str):
        problems.append(f"parameter {repeated!r} is listed twice")
    for p in parameters:
        problems += [f"parameter {p.get('name')!r}: {text}" for text in _parameter(p)]
    return problems


def _parameter(p: dict[str, Any]) -> list[str]:
    kind = p.get("parameterType")
    space = p.get("feasibleSpace") or {}
    if kind not in _PARAMETER_TYPES:
        return [f"type {kind!r} is not one of {', '.join(_PARAMETER_TYPES)}"]
    if not space:
        return ["it needs a feasible space"]
    problems = []
    distribution = space.get("distribution")
    if distribution is not None and distribution not in _DISTRIBUTIONS:
        problems.append(f"distribution {distribution!r} is not one of {', '.join(_DISTRIBUTIONS)}")
    if kind in ("double", "int"):
        if space.get("list"):
            problems.append(f"a {kind} parameter takes min and max, not a list")
        low, high = _float(space.get("min")), _float(space.get("max"))
        if low is None or high is None:
            return [*problems, f"a {kind} parameter needs min and max, as numbers"]
        if kind == "int" and not all(_is_int(space.get(k)) for k in ("min", "max", "step")):
            problems.append("an int parameter's min, max and step must be whole numbers")
        if low >= high:
            problems.append("min must be below max")
        step = space.get("step")
        if step is not None and ((s := _float(step)) is None or s <= 0 or s > high - low):
            problems.append(f"step {step!r} must be a number > 0 and at most max - min")
        if distribution == "logUniform" and low <= 0:
            problems.append("a logUniform range needs min > 0")
        return problems
    if any(k in space for k in ("min", "max", "step")):
        problems.append(f"a {kind} parameter takes a list, not min, max or step")
    values = space.get("list") or []
    if not values:
        problems.append(f"a {kind} parameter needs a non-empty list")
    if len(set(values)) != len(values):
        problems.append("its values repeat")
    if kind == "discrete" and any(_float(v) is None for v in values):
        problems.append("every value of a discrete parameter must be a number")
    if kind == "categorical":
        for value in values:
            if not _SAFE_VALUE.match(str(value)):
                problems.append(
                    f"value {value!r} may hold only letters, digits and '-+._' on a cluster "
                    "(Katib pastes it into the trial's text, and the cluster's guard admits "
                    "no other character); rename the value"
                )
    return problems


def _is_int(text: Any) -> bool:
    if text is None:
        return True
    try:
        int(str(text))
    except ValueError:
        return False
    return True


def _grid_points(parameters: list[dict[str, Any]]) -> int | None:
    """How many points a grid over ``parameters`` has; None if a double has no step."""
    points = 1
    for p in parameters:
        space = p.get("feasibleSpace") or {}
        if p.get("parameterType") in ("discrete", "categorical"):
            points *= max(len(space.get("list") or []), 1)
            continue
        low, high, step = (_float(space.get(k)) for k in ("min", "max", "step"))
        if step is None and p.get("parameterType") == "int":
            step = 1.0
        if low is None or high is None or step is None or step <= 0:
            return None
        points *= int((high - low) / step + 1e-9) + 1
    return points


def _algorithm(spec: dict[str, Any]) -> list[str]:
    algorithm = spec.get("algorithm") or {}
    name = algorithm.get("algorithmName")
    if name not in SUGGESTION_SERVICES:
        return [f"algorithm {name!r} is not one Katib serves; use {', '.join(SUGGESTION_SERVICES)}"]
    problems = []
    settings = {s.get("name"): s.get("value") for s in algorithm.get("algorithmSettings") or []}
    unknown = sorted(str(key) for key in set(settings) - KATIB_SETTINGS[name])
    if unknown:
        problems.append(
            f"Katib's {name} ({SUGGESTION_SERVICES[name]}) does not take setting(s) "
            f"{', '.join(unknown)}; it takes {', '.join(sorted(KATIB_SETTINGS[name]))}"
        )
    parameters = spec.get("parameters") or []
    ranged = [p.get("name") for p in parameters if p.get("parameterType") in ("double", "int")]
    if name == "grid":
        points = _grid_points(parameters)
        if points is None:
            problems.append("a grid search needs a step for every double parameter")
        elif isinstance(spec.get("maxTrialCount"), int) and spec["maxTrialCount"] > points:
            problems.append(
                f"maxTrialCount ({spec['maxTrialCount']}) is more than the grid's {points} points"
            )
    if name == "cmaes" and len(ranged) < 2:
        problems.append("cmaes needs two or more int or double parameters")
    if name == "hyperband":
        if "r_l" not in settings or "resource_name" not in settings:
            problems.append("hyperband needs the settings r_l and resource_name")
        elif settings["resource_name"] not in ranged:
            problems.append(
                f"hyperband's resource_name {settings['resource_name']!r} is not an int or "
                "double parameter"
            )
    return problems


def _early_stopping(early: Any) -> list[str]:
    if early is None:
        return []
    name = early.get("algorithmName")
    if name not in _EARLY_STOPPING:
        return [f"early stopping {name!r} is not one Katib serves; use medianstop"]
    problems = []
    for setting in early.get("algorithmSettings") or []:
        key, value = setting.get("name"), setting.get("value")
        if key not in _EARLY_STOPPING[name]:
            problems.append(f"medianstop does not take setting {key!r}")
        elif not str(value).isdigit() or int(value) < 1:
            problems.append(
                f"medianstop's {key} must be a whole number of at least 1, not {value!r}"
            )
    return problems


def _template(spec: dict[str, Any]) -> list[str]:
    template = spec.get("trialTemplate")
    if not isinstance(template, dict):
        return ["the trial template must be given"]
    problems = []
    if not template.get("successCondition") or not template.get("failureCondition"):
        problems.append("the trial template needs a success and a failure condition")
    trial = template.get("trialSpec")
    if not isinstance(trial, dict):
        return [*problems, "the trial template needs a trial spec (the trial's job)"]
    kind = (trial.get("apiVersion"), trial.get("kind"))
    if not all(kind):
        problems.append("the trial's job needs an apiVersion and a kind")
    elif kind not in TRIAL_KINDS:
        problems.append(f"a trial cannot be a {kind[0]} {kind[1]}")
    else:
        problems += _primary_container(template, trial)
    metadata = trial.get("metadata") or {}
    if metadata.get("name") or metadata.get("namespace"):
        problems.append("the trial's job must not set metadata.name or metadata.namespace")
    return problems + _trial_parameters(spec, template, json.dumps(trial))


def _primary_container(template: dict[str, Any], trial: dict[str, Any]) -> list[str]:
    name = template.get("primaryContainerName")
    if not name:
        return ["the trial template needs the primary container's name"]
    pod = primary_template(trial)
    if pod is None:
        return ["the trial's job has no replica whose output Katib could read"]
    names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    if name not in names:
        return [
            f"the primary container {name!r} is not a container of the primary replica "
            f"({', '.join(map(str, names)) or 'none'})"
        ]
    return []


def _trial_parameters(spec: dict[str, Any], template: dict[str, Any], text: str) -> list[str]:
    declared = template.get("trialParameters")
    if declared is None:
        return ["the trial template needs trial parameters"]
    problems = []
    parameters = {p.get("name") for p in spec.get("parameters") or []}
    names: set[str] = set()
    references: set[str] = set()
    for item in declared:
        name, reference = item.get("name"), item.get("reference")
        if not name or not reference or "{" in name or "}" in name:
            problems.append("every trial parameter needs a name (without braces) and a reference")
            continue
        if name in names:
            problems.append(f"trial parameter {name!r} is listed twice")
            continue
        if reference in references:
            problems.append(f"two trial parameters refer to {reference!r}")
            continue
        names.add(name)
        references.add(reference)
        if reference not in parameters and not _META_REFERENCE.match(reference):
            problems.append(
                f"trial parameter {name!r} refers to {reference!r}, which is not a parameter"
            )
        if "${trialParameters." + name + "}" not in text:
            problems.append(f"trial parameter {name!r} is not used in the trial's job")
    undefined = sorted(set(_PLACEHOLDER.findall(text)) - names)
    if undefined:
        problems.append(
            "the trial's job uses ${trialParameters.NAME} for undefined "
            f"name(s) {', '.join(undefined)}"
        )
    return problems
