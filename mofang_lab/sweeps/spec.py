"""``SweepSpec``: what a hyperparameter sweep searches, optimises and stops.

The vocabulary is Katib's (``Experiment`` v1beta1), so a sweep maps one to one
onto an ``Experiment`` on a cluster and onto an Optuna study locally:
parameters are ``double`` / ``int`` (``min``, ``max``, optional ``step``,
``uniform`` or ``logUniform`` distribution), ``discrete`` (a list of numbers)
or ``categorical`` (a list of strings); the objective maximises or minimises one
metric, with an optional goal; algorithms carry Katib's names; early stopping is
``medianstop``. Every rule Katib's admission webhook enforces on these fields is
checked here, so a bad sweep is refused before anything starts.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "AlgorithmName",
    "CategoricalParameter",
    "DiscreteParameter",
    "DoubleParameter",
    "EarlyStopping",
    "IntParameter",
    "Objective",
    "Parameter",
    "SweepSettings",
]

AlgorithmName = Literal[
    "random", "grid", "tpe", "multivariate-tpe", "cmaes", "bayesianoptimization", "hyperband"
]
ALGORITHMS: tuple[str, ...] = AlgorithmName.__args__  # type: ignore[attr-defined]

#: Names Katib's StdOut collector can read back (its filter captures ``[\w|-]+``).
_METRIC_NAME = r"^[A-Za-z0-9_|-]+$"
_PARAMETER_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"  # must be a Python identifier: it becomes a variable


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Range(_Frozen):
    name: str = Field(pattern=_PARAMETER_NAME, max_length=64)
    distribution: Literal["uniform", "logUniform"] = "uniform"

    def _check_range(self, low: float, high: float, step: float | None) -> None:
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"parameter {self.name!r}: min and max must be finite")
        if low >= high:
            raise ValueError(f"parameter {self.name!r}: min must be below max")
        if step is not None and (step <= 0 or step > high - low):
            raise ValueError(f"parameter {self.name!r}: step must be > 0 and at most max - min")
        if self.distribution == "logUniform" and low <= 0:
            raise ValueError(f"parameter {self.name!r}: a logUniform range needs min > 0")


class DoubleParameter(_Range):
    type: Literal["double"] = "double"
    min: float
    max: float
    step: float | None = None

    @model_validator(mode="after")
    def _valid(self) -> DoubleParameter:
        self._check_range(self.min, self.max, self.step)
        return self


class IntParameter(_Range):
    type: Literal["int"] = "int"
    min: int
    max: int
    step: int | None = None

    @model_validator(mode="after")
    def _valid(self) -> IntParameter:
        self._check_range(self.min, self.max, self.step)
        return self


class DiscreteParameter(_Frozen):
    type: Literal["discrete"] = "discrete"
    name: str = Field(pattern=_PARAMETER_NAME, max_length=64)
    values: tuple[float, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _valid(self) -> DiscreteParameter:
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"parameter {self.name!r}: values repeat")
        if not all(math.isfinite(v) for v in self.values):
            raise ValueError(f"parameter {self.name!r}: values must be finite")
        return self


class CategoricalParameter(_Frozen):
    type: Literal["categorical"] = "categorical"
    name: str = Field(pattern=_PARAMETER_NAME, max_length=64)
    values: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _valid(self) -> CategoricalParameter:
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"parameter {self.name!r}: values repeat")
        return self


Parameter = Annotated[
    DoubleParameter | IntParameter | DiscreteParameter | CategoricalParameter,
    Field(discriminator="type"),
]


class Objective(_Frozen):
    type: Literal["maximize", "minimize"]
    metric: str = Field(pattern=_METRIC_NAME, max_length=128)
    goal: float | None = Field(default=None, description="stop the sweep once reached")
    additional_metrics: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _valid(self) -> Objective:
        for name in self.additional_metrics:
            if not re.match(_METRIC_NAME, name):
                raise ValueError(f"metric name {name!r} is not readable from stdout")
        if self.metric in self.additional_metrics:
            raise ValueError("the objective metric is also listed in additional_metrics")
        if self.goal is not None and not math.isfinite(self.goal):
            raise ValueError("goal must be a finite number")
        return self

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b`` for this objective."""
        return a > b if self.type == "maximize" else a < b


class Algorithm(_Frozen):
    name: AlgorithmName = "tpe"
    settings: dict[str, str] = Field(default_factory=dict, description="Katib algorithmSettings")


class EarlyStopping(_Frozen):
    """Katib's ``medianstop``: stop a trial doing worse than the completed ones did."""

    algorithm: Literal["medianstop"] = "medianstop"
    min_trials_required: int = Field(default=3, gt=0)
    start_step: int = Field(default=4, ge=1)


class SweepSettings(_Frozen):
    """Everything of a sweep but its trial template (the job each trial runs)."""

    parameters: tuple[Parameter, ...] = Field(min_length=1)
    objective: Objective
    algorithm: Algorithm = Algorithm()
    parallel_trials: int = Field(default=3, gt=0, le=64)
    max_trials: int = Field(default=12, gt=0, le=10_000)
    max_failed_trials: int = Field(default=3, ge=0)
    early_stopping: EarlyStopping | None = None
    seed: int | None = Field(
        default=None, description="seed of the local search, for repeatable sweeps"
    )

    @model_validator(mode="after")
    def _valid(self) -> SweepSettings:
        names = [p.name for p in self.parameters]
        if len(set(names)) != len(names):
            raise ValueError("parameter names repeat")
        if self.parallel_trials > self.max_trials:
            raise ValueError("parallel_trials must be at most max_trials")
        if self.algorithm.name == "grid":
            for p in self.parameters:
                if isinstance(p, DoubleParameter) and p.step is None:
                    raise ValueError(f"grid search needs a step for double parameter {p.name!r}")
        return self
