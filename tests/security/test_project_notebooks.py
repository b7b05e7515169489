"""Notebooks in a project area of the local spawner: submittable, and nothing else is.

The local spawner shows each of the user's project areas (and the global area)
as a link in the user's files, to the area's real directory under the storage
root. A notebook there is the user's to submit, under the path they see
(``projects/<group>/...``, whichever way it was named); a link the user
makes themselves to an area of a group they are not in, or a path that only
passes through an area, is still outside their files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mofang_lab.jobs.submission import resolve_notebook, shared_areas
from mofang_spawner.errors import PolicyError
from mofang_spawner.local.storage import prepare_workspace
from mofang_spawner.planning import PLAN_ENV, Choices, ServerPlan, plan_server
from tests.jobs.conftest import Fetch, api, log_of, wait_finished
from tests.jobs.notebooks import write_notebook
from tests.policies import demo_policy
from tests.security.conftest import refusal, tally
from tests.security.notebooks import quick_sweep_notebook, sweep_request
from tests.security.users import auth
from tests.sweeps.conftest import wait_sweep

ALICE = auth("alice")


def plan(user: str, groups: list[str]) -> ServerPlan:
    return plan_server(user, groups, Choices(), demo_policy())


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    """A storage root with carol (vision, nlp), alice (vision) and bob (nlp)."""
    for user, groups in (("carol", ["vision", "nlp"]), ("bob", ["nlp"]), ("alice", ["vision"])):
        prepare_workspace(tmp_path / "data", plan(user, groups), None)
    data = (tmp_path / "data").resolve()
    write_notebook(data / "projects" / "vision" / "train.ipynb", ["print('vision')"])
    write_notebook(data / "projects" / "nlp" / "secret.ipynb", ["print('nlp')"])
    write_notebook(data / "users" / "bob" / "mine.ipynb", ["print('bob')"])
    write_notebook(data / "global" / "shared.ipynb", ["print('global')"])
    return data


def test_a_notebook_in_a_project_area_is_submitted_under_the_path_the_user_sees(
    storage: Path,
) -> None:
    alice = storage / "users" / "alice"
    alice_plan = plan("alice", ["vision"])
    assert shared_areas(alice_plan, alice) == {
        Path("projects/vision"): storage / "projects" / "vision",
        Path("global"): storage / "global",
    }
    (storage / "projects" / "vision" / "deep").mkdir()
    (storage / "projects" / "vision" / "deep" / "in.ipynb").symlink_to("../train.ipynb")
    for path in (
        "projects/vision/train.ipynb",
        str(alice / "projects/vision/train.ipynb"),
        str(storage / "projects" / "vision" / "train.ipynb"),  # the real path
        "projects/vision/deep/../train.ipynb",
        "projects/vision/deep/in.ipynb",  # a link that stays in the area
    ):
        real, relative = resolve_notebook(path, alice, plan=alice_plan)
        assert (real, relative) == (
            storage / "projects/vision/train.ipynb",
            "projects/vision/train.ipynb",
        )
    assert resolve_notebook("global/shared.ipynb", alice, plan=alice_plan)[1] == (
        "global/shared.ipynb"
    )
    # Without a plan (a server no Mofang spawner started) there are no areas.
    with pytest.raises(PolicyError, match="outside your files"):
        resolve_notebook("projects/vision/train.ipynb", alice)


def test_links_and_paths_that_leave_the_users_areas_are_still_refused(storage: Path) -> None:
    alice = storage / "users" / "alice"
    alice_plan = plan("alice", ["vision"])
    area = storage / "projects" / "vision"
    # Where the servers run as the hub's account, a user can make links anywhere
    # in their files, and even replace the spawner's own.
    (alice / "nlp").symlink_to(storage / "projects" / "nlp")
    (area / "to-bob").symlink_to(storage / "users" / "bob")
    (alice / "projects" / "nlp").symlink_to(storage / "projects" / "nlp")
    hostile = [
        "nlp/secret.ipynb",  # a group alice is not in, through her own link
        "projects/nlp/secret.ipynb",  # ... through a link where the spawner's would be
        "projects/vision/to-bob/mine.ipynb",  # a link inside the area, out of it
        "projects/vision/../nlp/secret.ipynb",  # through an area into another
        "projects/vision/../../users/bob/mine.ipynb",  # through an area into a user's files
        "projects/vision/../../../users/bob/mine.ipynb",
        str(storage / "users" / "bob" / "mine.ipynb"),
    ]
    for path in hostile:
        with pytest.raises(PolicyError, match="outside your files"):
            resolve_notebook(path, alice, plan=alice_plan)
        tally("entitlements")
    # The spawner's link replaced by one to another user's files.
    (alice / "projects" / "vision").unlink()
    (alice / "projects" / "vision").symlink_to(storage / "users" / "bob")
    with pytest.raises(PolicyError, match="outside your files"):
        resolve_notebook("projects/vision/mine.ipynb", alice, plan=alice_plan)
    tally("entitlements")


@pytest.fixture
def jp_root_dir(storage: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The server serves alice's files under the storage root, with her plan."""
    monkeypatch.setenv(PLAN_ENV, plan("alice", ["vision"]).to_json())
    return storage / "users" / "alice"


async def test_a_project_notebook_runs_as_a_job_that_imports_from_its_folder(
    jp_fetch: Fetch, jp_root_dir: Path, storage: Path
) -> None:
    area = storage / "projects" / "vision"
    (area / "helpers.py").write_text("WHERE = 'the project folder'\n")
    write_notebook(area / "train.ipynb", ["import helpers\nprint('found', helpers.WHERE)"])
    created = await api(
        jp_fetch,
        "jobs",
        method="POST",
        body={"notebook": "projects/vision/train.ipynb"},
        headers=ALICE,
    )
    assert created["spec"]["notebook"] == "projects/vision/train.ipynb"
    job = await wait_finished(jp_fetch, created["id"], headers=ALICE)
    log = log_of(jp_root_dir, job, job["replicas"][0]["name"])
    assert job["state"] == "Succeeded", log
    assert "found the project folder" in log
    # The job's folder is in alice's own files, not in the shared area.
    assert (jp_root_dir / job["folder"]).is_dir()
    assert not (area / "jobs").exists()

    before = sorted(p.name for p in (jp_root_dir / "jobs").iterdir())
    shutil.copy(area / "train.ipynb", storage / "projects" / "nlp" / "train.ipynb")
    (jp_root_dir / "projects" / "nlp").symlink_to(storage / "projects" / "nlp")
    code, answer = await refusal(
        jp_fetch,
        "jobs",
        method="POST",
        body={"notebook": "projects/nlp/train.ipynb"},
        headers=ALICE,
    )
    assert code == 403, answer
    assert "outside your files" in answer["message"]
    assert sorted(p.name for p in (jp_root_dir / "jobs").iterdir()) == before
    tally("entitlements")


async def test_best_values_go_to_a_project_notebook_but_never_into_the_read_only_area(
    jp_fetch: Fetch, jp_root_dir: Path, storage: Path
) -> None:
    quick_sweep_notebook(storage / "projects" / "vision" / "tune.ipynb")
    quick_sweep_notebook(storage / "global" / "tune.ipynb")
    read_only = (storage / "global" / "tune.ipynb").read_text()
    created = await api(
        jp_fetch,
        "sweeps",
        method="POST",
        body=sweep_request("projects/vision/tune.ipynb"),
        headers=ALICE,
    )
    sweep = await wait_sweep(jp_fetch, created["id"], headers=ALICE)
    assert sweep["best"] is not None, sweep
    applied = await api(
        jp_fetch,
        "sweeps",
        sweep["id"],
        "apply-best",
        method="POST",
        body={"notebook": "projects/vision/tune.ipynb"},
        headers=ALICE,
    )
    assert applied["notebook"] == "projects/vision/tune.ipynb"
    code, answer = await refusal(
        jp_fetch,
        "sweeps",
        sweep["id"],
        "apply-best",
        method="POST",
        body={"notebook": "global/tune.ipynb"},
        headers=ALICE,
    )
    assert code == 403, answer
    assert "'global', which is read-only" in answer["message"]
    assert (storage / "global" / "tune.ipynb").read_text() == read_only
    tally("entitlements")
