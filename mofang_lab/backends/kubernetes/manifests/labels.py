"""Labels and annotations that tie every job object to its user, group, notebook and job.

Every custom resource and every pod template carries them, so that
``kubectl get pods -l mofang.io/job-id=<id>`` finds a job's pods, the
spawner's quota check counts a group's job pods beside its servers (the
``mofang.io/group`` label), and the cluster-side guard can compare the
object's user with the service account that created it. Label values are
escaped with :func:`~mofang_spawner.planning.safe_name`; the raw names are kept
in annotations of the same keys.
"""

from __future__ import annotations

from mofang_spawner.kubernetes.labels import GROUP_LABEL, PREFIX, USER_LABEL
from mofang_spawner.planning import safe_name

__all__ = [
    "JOB_ID_LABEL",
    "JOB_NAME_ANNOTATION",
    "MANAGED_BY",
    "NOTEBOOK_ANNOTATION",
    "OPERATOR_JOB_NAME_LABEL",
    "OPERATOR_REPLICA_INDEX_LABEL",
    "OPERATOR_REPLICA_TYPE_LABEL",
    "ROLE_LABEL",
    "job_annotations",
    "job_labels",
    "job_selector",
]

MANAGED_BY = ("app.kubernetes.io/managed-by", "mofang")
#: The job id (already a valid label value).
JOB_ID_LABEL = PREFIX + "job-id"
#: The replica's role, lower case (``master``, ``worker``, ``ps``...), on pod templates.
ROLE_LABEL = PREFIX + "replica-type"
NOTEBOOK_ANNOTATION = PREFIX + "notebook"
JOB_NAME_ANNOTATION = PREFIX + "job-name"

#: Labels the Kubeflow operators put on the pods they create.
OPERATOR_JOB_NAME_LABEL = "training.kubeflow.org/job-name"
OPERATOR_REPLICA_TYPE_LABEL = "training.kubeflow.org/replica-type"
OPERATOR_REPLICA_INDEX_LABEL = "training.kubeflow.org/replica-index"


def job_labels(*, owner: str, group: str | None, job_id: str) -> dict[str, str]:
    labels = {MANAGED_BY[0]: MANAGED_BY[1], USER_LABEL: safe_name(owner), JOB_ID_LABEL: job_id}
    if group is not None:
        labels[GROUP_LABEL] = safe_name(group)
    return labels


def job_annotations(*, owner: str, group: str | None, notebook: str, name: str) -> dict[str, str]:
    annotations = {USER_LABEL: owner, NOTEBOOK_ANNOTATION: notebook, JOB_NAME_ANNOTATION: name}
    if group is not None:
        annotations[GROUP_LABEL] = group
    return annotations


def job_selector(job_id: str) -> str:
    """The label selector of a job's pods."""
    return f"{JOB_ID_LABEL}={job_id}"
