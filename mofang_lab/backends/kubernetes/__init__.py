"""The Kubernetes job backend: jobs as Kubeflow custom resources, gang-scheduled by Volcano.

``manifests/`` turns a job spec and the user's spawn plan into the objects
(pure, no API client: an import-linter contract checks it); ``status`` reads
the objects' conditions back as job states (pure too); ``client`` is the one
module that talks to the Kubernetes API; ``backend`` implements
:class:`~mofang_lab.backends.base.JobBackend` on top of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mofang_lab.backends.kubernetes.backend import KubernetesBackend

__all__ = ["KubernetesBackend"]


def __getattr__(name: str) -> Any:
    # The backend pulls in the API client; the pure builders must not.
    if name == "KubernetesBackend":
        from mofang_lab.backends.kubernetes.backend import KubernetesBackend

        return KubernetesBackend
    raise AttributeError(name)
