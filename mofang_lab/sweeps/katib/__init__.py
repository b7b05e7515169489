"""Sweeps on a cluster: a sweep as a Katib ``Experiment`` (kubeflow.org/v1beta1), and back.

Pure builders and readers, no API client (an import-linter contract checks it):

* :mod:`.experiment`: the ``Experiment`` dict of a sweep and its trial's job;
* :mod:`.trials`: the trial template (placeholders, ``MOFANG_PARAMETERS``,
  success and failure conditions, the primary pod);
* :mod:`.algorithms`: ``algorithm`` and ``earlyStopping`` in Katib's words;
* :mod:`.rules`: Katib's admission rules, checked before anything is created;
* :mod:`.status`: Experiment and Trial status as sweep and trial records.

:func:`build_experiment` is what callers use: the Experiment, checked.
"""

from __future__ import annotations

from typing import Any

from mofang_lab.sweeps.katib.experiment import (
    API_VERSION,
    KIND,
    MAX_NAME_LENGTH,
    SWEEP_LABEL,
    experiment_manifest,
    experiment_name,
)
from mofang_lab.sweeps.katib.rules import admission_problems, check_experiment
from mofang_lab.sweeps.katib.status import sweep_record, sweep_state, trial_records
from mofang_lab.sweeps.spec import SweepSettings

__all__ = [
    "API_VERSION",
    "KIND",
    "MAX_NAME_LENGTH",
    "SWEEP_LABEL",
    "admission_problems",
    "build_experiment",
    "check_experiment",
    "experiment_manifest",
    "experiment_name",
    "sweep_record",
    "sweep_state",
    "trial_records",
]


def build_experiment(
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
    """The sweep's ``Experiment``, refused with every broken Katib rule named if Katib would."""
    experiment = experiment_manifest(
        settings=settings,
        trial_job=trial_job,
        primary_container=primary_container,
        sweep_id=sweep_id,
        namespace=namespace,
        owner=owner,
        group=group,
        notebook=notebook,
    )
    check_experiment(experiment)
    return experiment
