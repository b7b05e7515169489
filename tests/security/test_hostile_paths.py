"""Hostile notebook paths: ``..``, absolute paths, symbolic links out of the user's files.

Every path a client names (the job's notebook, the sweep's notebook, the notebook
apply-best writes) goes through :func:`mofang_lab.jobs.submission.resolve_notebook`,
which follows links before it checks. Hand-picked paths go through the REST API
(and must create nothing and write nothing); hypothesis then builds paths from
the pieces that make traversals and checks the one rule: a path is accepted only
if it really is a notebook inside the user's files.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mofang_lab.jobs.submission import resolve_notebook
from mofang_spawner.errors import MofangError
from tests.jobs.conftest import Fetch, api
from tests.security.conftest import footprint, refusal, tally
from tests.security.notebooks import quick_sweep_notebook, sweep_request
from tests.security.users import auth
from tests.sweeps.conftest import wait_sweep

ALICE = auth("alice")


def files(root: Path) -> Path:
    """A user's files with a notebook, a folder, and links in and out; returns the outside."""
    outside = root.parent / "outside"
    quick_sweep_notebook(outside / "secret.ipynb")
    quick_sweep_notebook(root / "ok.ipynb")
    quick_sweep_notebook(root / "sub" / "ok.ipynb")
    (root / "notes.txt").write_text("not a notebook")
    links = {
        "link-out.ipynb": outside / "secret.ipynb",
        "dir-out": outside,
        "link-in.ipynb": root / "ok.ipynb",
        "dangling.ipynb": root / "nowhere.ipynb",
        "loop.ipynb": root / "loop.ipynb",
    }
    for name, target in links.items():
        if not (root / name).is_symlink():
            (root / name).symlink_to(target)
    return outside


def hostile_paths(root: Path, outside: Path) -> list[tuple[str, int]]:
    """(path, the status it must get) for paths that must not be accepted."""
    return [
        ("../outside/secret.ipynb", 403),
        ("sub/../../outside/secret.ipynb", 403),
        (str(outside / "secret.ipynb"), 403),
        ("/" + "../" * 30 + str(outside / "secret.ipynb"), 403),
        ("link-out.ipynb", 403),
        ("dir-out/secret.ipynb", 403),
        ("sub/../dir-out/secret.ipynb", 403),
        ("/etc/passwd", 403),
        ("/proc/self/environ", 403),
        ("..", 403),
        (".", 404),
        ("sub", 404),
        ("dangling.ipynb", 404),
        ("loop.ipynb", 400),
        ("notes.txt", 400),
        ("~/ok.ipynb", 404),
        ("%2e%2e/outside/secret.ipynb", 404),
        ("ok.ipynb\x00.txt", 400),
        ("\x00", 400),
        ("a" * 5000 + ".ipynb", 400),
        ("a/" * 3000 + "b.ipynb", 400),
        ("", 400),
    ]


async def test_hostile_notebook_paths_are_refused_and_change_nothing(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    outside = files(jp_root_dir)
    secret = (outside / "secret.ipynb").read_text()
    created = await api(
        jp_fetch, "sweeps", method="POST", body=sweep_request("ok.ipynb"), headers=ALICE
    )
    sweep = await wait_sweep(jp_fetch, created["id"], headers=ALICE)
    assert sweep["best"] is not None, sweep
    before = footprint(jp_root_dir)
    for path, expected in hostile_paths(jp_root_dir, outside):
        for route, body in (
            (("jobs",), {"notebook": path}),
            (("jobs",), {"notebook": path, "dry_run": True}),
            (("sweeps",), sweep_request(path)),
            (("sweeps", sweep["id"], "apply-best"), {"notebook": path}),
        ):
            code, answer = await refusal(jp_fetch, *route, method="POST", body=body, headers=ALICE)
            assert code == expected, (route, path, answer)
            assert answer["message"] and "Internal error" not in answer["message"]
            if code == 403:
                assert "only notebooks in your own files can be submitted" in answer["message"]
            tally("hostile input")
    assert footprint(jp_root_dir) == before
    assert (outside / "secret.ipynb").read_text() == secret
    assert sorted(p.name for p in outside.iterdir()) == ["secret.ipynb"]
    # A link that stays inside the user's files is as good as its target.
    job = await api(
        jp_fetch,
        "jobs",
        method="POST",
        body={"notebook": "link-in.ipynb", "dry_run": True},
        headers=ALICE,
    )
    assert job["spec"]["notebook"] == "ok.ipynb"


#: The pieces traversals are made of; joined with "/" in any order.
SEGMENTS = st.sampled_from(
    [
        "..",
        ".",
        "",
        "sub",
        "ok.ipynb",
        "link-out.ipynb",
        "dir-out",
        "link-in.ipynb",
        "secret.ipynb",
        "outside",
        "loop.ipynb",
        "dangling.ipynb",
        "~",
        "%2e%2e",
        "\x00",
        "notes.txt",
    ]
)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("paths") / "home"
    root.mkdir()
    return root, files(root)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(segments=st.lists(SEGMENTS, min_size=1, max_size=8), absolute=st.booleans())
def test_only_real_notebooks_inside_the_users_files_are_accepted(
    tree: tuple[Path, Path], segments: list[str], absolute: bool
) -> None:
    root, outside = tree
    path = "/".join(segments)
    if absolute:
        path = f"{root}/{path}"
    tally("hostile input")
    try:
        resolved, relative = resolve_notebook(path, root)
    except MofangError as refused:
        status, message = refused.status_code, refused.message
    else:
        status, message = 200, ""
    if status != 200:
        assert status in (400, 403, 404) and message
        return
    real_root = root.resolve()
    assert resolved.is_relative_to(real_root) and resolved.is_file()
    assert not resolved.is_relative_to(outside.resolve())
    assert resolved.suffix == ".ipynb" and (real_root / relative).resolve() == resolved
    assert os.path.realpath(resolved) == str(resolved)
