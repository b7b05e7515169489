"""``SweepRequest``: the body of ``POST /mofang/api/sweeps``, and each trial's job request.

A sweep request is a notebook, the search (:class:`SweepSettings`) and a trial
template: the job fields of :class:`~mofang_lab.jobs.request.SubmitRequest`
(kind, roles, env, timeout, ...) that every trial runs with. The template is
checked by validating a real ``SubmitRequest`` from it, so a trial's job is
described by exactly the fields and rules a submitted job has; the search
fills in the parameters, and the sweep sets the job's name and idempotency key.

Validation errors become :class:`InvalidRequestError` through
:func:`~mofang_lab.jobs.request.parse_model`, the one place that translates them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from mofang_lab.jobs.request import SubmitRequest, parse_model
from mofang_lab.sweeps.spec import SweepSettings

__all__ = ["TRIAL_FIELDS_SET_BY_SWEEP", "SweepRequest", "trial_request"]

#: ``SubmitRequest`` fields a trial template may not set: the sweep sets them per trial.
TRIAL_FIELDS_SET_BY_SWEEP = frozenset({"notebook", "name", "idempotency_key", "dry_run"})


class SweepRequest(BaseModel):
    """What a client sends to start a sweep over a notebook's parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    notebook: str = Field(
        min_length=1, description="path of the notebook: relative to your files, or absolute"
    )
    name: str | None = Field(
        default=None, max_length=80, description="default: the notebook's name"
    )
    settings: SweepSettings
    trial: dict[str, JsonValue] = Field(
        default={},
        description="the job every trial runs: fields of a job request (kind, roles, env, "
        "timeout_seconds, ...); 'parameters' here are fixed values beside the searched ones",
    )
    dry_run: bool = Field(default=False, description="validate and describe; start nothing")

    @model_validator(mode="after")
    def _valid_template(self) -> SweepRequest:
        taken = sorted(TRIAL_FIELDS_SET_BY_SWEEP & set(self.trial))
        if taken:
            raise ValueError(
                f"trial.{', trial.'.join(taken)} cannot be chosen: the sweep sets it for each "
                "trial; leave it out"
            )
        fixed = self.trial.get("parameters") or {}
        if not isinstance(fixed, dict):
            raise ValueError("trial.parameters must be an object of NAME: VALUE")
        searched = {p.name for p in self.settings.parameters}
        both = sorted(searched & set(fixed))
        if both:
            raise ValueError(
                f"parameter(s) {', '.join(both)} are both searched and fixed in "
                "trial.parameters; keep one"
            )
        return self

    def searched_names(self) -> list[str]:
        return [p.name for p in self.settings.parameters]


def trial_request(
    request: SweepRequest,
    *,
    notebook: str,
    name: str,
    key: str,
    values: Mapping[str, Any],
) -> SubmitRequest:
    """The job request of one trial: the template, its parameter values, its name and key."""
    fixed = request.trial.get("parameters") or {}
    assert isinstance(fixed, dict)  # SweepRequest checks it
    body: dict[str, Any] = {
        **request.trial,
        "notebook": notebook,
        "name": name,
        "parameters": {**fixed, **values},
        "idempotency_key": key,
    }
    return parse_model(SubmitRequest, body, what="trial template")
