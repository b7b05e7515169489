"""A sweep as a Katib ``Experiment`` (kubeflow.org/v1beta1): the pure builder.

:func:`experiment_manifest` turns a sweep's :class:`SweepSettings` and its
trial's job manifest into the ``Experiment`` Katib runs, as a plain dict and
with no I/O: what a dry run prints and what the cluster client creates. The
fields map one to one:

=============================  ==============================================================
sweep                          Experiment
=============================  ==============================================================
objective                      ``objective`` (type, objectiveMetricName, goal,
                               additionalMetricNames; the objective's metricStrategy is
                               max or min, a trial's best report, as locally)
algorithm                      ``algorithm`` (see :mod:`.algorithms`)
early_stopping                 ``earlyStopping``: medianstop, min_trials_required, start_step
parallel_trials, max_trials    ``parallelTrialCount``, ``maxTrialCount`` (a grid: at most
                               its number of points, which Katib requires)
max_failed_trials              ``maxFailedTrialCount`` = max_failed_trials + 1: a sweep
                               fails when *more* trials than that fail; Katib fails an
                               Experiment when that many have (capped at maxTrialCount)
parameters                     ``parameters`` (double, int, discrete, categorical)
reports on stdout              ``metricsCollectorSpec``: Katib's StdOut collector
the trial's job                ``trialTemplate`` (see :mod:`.trials`)
=============================  ==============================================================

The result must pass :func:`~mofang_lab.sweeps.katib.rules.check_experiment`
(Katib's admission rules) before anything is created:
:func:`~mofang_lab.sweeps.katib.build_experiment` does both, and
:func:`~mofang_lab.sweeps.katib.trial_job.sweep_experiment` also builds the
trial's job with the Kubernetes job backend's builder.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from mofang_lab.sweeps.algorithms import grid_size
from mofang_lab.sweeps.katib.algorithms import algorithm_spec, early_stopping_spec
from mofang_lab.sweeps.katib.trials import (
    TRIAL_NAME_PARAMETER,
    failure_condition,
    placeholder,
    primary_pod_labels,
    success_condition,
    trial_parameters,
    trial_spec,
)
from mofang_lab.sweeps.spec import (
    CategoricalParameter,
    DiscreteParameter,
    DoubleParameter,
    IntParameter,
    Parameter,
    SweepSettings,
)
from mofang_spawner.kubernetes.labels import GROUP_LABEL, PREFIX, USER_LABEL
from mofang_spawner.planning import safe_name

__all__ = [
    "API_VERSION",
    "KIND",
    "MAX_NAME_LENGTH",
    "NOTEBOOK_ANNOTATION",
    "SWEEP_LABEL",
    "experiment_labels",
    "experiment_manifest",
    "experiment_name",
    "max_failed_trial_count",
    "parameter_spec",
    "trial_counts",
]

API_VERSION = "kubeflow.org/v1beta1"
KIND = "Experiment"
#: Katib refuses longer Experiment names (its trials' names add 9 characters).
MAX_NAME_LENGTH = 40
#: The sweep id on the Experiment and on every trial job (a valid label value).
SWEEP_LABEL = PREFIX + "sweep-id"
NOTEBOOK_ANNOTATION = PREFIX + "notebook"
MANAGED_BY = ("app.kubernetes.io/managed-by", "mofang")

_VALID_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?\Z")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_HASH_LENGTH = 8


def experiment_name(sweep_id: str) -> str:
    """The Experiment's name for a sweep: the id itself when Katib accepts it.

    Sweep ids (``train-k3x9qa``) already are; anything else becomes a readable
    stem plus 8 hex digits of its SHA-256, so two ids never share a name.
    """
    if len(sweep_id) <= MAX_NAME_LENGTH and _VALID_NAME.match(sweep_id):
        return sweep_id
    digest = hashlib.sha256(sweep_id.encode("utf-8")).hexdigest()[:_HASH_LENGTH]
    stem = _NOT_ALNUM.sub("-", sweep_id.lower()).strip("-")
    if not stem[:1].isalpha():
        stem = f"sweep-{stem}"
    stem = stem[: MAX_NAME_LENGTH - _HASH_LENGTH - 1].strip("-")
    return f"{stem}-{digest}"


def _number(value: float) -> str:
    """A float as Katib's services and Go's ParseFloat read it (``repr``: 0.01, 1e-05)."""
    return repr(float(value))


def parameter_spec(p: Parameter, *, grid: bool = False) -> dict[str, Any]:
    """One entry of ``spec.parameters``: Katib keeps every bound as a string."""
    if isinstance(p, DoubleParameter | IntParameter):
        text = _number if isinstance(p, DoubleParameter) else str
        space: dict[str, Any] = {"min": text(p.min), "max": text(p.max)}
        # A log-uniform search has no step, as locally (Optuna allows none there
        # either); a grid walks its steps whatever the distribution, as locally.
        if p.step is not None and (grid or p.distribution == "uniform"):
            space["step"] = text(p.step)
        space["distribution"] = p.distribution
        return {"name": p.name, "parameterType": p.type, "feasibleSpace": space}
    if isinstance(p, DiscreteParameter):
        values = [_number(v) for v in p.values]
    else:
        assert isinstance(p, CategoricalParameter)
        values = list(p.values)
    return {"name": p.name, "parameterType": p.type, "feasibleSpace": {"list": values}}


def max_failed_trial_count(settings: SweepSettings, max_trials: int) -> int:
    """Katib's ``maxFailedTrialCount`` for the local meaning of ``max_failed_trials``."""
    return min(settings.max_failed_trials + 1, max_trials)


def trial_counts(settings: SweepSettings) -> tuple[int, int]:
    """``(parallelTrialCount, maxTrialCount)``: a grid runs at most its number of points."""
    max_trials = settings.max_trials
    if settings.algorithm.name == "grid":
        max_trials = min(max_trials, grid_size(settings.parameters))
    return min(settings.parallel_trials, max_trials), max_trials


def experiment_labels(*, owner: str, group: str | None, sweep_id: str) -> dict[str, str]:
    """Labels of the Experiment: escaped user and group, the sweep id, who manages it."""
    labels = {
        MANAGED_BY[0]: MANAGED_BY[1],
        USER_LABEL: safe_name(owner),
        # The Experiment's name is the id whenever the id is a valid name (always, for
        # the ids Mofang makes); the raw id is in the annotation of the same key.
        SWEEP_LABEL: experiment_name(sweep_id),
    }
    if group is not None:
        labels[GROUP_LABEL] = safe_name(group)
    return labels


def _annotations(*, owner: str, group: str | None, notebook: str, sweep_id: str) -> dict[str, str]:
    annotations = {USER_LABEL: owner, NOTEBOOK_ANNOTATION: notebook, SWEEP_LABEL: sweep_id}
    if group is not None:
        annotations[GROUP_LABEL] = group
    return annotations


def _objective(settings: SweepSettings) -> dict[str, Any]:
    objective = settings.objective
    spec: dict[str, Any] = {
        "type": objective.type,
        "objectiveMetricName": objective.metric,
        # A trial's objective is its best report, as the local runner takes it.
        "metricStrategies": [
            {"name": objective.metric, "value": "max" if objective.type == "maximize" else "min"}
        ],
    }
    if objective.goal is not None:
        spec["goal"] = objective.goal
    if objective.additional_metrics:
        spec["additionalMetricNames"] = list(objective.additional_metrics)
    return spec


def experiment_manifest(
    *,
    settings: SweepSettings,
    trial_job: dict[str, Any],
    primary_container: str,
    sweep_id: str,
    namespace: str,
    owner: str,
    group: str | None,
    notebook: str,
) -> dict[str, Any]:
    """The ``Experiment`` that runs a sweep with ``trial_job`` (a job manifest) as each trial.

    ``primary_container`` is the container of the job's primary pod that runs
    the program (its stdout carries the reports). ``trial_job`` may carry a
    name and namespace: they are dropped, Katib sets both per trial.
    """
    parallel, max_trials = trial_counts(settings)
    job = trial_spec(
        trial_job, settings.parameters, labels={SWEEP_LABEL: experiment_name(sweep_id)}
    )
    template: dict[str, Any] = {
        "primaryContainerName": primary_container,
        "successCondition": success_condition(trial_job),
        "failureCondition": failure_condition(trial_job),
        "trialParameters": trial_parameters(
            settings.parameters,
            with_name=placeholder(TRIAL_NAME_PARAMETER) in json.dumps(job),
        ),
        "trialSpec": job,
    }
    labels = primary_pod_labels(trial_job)
    if labels is not None:
        template["primaryPodLabels"] = labels
    spec: dict[str, Any] = {
        "objective": _objective(settings),
        "algorithm": algorithm_spec(settings),
    }
    stopping = early_stopping_spec(settings)
    if stopping is not None:
        spec["earlyStopping"] = stopping
    spec |= {
        "parallelTrialCount": parallel,
        "maxTrialCount": max_trials,
        "maxFailedTrialCount": max_failed_trial_count(settings, max_trials),
        "parameters": [
            parameter_spec(p, grid=settings.algorithm.name == "grid") for p in settings.parameters
        ],
        "metricsCollectorSpec": {"collector": {"kind": "StdOut"}},
        "trialTemplate": template,
    }
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": experiment_name(sweep_id),
            "namespace": namespace,
            "labels": experiment_labels(owner=owner, group=group, sweep_id=sweep_id),
            "annotations": _annotations(
                owner=owner, group=group, notebook=notebook, sweep_id=sweep_id
            ),
        },
        "spec": spec,
    }
