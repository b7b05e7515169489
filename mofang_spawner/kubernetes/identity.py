"""Each user's own identity on the cluster: a service account and its binding (pure).

A user's notebook pod runs with a service account of that user
(``mofang-user-<escaped user>``), bound to the namespace's ``mofang-jobs``
Role, so that the job backend inside the pod can create the user's jobs
with the pod's token. Whoever holds a terminal in the pod holds that token
too, which is why the rights are the user's own and why the cluster-side
guard (``hub-config/kubernetes/jobs/guard.yaml``) can tell, from the
requesting service account alone, whose entitlements apply
(:mod:`~mofang_spawner.kubernetes.entitlements`).

Names are DNS-1123 labels (at most 63 characters), so they are valid for a
service account, a RoleBinding, a label value and a ConfigMap key prefix.
They are made from :func:`~mofang_spawner.planning.safe_name`; when the
prefix and the escaped name together are too long, the escaped name is cut
and a digest of the raw name keeps it unique.

Keyword-only arguments, plain dicts out, no I/O.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from mofang_spawner.kubernetes.labels import MANAGED_BY_LABEL, USER_LABEL
from mofang_spawner.planning import safe_name

__all__ = [
    "DEFAULT_SERVICE_ACCOUNT_PREFIX",
    "JOBS_ROLE",
    "role_binding_manifest",
    "service_account_manifest",
    "service_account_name",
]

#: Prefix of the users' service accounts; the guard's match condition names it too.
DEFAULT_SERVICE_ACCOUNT_PREFIX = "mofang-user-"
#: The namespace's Role every user's service account is bound to (hub-config/kubernetes/jobs).
JOBS_ROLE = "mofang-jobs"

_MAX_NAME = 63
_DIGEST = 10
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]{0,30})$")


def service_account_name(*, user: str, prefix: str = DEFAULT_SERVICE_ACCOUNT_PREFIX) -> str:
    """The service account of ``user``: ``prefix`` + the escaped name, at most 63 characters."""
    if not _PREFIX.match(prefix):
        raise ValueError(
            f"service account prefix {prefix!r} must be 1-31 lowercase letters, digits or '-', "
            "starting with a letter or digit"
        )
    name = prefix + safe_name(user)
    if len(name) <= _MAX_NAME:
        return name
    digest = hashlib.sha256(user.encode("utf-8")).hexdigest()[:_DIGEST]
    room = _MAX_NAME - len(prefix) - _DIGEST - 1
    stem = safe_name(user)[:room].rstrip("-")
    return f"{prefix}{stem}-{digest}" if stem else f"{prefix}{digest}"


def _metadata(*, name: str, user: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "labels": {**labels, MANAGED_BY_LABEL: "mofang", USER_LABEL: safe_name(user)},
        "annotations": {USER_LABEL: user},
    }


def service_account_manifest(
    *, user: str, name: str, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """The ServiceAccount ``name`` of ``user``.

    Its token is mounted only into the user's notebook pod (the pod asks for
    it); the job pods the user creates run without one.
    """
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(name=name, user=user, labels=labels or {}),
    }


def role_binding_manifest(
    *,
    user: str,
    service_account: str,
    namespace: str,
    role: str = JOBS_ROLE,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The RoleBinding (named like the service account) that gives it the jobs Role."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _metadata(name=service_account, user=user, labels=labels or {}),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}],
    }
