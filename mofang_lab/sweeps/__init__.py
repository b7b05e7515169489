"""Hyperparameter sweeps: the search space and objective, metrics, early stopping, search.

``SweepSettings`` uses Katib's vocabulary; ``metrics`` reads ``name=value``
reports exactly as Katib's StdOut collector does; ``early_stopping`` is Katib's
``medianstop`` rule; ``algorithms`` maps Katib's algorithm names onto Optuna's
samplers for local sweeps.
"""

from mofang_lab.sweeps.early_stopping import median_threshold, should_stop
from mofang_lab.sweeps.metrics import (
    KATIB_METRIC_FILTER,
    MetricReport,
    format_report,
    parse_metrics,
    report,
)
from mofang_lab.sweeps.spec import (
    ALGORITHMS,
    Algorithm,
    AlgorithmName,
    CategoricalParameter,
    DiscreteParameter,
    DoubleParameter,
    EarlyStopping,
    IntParameter,
    Objective,
    Parameter,
    SweepSettings,
)

__all__ = [
    "ALGORITHMS",
    "KATIB_METRIC_FILTER",
    "Algorithm",
    "AlgorithmName",
    "CategoricalParameter",
    "DiscreteParameter",
    "DoubleParameter",
    "EarlyStopping",
    "IntParameter",
    "MetricReport",
    "Objective",
    "Parameter",
    "SweepSettings",
    "format_report",
    "median_threshold",
    "parse_metrics",
    "report",
    "should_stop",
]
