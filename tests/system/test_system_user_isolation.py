"""system-user mode: the operating system enforces the storage levels.

Creates real system accounts and unix groups (so it needs root), lays out the
storage as MofangLocalSpawner does in that mode, and checks with processes
running as those accounts (``runuser``) what each can read and write.
"""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mofang_spawner.local.accounts import ensure_owner, unix_group_name
from mofang_spawner.local.storage import prepare_workspace
from mofang_spawner.planning import Choices, Policy, plan_server
from tests.policies import demo_policy

CAN_RUN = os.geteuid() == 0 and all(shutil.which(t) for t in ("useradd", "gpasswd", "runuser"))
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        not CAN_RUN,
        reason="needs root and useradd/gpasswd/runuser to create system accounts; "
        "tests/unit/test_local_storage.py covers the layout without them",
    ),
]


class World:
    def __init__(self) -> None:
        tag = secrets.token_hex(3)
        self.prefix = f"mft{tag}-"
        self.alice = f"mfta{tag}"
        self.bob = f"mftb{tag}"
        self.groups = [f"vision{tag}", f"nlp{tag}"]
        self.root = Path(tempfile.mkdtemp(prefix="mofang-sysuser-", dir="/tmp"))
        self.root.chmod(0o755)
        limits = {"cpu": 1, "memory_gib": 1}
        self.policy: Policy = demo_policy(
            groups=[{"name": g, "limits": limits} for g in self.groups]
        )

    def spawn_layout(self, user: str, groups: list[str]) -> Path:
        plan = plan_server(user, groups, Choices(), self.policy)
        owner = ensure_owner(plan, prefix=self.prefix, all_groups=self.groups, create_user=True)
        return prepare_workspace(self.root, plan, owner)

    def run_as(self, user: str, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["runuser", "-u", user, "--", *command], capture_output=True, text=True, check=False
        )

    def cleanup(self) -> None:
        for user in (self.alice, self.bob):
            subprocess.run(["userdel", "--remove", user], capture_output=True, check=False)
        for group in self.groups:
            name = unix_group_name(self.prefix, group)
            subprocess.run(["groupdel", name], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    w = World()
    try:
        w.spawn_layout(w.alice, [w.groups[0]])
        w.spawn_layout(w.bob, [w.groups[1]])
        yield w
    finally:
        w.cleanup()


def test_each_user_owns_their_directory(world: World) -> None:
    info = (world.root / "users" / world.alice).stat()
    assert info.st_uid == pwd.getpwnam(world.alice).pw_uid
    assert (
        world.run_as(world.alice, "touch", str(world.root / "users" / world.alice / "x")).returncode
        == 0
    )


def test_another_users_directory_cannot_be_read(world: World) -> None:
    result = world.run_as(world.bob, "ls", str(world.root / "users" / world.alice))
    assert result.returncode != 0
    assert "Permission denied" in result.stderr


def test_project_directory_is_shared_by_members_only(world: World) -> None:
    vision = world.root / "projects" / world.groups[0] / "notes.txt"
    assert world.run_as(world.alice, "touch", str(vision)).returncode == 0
    # setgid directory: new files belong to the project's unix group.
    assert (
        vision.stat().st_gid == grp.getgrnam(unix_group_name(world.prefix, world.groups[0])).gr_gid
    )
    denied = world.run_as(world.bob, "cat", str(vision))
    assert denied.returncode != 0
    assert "Permission denied" in denied.stderr


def test_global_is_readable_by_all_and_writable_by_none(world: World) -> None:
    target = world.root / "global" / "dataset.csv"
    target.write_text("a,b\n")
    assert world.run_as(world.bob, "cat", str(target)).stdout == "a,b\n"
    result = world.run_as(world.alice, "touch", str(world.root / "global" / "mine"))
    assert result.returncode != 0
    assert "Permission denied" in result.stderr


def test_the_workspace_links_show_only_the_users_levels(world: World) -> None:
    listing = world.run_as(world.alice, "ls", str(world.root / "users" / world.alice / "projects"))
    assert listing.stdout.split() == [world.groups[0]]


def test_leaving_a_group_takes_the_unix_group_away(world: World) -> None:
    name = unix_group_name(world.prefix, world.groups[1])
    assert world.bob in grp.getgrnam(name).gr_mem
    world.spawn_layout(world.bob, [])  # bob left nlp: he falls back to the default group
    assert world.bob not in grp.getgrnam(name).gr_mem
    denied = world.run_as(world.bob, "ls", str(world.root / "projects" / world.groups[1]))
    assert denied.returncode != 0
