"""A sweep's Experiment from its trial's job spec: the job builder and the Katib builder together.

The Kubernetes job backend's builder
(:func:`~mofang_lab.backends.kubernetes.manifests.job_manifest`) makes the
object a job runs as; a sweep's trials are that object with placeholders
(:mod:`.trials`). Here both are put together, so that ``mofang sweep
--backend kubernetes --dry-run`` and the cluster backend build the same
Experiment. Trials share one snapshot: their job folder is the sweep's
(``<jobs dir>/<sweep id>``), written once, and each trial's values reach its
program through ``MOFANG_PARAMETERS``. Pure, like both builders.
"""

from __future__ import annotations

from typing import Any

from mofang_lab.backends.kubernetes.manifests import (
    ClusterJobSettings,
    job_manifest,
    job_workdir,
    primary_container,
)
from mofang_lab.jobs.spec import JobSpec
from mofang_lab.sweeps.katib.experiment import experiment_manifest, experiment_name
from mofang_lab.sweeps.katib.rules import check_experiment
from mofang_lab.sweeps.spec import SweepSettings
from mofang_spawner.planning import ServerPlan

__all__ = ["sweep_experiment", "trial_job"]


def trial_job(
    *,
    spec: JobSpec,
    sweep_id: str,
    namespace: str,
    owner: str,
    plan: ServerPlan | None,
    settings: ClusterJobSettings,
) -> dict[str, Any]:
    """The job object of a trial, named like the Experiment, in the sweep's shared folder."""
    return job_manifest(
        spec=spec,
        name=experiment_name(sweep_id),
        namespace=namespace,
        owner=owner,
        plan=plan,
        settings=settings,
        workdir=job_workdir(settings=settings, job_id=sweep_id),
    )


def sweep_experiment(
    *,
    sweep: SweepSettings,
    spec: JobSpec,
    sweep_id: str,
    namespace: str,
    owner: str,
    plan: ServerPlan | None,
    settings: ClusterJobSettings,
) -> dict[str, Any]:
    """The checked Experiment of a sweep whose trials run ``spec``; refused if Katib would."""
    experiment = experiment_manifest(
        settings=sweep,
        trial_job=trial_job(
            spec=spec,
            sweep_id=sweep_id,
            namespace=namespace,
            owner=owner,
            plan=plan,
            settings=settings,
        ),
        primary_container=primary_container(spec.kind),
        sweep_id=sweep_id,
        namespace=namespace,
        owner=owner,
        group=plan.group.name if plan is not None else None,
        notebook=spec.notebook,
    )
    check_experiment(experiment)
    return experiment
