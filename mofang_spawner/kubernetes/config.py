"""``MofangStorage``: where the storage levels live on the cluster, as traitlets configuration.

Read by ``MofangSpawner`` and by ``mofang plan`` from the same section,
``c.MofangStorage``, and validated into the typed
:class:`~mofang_spawner.kubernetes.storage.StorageSettings`; a mistake
becomes a :class:`~mofang_spawner.errors.ConfigurationError` naming the
setting. Which directories a user gets is the policy's business
(``c.MofangPolicy``); this section only says which claims hold them.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from traitlets import Enum, List, Unicode
from traitlets.config import Configurable

from mofang_spawner.errors import ConfigurationError
from mofang_spawner.kubernetes.storage import StorageSettings

__all__ = ["MofangStorage"]


class MofangStorage(Configurable):
    """The PersistentVolumeClaims behind the user, project and global levels."""

    home_mount_path = Unicode(
        "/home/jovyan",
        config=True,
        help="""Where the user's private directory is mounted in the pod: the workspace
        root, the server's root directory and working directory, and the value of
        MOFANG_WORKSPACE. Project directories appear below it at
        <home>/<MofangPolicy.projects_dir>/<group>, the global directory at
        <home>/<MofangPolicy.global_dir>. Must match the image's home directory if
        you want the user's files in $HOME (jovyan's for the Jupyter images).""",
    )

    user_storage = Enum(
        ["shared-claim", "claim-per-user"],
        default_value="shared-claim",
        config=True,
        help="""How users' private directories are stored. ``shared-claim``: one claim
        (user_claim_name, ReadWriteMany, e.g. a static CephFS volume) holds a directory
        per user, and each pod mounts only its user's directory (subPath = the escaped
        user name). ``claim-per-user``: each user gets a claim of their own
        (user_claim_prefix + escaped user name), created on the first spawn from
        user_storage_class and never deleted by the spawner.""",
    )

    user_claim_name = Unicode(
        "mofang-users",
        config=True,
        help="In shared-claim mode: the claim whose root holds one directory per user. "
        "Create it (and its volume) before the first spawn; see hub-config/kubernetes/storage.",
    )

    user_claim_prefix = Unicode(
        "mofang-home-",
        config=True,
        help="In claim-per-user mode: prefix of each user's claim name "
        "(followed by the escaped user name).",
    )

    user_storage_class = Unicode(
        None,
        allow_none=True,
        config=True,
        help="In claim-per-user mode: the StorageClass of new user claims (e.g. the "
        "ceph-csi CephFS class 'cephfs'); None uses the cluster's default class.",
    )

    user_storage_capacity = Unicode(
        "10Gi",
        config=True,
        help="In claim-per-user mode: the size of a new user claim (a Kubernetes quantity). "
        "With CephFS it becomes the subvolume's quota.",
    )

    user_storage_access_modes = List(
        Unicode(),
        ["ReadWriteMany"],
        config=True,
        help="In claim-per-user mode: access modes of a new user claim. ReadWriteMany (the "
        "default, CephFS) lets the user's jobs mount their directory beside the server.",
    )

    project_storage = Enum(
        ["claim-per-project", "shared-claim"],
        default_value="claim-per-project",
        config=True,
        help="""How project groups' shared directories are stored. ``claim-per-project``:
        one claim per group (project_claim_prefix + escaped group name), created by an
        administrator, which lets each project have its own CephFS subvolume, quota and
        credentials. ``shared-claim``: one claim (project_claim_name) holds a directory per
        group; a pod mounts only the directories of its user's groups.""",
    )

    project_claim_name = Unicode(
        "mofang-projects",
        config=True,
        help="In shared-claim project mode: the claim whose root holds one directory per group.",
    )

    project_claim_prefix = Unicode(
        "mofang-project-",
        config=True,
        help="In claim-per-project mode: prefix of each project group's claim name "
        "(followed by the escaped group name, e.g. mofang-project-vision).",
    )

    global_claim_name = Unicode(
        "mofang-global",
        config=True,
        help="The claim holding the global directory every user sees. It is mounted "
        "read-only unless c.MofangPolicy.global_read_only is False.",
    )

    def settings(self) -> StorageSettings:
        """The validated settings; raises ConfigurationError naming the bad setting."""
        raw: dict[str, Any] = {name: getattr(self, name) for name in StorageSettings.model_fields}
        raw["user_storage_access_modes"] = tuple(raw["user_storage_access_modes"])
        try:
            return StorageSettings.model_validate(raw)
        except ValidationError as exc:
            lines = ["Invalid c.MofangStorage configuration:"]
            for error in exc.errors():
                where = ".".join(str(part) for part in error["loc"]) or "(storage)"
                lines.append(f"  {where}: {error['msg']}")
            raise ConfigurationError("\n".join(lines)) from exc
