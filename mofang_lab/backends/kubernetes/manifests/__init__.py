"""Pure builders of the job objects: a job spec and a spawn plan in, plain dicts out.

No API client is imported here (an import-linter contract checks it), so the
same code serves the backend, ``mofang submit --dry-run`` and the golden and
schema tests. Keyword-only arguments; no I/O.
"""

from mofang_lab.backends.kubernetes.manifests.jobs import (
    CONTAINER_NAMES,
    JOB_KINDS,
    KindInfo,
    job_manifest,
    primary_container,
)
from mofang_lab.backends.kubernetes.manifests.labels import (
    JOB_ID_LABEL,
    ROLE_LABEL,
    job_selector,
)
from mofang_lab.backends.kubernetes.manifests.pods import job_workdir
from mofang_lab.backends.kubernetes.manifests.rules import operator_violations, update_violations
from mofang_lab.backends.kubernetes.manifests.settings import CleanPodPolicy, ClusterJobSettings

__all__ = [
    "CONTAINER_NAMES",
    "JOB_ID_LABEL",
    "JOB_KINDS",
    "ROLE_LABEL",
    "CleanPodPolicy",
    "ClusterJobSettings",
    "KindInfo",
    "job_manifest",
    "job_selector",
    "job_workdir",
    "operator_violations",
    "primary_container",
    "update_violations",
]
