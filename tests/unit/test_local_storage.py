"""prepare_workspace: directories, modes and links of the three storage levels."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mofang_spawner.errors import ConfigurationError
from mofang_spawner.local.storage import prepare_workspace
from mofang_spawner.planning import Choices, ServerPlan, plan_server
from tests.policies import demo_policy


def plan(user: str, groups: list[str]) -> ServerPlan:
    return plan_server(user, groups, Choices(), demo_policy())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_levels_are_created_with_their_modes_and_linked_into_the_workspace(tmp_path: Path) -> None:
    workspace = prepare_workspace(tmp_path, plan("carol", ["vision", "nlp"]), None)
    assert workspace == tmp_path / "users" / "carol"
    assert mode(workspace) == 0o700
    assert mode(tmp_path / "projects" / "vision") == 0o2770
    assert mode(tmp_path / "global") == 0o555  # read-only even for the hub's own account
    assert os.readlink(workspace / "projects" / "vision") == str(tmp_path / "projects" / "vision")
    assert os.readlink(workspace / "global") == str(tmp_path / "global")
    assert sorted(os.listdir(workspace / "projects")) == ["nlp", "vision"]


def test_other_groups_directories_are_not_linked(tmp_path: Path) -> None:
    prepare_workspace(tmp_path, plan("bob", ["nlp"]), None)
    workspace = prepare_workspace(tmp_path, plan("alice", ["vision"]), None)
    assert sorted(os.listdir(workspace / "projects")) == ["vision"]


def test_leaving_a_group_removes_its_link_but_keeps_the_users_files(tmp_path: Path) -> None:
    workspace = prepare_workspace(tmp_path, plan("carol", ["vision", "nlp"]), None)
    (workspace / "notes.txt").write_text("mine")
    (workspace / "projects" / "nlp" / "shared.txt").write_text("team")
    prepare_workspace(tmp_path, plan("carol", ["vision"]), None)
    assert sorted(os.listdir(workspace / "projects")) == ["vision"]
    assert (workspace / "notes.txt").read_text() == "mine"
    assert (tmp_path / "projects" / "nlp" / "shared.txt").read_text() == "team"


def test_writable_global_is_sticky_and_world_writable(tmp_path: Path) -> None:
    policy = demo_policy(storage={"global_read_only": False})
    prepare_workspace(tmp_path, plan_server("a", ["vision"], Choices(), policy), None)
    assert mode(tmp_path / "global") == 0o1777


def test_a_projects_link_planted_by_the_user_is_refused(tmp_path: Path) -> None:
    workspace = prepare_workspace(tmp_path, plan("alice", ["vision"]), None)
    target = tmp_path / "elsewhere"
    target.mkdir()
    (workspace / "projects" / "vision").unlink()
    (workspace / "projects").rmdir()
    (workspace / "projects").symlink_to(target)
    with pytest.raises(OSError, match=r"Too many levels of symbolic links|Not a directory"):
        prepare_workspace(tmp_path, plan("alice", ["vision"]), None)
    assert list(target.iterdir()) == []


def test_a_users_own_folder_named_global_is_left_alone(tmp_path: Path) -> None:
    workspace = tmp_path / "users" / "alice"
    (workspace / "global").mkdir(parents=True)
    (workspace / "global" / "data.csv").write_text("1,2")
    prepare_workspace(tmp_path, plan("alice", ["vision"]), None)
    assert (workspace / "global" / "data.csv").read_text() == "1,2"


def test_a_data_root_entry_that_is_a_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "users").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ConfigurationError, match="must be a directory"):
        prepare_workspace(tmp_path, plan("alice", ["vision"]), None)
