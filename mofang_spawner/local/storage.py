"""The three storage levels as directories on one machine.

Layout under the data root (the local stand-in for the CephFS root)::

    <data_root>/users/<user>          private, mode 0700, owned by the user
    <data_root>/projects/<group>      shared by members, mode 2770, unix group per project
    <data_root>/global                everyone's; 0755 (read-only) or 1777 (writable)

The user's directory is the workspace root. Inside it the spawner keeps
``projects/<group>`` and ``global`` as symbolic links to the levels the user
is entitled to, and removes links to levels they no longer are: the file
browser then shows exactly the user's storage, at the same relative paths as
the volume mounts of a Kubernetes pod.

The hub may run as root while the user's directory is writable by the user,
so every operation inside it goes through directory file descriptors opened
with ``O_NOFOLLOW``: a user who replaces ``projects`` by a link to ``/etc``
gets an error, not a link in ``/etc``.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from mofang_spawner.errors import ConfigurationError
from mofang_spawner.planning import Mount, ServerPlan

__all__ = ["Owner", "prepare_workspace"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


@dataclass(frozen=True)
class Owner:
    """Who owns the user's files: a uid/gid, and the gid of each project group."""

    uid: int
    gid: int
    project_gids: dict[str, int]

    @property
    def enforced(self) -> bool:
        """Whether the operating system separates this user from the others."""
        return self.uid != os.geteuid()


def prepare_workspace(
    data_root: Path, plan: ServerPlan, owner: Owner | None, *, projects_dir: str = "projects"
) -> Path:
    """Create the plan's directories and links; return the workspace (user's directory).

    ``owner`` None means every server runs as the hub's own account (no
    operating-system isolation between users). ``projects_dir`` is the
    workspace folder holding the project links, synced even when empty so a
    user who left every group loses the links.
    """
    data_root.mkdir(mode=0o755, parents=True, exist_ok=True)
    data_root = data_root.resolve()
    for top in ("users", "projects"):
        _ensure_dir(data_root / top, 0o755)
    workspace = data_root / _mount(plan, "user").source
    _ensure_dir(
        workspace, 0o700, uid=owner.uid if owner else None, gid=owner.gid if owner else None
    )

    links: dict[str, Path] = {}
    for mount in plan.mounts:
        if mount.level == "project":
            target = data_root / mount.source
            gid = owner.project_gids.get(mount.group or "") if owner else None
            _ensure_dir(target, 0o2770, gid=gid)
            links[mount.path] = target
        elif mount.level == "global":
            target = data_root / mount.source
            # Read-only for users who are not its owner (root, or the hub's account).
            # Without OS isolation the bits still stop accidental writes.
            mode = 0o1777 if not mount.read_only else (0o755 if owner else 0o555)
            _ensure_dir(target, mode)
            links[mount.path] = target
    _sync_links(workspace, data_root, links, owner, {projects_dir})
    return workspace


def _mount(plan: ServerPlan, level: str) -> Mount:
    return next(m for m in plan.mounts if m.level == level)


def _ensure_dir(path: Path, mode: int, *, uid: int | None = None, gid: int | None = None) -> None:
    """Create ``path`` (not a symlink) with ``mode``; set owner and mode every time."""
    try:
        path.mkdir(mode=mode, exist_ok=True)
    except FileExistsError:
        raise ConfigurationError(f"{path} exists and is not a directory.") from None
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigurationError(f"{path} must be a directory, not a link or a file.")
    if uid is not None or gid is not None:
        os.chown(
            path,
            uid if uid is not None else -1,
            gid if gid is not None else -1,
            follow_symlinks=False,
        )
    os.chmod(path, mode, follow_symlinks=False)


def _sync_links(
    workspace: Path,
    data_root: Path,
    links: dict[str, Path],
    owner: Owner | None,
    link_dirs: set[str],
) -> None:
    """Make the workspace's managed links exactly ``links`` (path in workspace → target)."""
    managed_roots = {data_root / "projects", data_root / "global"}
    ws_fd = os.open(workspace, _DIR_FLAGS)
    try:
        by_parent: dict[str, dict[str, Path]] = {}
        for rel, target in links.items():
            parent, _, name = rel.rpartition("/")
            by_parent.setdefault(parent, {})[name] = target
        # Folders that hold links (``projects``) belong to the hub, so a user
        # cannot plant their own links where the spawner manages them.
        for parent in {p for p in by_parent if p} | link_dirs:
            _sync_dir(ws_fd, parent, by_parent.get(parent, {}), managed_roots, owner)
        _sync_entries(ws_fd, by_parent.get("", {}), managed_roots)
    finally:
        os.close(ws_fd)


def _sync_dir(
    ws_fd: int, name: str, wanted: dict[str, Path], managed: set[Path], owner: Owner | None
) -> None:
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o755, dir_fd=ws_fd)
    fd = os.open(name, _DIR_FLAGS, dir_fd=ws_fd)  # raises if a user made it a link
    try:
        if owner is not None and owner.enforced:
            os.fchown(fd, 0, 0)
        os.fchmod(fd, 0o755)
        _sync_entries(fd, wanted, managed, remove_unknown_links=True)
    finally:
        os.close(fd)


def _sync_entries(
    dir_fd: int, wanted: dict[str, Path], managed: set[Path], *, remove_unknown_links: bool = False
) -> None:
    for entry in os.listdir(dir_fd):
        try:
            info = os.stat(entry, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        if not stat.S_ISLNK(info.st_mode):
            continue
        target = Path(os.readlink(entry, dir_fd=dir_fd))
        ours = any(target == root or root in target.parents for root in managed)
        if (ours or remove_unknown_links) and wanted.get(entry) != target:
            os.unlink(entry, dir_fd=dir_fd)
    for entry, target in wanted.items():
        try:
            os.symlink(target, entry, dir_fd=dir_fd)
        except FileExistsError:
            info = os.stat(entry, dir_fd=dir_fd, follow_symlinks=False)
            if not stat.S_ISLNK(info.st_mode):
                # The user made a file or folder of that name: leave their data alone.
                continue
