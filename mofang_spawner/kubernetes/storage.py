"""The three storage levels of a plan as pod volumes, mounts and claims (pure).

Each :class:`~mofang_spawner.planning.Mount` of a plan becomes one pod volume
backed by a PersistentVolumeClaim (CephFS through ceph-csi on a real cluster)
and one mount of the notebook container, at ``<home>/<mount.path>``: the
workspace root (``home_mount_path``) is the user's private directory, projects
appear at ``<home>/projects/<group>`` and the global level at
``<home>/global``, exactly where the local spawner puts them.

Where each level comes from is the administrator's choice
(:class:`StorageSettings`):

* user level, ``shared-claim``: one claim (``user_claim_name``) whose root
  holds every user's directory; a pod mounts only its user's ``subPath``.
* user level, ``claim-per-user``: one claim per user
  (``user_claim_prefix`` + escaped user name), created by the spawner on the
  first spawn from ``user_storage_class`` and kept afterwards (it holds the
  user's files).
* project level, ``claim-per-project``: one claim per project group
  (``project_claim_prefix`` + escaped group name), created by the
  administrator; or ``shared-claim``: one claim whose root holds every
  group's directory, mounted with a ``subPath`` per group.
* global level: one claim (``global_claim_name``), read-only unless the
  policy says otherwise.

Builders take keyword-only arguments and return plain dicts; no I/O.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mofang_spawner.kubernetes.labels import USER_LABEL
from mofang_spawner.planning import Mount, ServerPlan, safe_name

__all__ = [
    "STORAGE_ENV",
    "StorageSettings",
    "claim_names",
    "user_claim_manifests",
    "volumes_and_mounts",
]

#: The spawner hands the notebook server these settings (JSON) in this variable, so that
#: the server's job backend mounts the same claims into job pods.
STORAGE_ENV = "MOFANG_STORAGE"

_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
_PREFIX = r"^[a-z0-9][-a-z0-9.]{0,100}$"
_QUANTITY = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class StorageSettings(BaseModel):
    """Where each storage level's data lives on the cluster (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    home_mount_path: str = Field(
        default="/home/jovyan", description="the workspace root inside the pod"
    )
    user_storage: Literal["shared-claim", "claim-per-user"] = "shared-claim"
    user_claim_name: str = Field(default="mofang-users", pattern=_DNS_SUBDOMAIN)
    user_claim_prefix: str = Field(default="mofang-home-", pattern=_PREFIX)
    user_storage_class: str | None = None
    user_storage_capacity: str = Field(default="10Gi", pattern=_QUANTITY)
    user_storage_access_modes: tuple[
        Literal["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod", "ReadOnlyMany"], ...
    ] = Field(default=("ReadWriteMany",), min_length=1)
    project_storage: Literal["claim-per-project", "shared-claim"] = "claim-per-project"
    project_claim_name: str = Field(default="mofang-projects", pattern=_DNS_SUBDOMAIN)
    project_claim_prefix: str = Field(default="mofang-project-", pattern=_PREFIX)
    global_claim_name: str = Field(default="mofang-global", pattern=_DNS_SUBDOMAIN)

    @field_validator("home_mount_path")
    @classmethod
    def _absolute_plain_path(cls, value: str) -> str:
        # KubeSpawner formats some strings as templates, and ".." would let a
        # mount escape the workspace: only plain absolute paths are accepted.
        if not value.startswith("/") or any(c in value for c in "{}\n\\:"):
            raise ValueError("must be an absolute path without braces, colons or backslashes")
        normal = posixpath.normpath(value)
        if normal == "/" or ".." in value.split("/"):
            raise ValueError("must be an absolute directory below /, without '..'")
        return normal


def volumes_and_mounts(
    *, plan: ServerPlan, storage: StorageSettings
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The pod volumes and notebook-container mounts of ``plan``'s storage levels."""
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    for mount in plan.mounts:
        name, claim, sub_path = _source(mount, plan, storage)
        volume: dict[str, Any] = {"name": name, "persistentVolumeClaim": {"claimName": claim}}
        if mount.read_only:
            volume["persistentVolumeClaim"]["readOnly"] = True
        volume_mount: dict[str, Any] = {"name": name, "mountPath": _mount_path(mount, storage)}
        if sub_path:
            volume_mount["subPath"] = sub_path
        if mount.read_only:
            volume_mount["readOnly"] = True
        volumes.append(volume)
        mounts.append(volume_mount)
    return volumes, mounts


def claim_names(*, plan: ServerPlan, storage: StorageSettings) -> list[str]:
    """Every claim the pod of ``plan`` mounts, each once, in mount order."""
    names: list[str] = []
    for mount in plan.mounts:
        claim = _source(mount, plan, storage)[1]
        if claim not in names:
            names.append(claim)
    return names


def user_claim_manifests(
    *, plan: ServerPlan, storage: StorageSettings, labels: dict[str, str]
) -> list[dict[str, Any]]:
    """The claims the spawner creates when missing: the user's own, in ``claim-per-user``.

    ``labels`` are added to the claim's (the hub's common labels, for example);
    the claim always carries the user label, so ``kubectl get pvc -l
    mofang.io/user=<name>`` finds it.
    """
    if storage.user_storage != "claim-per-user":
        return []
    spec: dict[str, Any] = {
        "accessModes": list(storage.user_storage_access_modes),
        "resources": {"requests": {"storage": storage.user_storage_capacity}},
    }
    if storage.user_storage_class is not None:
        spec["storageClassName"] = storage.user_storage_class
    return [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": storage.user_claim_prefix + plan.user_dir,
                "labels": {**labels, USER_LABEL: plan.user_dir},
                "annotations": {USER_LABEL: plan.user},
            },
            "spec": spec,
        }
    ]


def _source(mount: Mount, plan: ServerPlan, storage: StorageSettings) -> tuple[str, str, str]:
    """(volume name, claim name, subPath) of one storage level."""
    if mount.level == "user":
        if storage.user_storage == "claim-per-user":
            return "mofang-user", storage.user_claim_prefix + plan.user_dir, ""
        return "mofang-user", storage.user_claim_name, plan.user_dir
    if mount.level == "project":
        group = safe_name(mount.group or "")
        volume = f"mofang-project-{group}"
        if not _DNS_LABEL.match(volume):
            # Volume names are DNS labels (63 characters); a long escaped group
            # name is replaced by a digest of it, which stays unique.
            digest = hashlib.sha256((mount.group or "").encode("utf-8")).hexdigest()[:12]
            volume = f"mofang-project-{digest}"
        if storage.project_storage == "shared-claim":
            return volume, storage.project_claim_name, group
        return volume, storage.project_claim_prefix + group, ""
    return "mofang-global", storage.global_claim_name, ""


def _mount_path(mount: Mount, storage: StorageSettings) -> str:
    if not mount.path:
        return storage.home_mount_path
    return posixpath.join(storage.home_mount_path, mount.path)
