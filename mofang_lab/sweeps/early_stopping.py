"""Katib's ``medianstop`` early-stopping rule, as a pure function.

Katib computes one threshold from the *succeeded* trials once there are at
least ``min_trials_required`` of them: for each, the average of its first
``start_step`` objective reports; the threshold is the mean of those averages
(Katib calls it the median). A running trial is compared by its best objective
value so far: for a maximised objective it is stopped when that best is below
the threshold, for a minimised one when it is above. Katib's collector checks
at the trial's ``start_step``-th report; here the check runs at that report and
every later one, so a trial that falls behind later is stopped too.
"""

from __future__ import annotations

from collections.abc import Sequence

from mofang_lab.sweeps.spec import EarlyStopping, Objective

__all__ = ["median_threshold", "should_stop"]


def median_threshold(succeeded: Sequence[Sequence[float]], rule: EarlyStopping) -> float | None:
    """The stopping threshold from the objective reports of succeeded trials, if enough."""
    averages = [
        sum(values[: rule.start_step]) / len(values[: rule.start_step])
        for values in succeeded
        if values
    ]
    if len(averages) < rule.min_trials_required:
        return None
    return sum(averages) / len(averages)


def should_stop(
    reports: Sequence[float], threshold: float | None, rule: EarlyStopping, objective: Objective
) -> bool:
    """Whether a running trial with these objective ``reports`` (in order) stops now."""
    if threshold is None or len(reports) < rule.start_step:
        return False
    best = max(reports) if objective.type == "maximize" else min(reports)
    return objective.better(threshold, best)
