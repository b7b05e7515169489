"""System accounts and unix groups for the ``system-user`` mode of the local spawner.

Each hub user runs as the system user of the same name; each project group
the user belongs to is a unix group (``<prefix><escaped group>``) that owns
the group's directory. Membership is synced on every spawn, so leaving a
JupyterHub group also takes away the operating-system access. Only called
when the hub runs as root; commands get argument lists, never a shell.
"""

from __future__ import annotations

import grp
import pwd
import subprocess

from mofang_spawner.errors import ConfigurationError, PolicyError
from mofang_spawner.local.storage import Owner
from mofang_spawner.planning import ServerPlan, safe_name

__all__ = ["ensure_owner", "unix_group_name"]


def unix_group_name(prefix: str, group: str) -> str:
    # Unix group names are at most 32 characters on most systems.
    return (prefix + safe_name(group))[:32]


def ensure_owner(
    plan: ServerPlan, *, prefix: str, all_groups: list[str], create_user: bool
) -> Owner:
    """The Owner for ``plan.user``: its uid/gid and synced project unix groups."""
    try:
        account = pwd.getpwnam(plan.user)
    except KeyError:
        if not create_user:
            raise PolicyError(
                f"There is no system account '{plan.user}' on this machine. "
                "Ask an administrator to create it."
            ) from None
        _run(["useradd", "--create-home", "--user-group", "--", plan.user])
        account = pwd.getpwnam(plan.user)
    wanted = {m.group for m in plan.mounts if m.level == "project" and m.group is not None}
    gids: dict[str, int] = {}
    for group in all_groups:
        name = unix_group_name(prefix, group)
        members = _members(name)
        if group in wanted:
            gids[group] = _ensure_group(name)
            if plan.user not in members:
                _run(["gpasswd", "--add", plan.user, name])
        elif plan.user in members:
            _run(["gpasswd", "--delete", plan.user, name])
    return Owner(uid=account.pw_uid, gid=account.pw_gid, project_gids=gids)


def _ensure_group(name: str) -> int:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        _run(["groupadd", "--", name])
        return grp.getgrnam(name).gr_gid


def _members(name: str) -> list[str]:
    try:
        return list(grp.getgrnam(name).gr_mem)
    except KeyError:
        return []


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ConfigurationError(
            f"'{' '.join(command)}' failed ({result.returncode}): {result.stderr.strip()}"
        )
