"""Job and replica states, named as the Kubeflow Training Operator names its conditions.

A job moves ``Created -> Running -> Succeeded | Failed``; ``Restarting`` while a
replica that failed is being started again under the job's restart policy;
``Cancelled`` when its owner stops it. Replicas have their own, smaller set.
Both backends report exactly these values, so the sidebar, the magics and the
CLI need to know only one vocabulary.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["TERMINAL_JOB_STATES", "JobState", "ReplicaState"]


class JobState(StrEnum):
    CREATED = "Created"
    RUNNING = "Running"
    RESTARTING = "Restarting"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_JOB_STATES


#: States a job never leaves.
TERMINAL_JOB_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


class ReplicaState(StrEnum):
    """One replica (one pod on a cluster, one process group locally)."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    #: Stopped by Mofang: the job ended (success, failure elsewhere, timeout, cancel).
    STOPPED = "Stopped"

    @property
    def finished(self) -> bool:
        return self in (ReplicaState.SUCCEEDED, ReplicaState.FAILED, ReplicaState.STOPPED)
