"""A sweep and its trials as the server reports them, and their states.

A sweep is ``Running`` until it ends ``Succeeded`` (``max_trials`` done, or the
objective's goal reached), ``Failed`` (more failed trials than
``max_failed_trials``) or ``Cancelled``. A trial is ``Pending`` from the
moment the search chose its parameters until its job is recorded, then
``Running``, and ends ``Succeeded`` (it reported the objective),
``Failed`` (its job failed, or it never reported the objective),
``EarlyStopped`` (stopped by the early-stopping rule: pruned, not failed) or
``Cancelled`` (with its sweep). Katib's ``EarlyStopped`` trial condition has the
same meaning.

Every state change of a sweep or of one of its trials is also a
:class:`SweepEvent`, numbered per server like job events, which the event
stream (``GET /mofang/api/events``) pushes to the sidebar.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from mofang_lab.sweeps.spec import SweepSettings

__all__ = [
    "BestTrial",
    "SweepEvent",
    "SweepRecord",
    "SweepState",
    "TrialRecord",
    "TrialState",
]


class SweepState(StrEnum):
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def terminal(self) -> bool:
        return self != SweepState.RUNNING


class TrialState(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    EARLY_STOPPED = "EarlyStopped"
    CANCELLED = "Cancelled"

    @property
    def terminal(self) -> bool:
        return self not in (TrialState.PENDING, TrialState.RUNNING)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrialRecord(_Frozen):
    """One trial: its parameters, its job, and what it reported."""

    number: int = Field(description="0, 1, ... in the order the search chose them")
    job_id: str | None = Field(default=None, description="None until its job is recorded")
    parameters: dict[str, JsonValue]
    state: TrialState
    message: str = ""
    reports: dict[str, list[float]] = Field(
        default={}, description="every report of each metric, in order (one per step)"
    )
    objective: float | None = Field(
        default=None, description="the best objective report (max or min, by the objective)"
    )
    early_stopped: bool = False
    created_at: datetime
    finished_at: datetime | None = None


class BestTrial(_Frozen):
    number: int
    parameters: dict[str, JsonValue]
    objective: float


class SweepRecord(_Frozen):
    """A sweep: its request, its state, its best trial so far and (on request) its trials."""

    id: str
    owner: str
    name: str
    notebook: str = Field(description="the notebook, relative to your files")
    state: SweepState
    reason: str = ""
    message: str = ""
    settings: SweepSettings
    trial: dict[str, JsonValue] = Field(description="the trial template (job fields)")
    created_at: datetime
    finished_at: datetime | None = None
    best: BestTrial | None = None
    counts: dict[str, int] = Field(default={}, description="trials per state")
    trials: tuple[TrialRecord, ...] = ()

    def summary(self) -> dict[str, Any]:
        """The sweep without its trials, as JSON data (the list view)."""
        return self.model_dump(mode="json", exclude={"trials"})


class SweepEvent(_Frozen):
    """A state change of a sweep or of one of its trials, with what a sweep view shows.

    ``seq`` numbers the sweep events of this server in the order they happened
    and resumes the event stream; ``trial`` is the trial that changed (its whole
    record), or None when the sweep's own state changed. ``state``, ``counts``
    and ``best`` are the sweep's as of this event, so a list view needs nothing else.
    """

    seq: int
    sweep_id: str
    state: SweepState
    reason: str = ""
    message: str = ""
    time: datetime
    counts: dict[str, int] = Field(default={}, description="trials per state")
    best: BestTrial | None = None
    trial: TrialRecord | None = None
