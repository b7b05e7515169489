"""Katib's ``Experiment`` and ``Trial`` status read back as Mofang's sweep and trial records.

Pure: the objects come from the cluster client (or a test), the records go to
the REST API and the sidebar exactly as local sweeps' records do
(:mod:`mofang_lab.sweeps.records`).

A Trial's state is its first true condition in the order Katib's own
Experiment controller counts them:

======================  ==========================================================
Trial condition (True)  trial state
======================  ==========================================================
``Killed``              ``Cancelled`` (its Experiment ended, or it was deleted)
``Failed``              ``Failed`` (its job failed)
``Succeeded``           ``Succeeded``; ``Failed`` if it has no objective value
``EarlyStopped``        ``EarlyStopped`` (medianstop: pruned, not failed)
``Running``             ``Running``
``MetricsUnavailable``  ``Failed`` (it never reported the objective), as locally
none of these           ``Pending``
======================  ==========================================================

A trial's objective is its best report (``max`` when maximising, ``min``
when minimising, ``latest`` if Katib has no such value), the same rule as
locally. Katib keeps only the latest, smallest and largest report of each
metric, not the series: a Katib trial's ``reports`` are therefore empty, and
its objective comes from those summaries. Trials are numbered in the order
Katib created them; a trial's job carries the trial's name, which is its
``job_id``.

The Experiment's ``Succeeded`` and ``Failed`` conditions map onto the sweep's
end, with the local reasons: ``ExperimentGoalReached`` is ``GoalReached``,
``ExperimentMaxTrialsReached`` and ``ExperimentSuggestionEndReached`` (a grid
that ran every point) are ``MaxTrialsReached``, ``ExperimentFailed`` is
``MaxFailedTrialsExceeded``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import JsonValue

from mofang_lab.sweeps.records import BestTrial, SweepRecord, SweepState, TrialRecord, TrialState
from mofang_lab.sweeps.spec import (
    DiscreteParameter,
    DoubleParameter,
    IntParameter,
    Objective,
    SweepSettings,
)

__all__ = [
    "best_trial",
    "objective_value",
    "sweep_record",
    "sweep_state",
    "trial_record",
    "trial_records",
    "trial_state",
]

_UNAVAILABLE = "unavailable"

_SWEEP_REASONS = {
    "ExperimentGoalReached": "GoalReached",
    "ExperimentMaxTrialsReached": "MaxTrialsReached",
    "ExperimentSuggestionEndReached": "MaxTrialsReached",
    "ExperimentFailed": "MaxFailedTrialsExceeded",
}


def _time(text: Any) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _true_conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return {c.get("type", ""): c for c in conditions if c.get("status") == "True"}


def objective_value(trial: dict[str, Any], objective: Objective) -> float | None:
    """The trial's best report of the objective metric, from Katib's observation."""
    metrics = ((trial.get("status") or {}).get("observation") or {}).get("metrics") or []
    for metric in metrics:
        if metric.get("name") != objective.metric:
            continue
        best = metric.get("max" if objective.type == "maximize" else "min")
        if best in (None, "", _UNAVAILABLE):
            best = metric.get("latest")
        try:
            return float(best)
        except (TypeError, ValueError):
            return None
    return None


def trial_state(trial: dict[str, Any], objective: Objective) -> tuple[TrialState, str]:
    """The trial's state and a message saying why, from its conditions."""
    true = _true_conditions(trial)
    if "Killed" in true:
        return TrialState.CANCELLED, "Stopped by Katib: its sweep ended or it was deleted."
    if "Failed" in true:
        detail = true["Failed"].get("message") or true["Failed"].get("reason") or ""
        return TrialState.FAILED, f"Its job failed: {detail}".rstrip(": ")
    if "Succeeded" in true:
        if objective_value(trial, objective) is None:
            return TrialState.FAILED, _never_reported(objective)
        return TrialState.SUCCEEDED, ""
    if "EarlyStopped" in true:
        return TrialState.EARLY_STOPPED, "Stopped early."
    if "Running" in true:
        return TrialState.RUNNING, ""
    if "MetricsUnavailable" in true:
        return TrialState.FAILED, _never_reported(objective)
    return TrialState.PENDING, ""


def _never_reported(objective: Objective) -> str:
    return (
        f"It never reported {objective.metric}; print '{objective.metric}=VALUE' lines "
        f"(mofang_lab.sweeps.report({objective.metric}=...))."
    )


def _assignments(trial: dict[str, Any], settings: SweepSettings) -> dict[str, JsonValue]:
    """The trial's parameter values, typed as the sweep's parameters are."""
    types = {p.name: p for p in settings.parameters}
    values: dict[str, JsonValue] = {}
    for item in (trial.get("spec") or {}).get("parameterAssignments") or []:
        name, text = str(item.get("name")), str(item.get("value"))
        p = types.get(name)
        value: JsonValue = text
        try:
            if isinstance(p, IntParameter):
                value = int(float(text))
            elif isinstance(p, DoubleParameter | DiscreteParameter):
                value = float(text)
        except ValueError:
            value = text  # shown as Katib gave it rather than dropped
        values[name] = value
    return values


def trial_record(trial: dict[str, Any], *, number: int, settings: SweepSettings) -> TrialRecord:
    """One Katib Trial as a trial record."""
    state, message = trial_state(trial, settings.objective)
    metadata = trial.get("metadata") or {}
    status = trial.get("status") or {}
    created = _time(metadata.get("creationTimestamp")) or _time(status.get("startTime"))
    return TrialRecord(
        number=number,
        job_id=metadata.get("name"),
        parameters=_assignments(trial, settings),
        state=state,
        message=message,
        objective=objective_value(trial, settings.objective),
        early_stopped=state == TrialState.EARLY_STOPPED,
        created_at=created or datetime.fromtimestamp(0, UTC),
        finished_at=_time(status.get("completionTime")) if state.terminal else None,
    )


def trial_records(trials: Sequence[dict[str, Any]], settings: SweepSettings) -> list[TrialRecord]:
    """Every Trial as a record, numbered in the order Katib created them."""
    ordered = sorted(
        trials,
        key=lambda t: (
            str((t.get("metadata") or {}).get("creationTimestamp", "")),
            str((t.get("metadata") or {}).get("name", "")),
        ),
    )
    return [trial_record(t, number=i, settings=settings) for i, t in enumerate(ordered)]


def best_trial(trials: Sequence[TrialRecord], objective: Objective) -> BestTrial | None:
    """The succeeded trial with the best objective (the earliest of equals)."""
    best: TrialRecord | None = None
    for trial in trials:
        if trial.state != TrialState.SUCCEEDED or trial.objective is None:
            continue
        if best is None or objective.better(trial.objective, best.objective):  # type: ignore[arg-type]
            best = trial
    if best is None or best.objective is None:
        return None
    return BestTrial(number=best.number, parameters=best.parameters, objective=best.objective)


def sweep_state(experiment: dict[str, Any]) -> tuple[SweepState, str, str]:
    """The sweep's state, reason and message from the Experiment's conditions."""
    true = _true_conditions(experiment)
    for kind, state in (("Succeeded", SweepState.SUCCEEDED), ("Failed", SweepState.FAILED)):
        if kind in true:
            reason = str(true[kind].get("reason") or kind)
            return state, _SWEEP_REASONS.get(reason, reason), str(true[kind].get("message") or "")
    return SweepState.RUNNING, "", ""


def sweep_record(
    *,
    experiment: dict[str, Any],
    trials: Sequence[dict[str, Any]],
    sweep_id: str,
    owner: str,
    name: str,
    notebook: str,
    settings: SweepSettings,
    trial_template: dict[str, JsonValue],
) -> SweepRecord:
    """The sweep's record from its Experiment and Trials (``trial_template``: its job fields)."""
    records = trial_records(trials, settings)
    state, reason, message = sweep_state(experiment)
    counts: dict[str, int] = {}
    for trial in records:
        counts[trial.state] = counts.get(trial.state, 0) + 1
    status = experiment.get("status") or {}
    created = _time((experiment.get("metadata") or {}).get("creationTimestamp"))
    return SweepRecord(
        id=sweep_id,
        owner=owner,
        name=name,
        notebook=notebook,
        state=state,
        reason=reason,
        message=message,
        settings=settings,
        trial=trial_template,
        created_at=created or datetime.fromtimestamp(0, UTC),
        finished_at=_time(status.get("completionTime")) if state.terminal else None,
        best=best_trial(records, settings.objective),
        counts=counts,
        trials=tuple(records),
    )
