"""Entitlements of a spawn: the spawn form and the hub's REST ``user_options`` get no more
than the policy gives, and a refused spawn creates nothing.

The form is checked through the spawner's own ``options_from_form`` (the code the
hub calls with the POSTed form); the REST API through a real JupyterHub with the
demo catalog and ``over_limit = "refuse"``. Group quotas (what a whole group holds
at once) are counted on Kubernetes only: tests/kubernetes/test_kube_quota.py.
"""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from jupyterhub.spawner import SpawnException
from traitlets.config import Config

from mofang_spawner.local import MofangLocalSpawner
from mofang_spawner.local.storage import prepare_workspace
from mofang_spawner.planning import Choices, plan_server
from tests.e2e.hub import Hub, running_hub
from tests.policies import demo_catalog, demo_policy
from tests.security.conftest import tally

GROUPS = {"alice": ["vision"], "bob": ["nlp"], "admin": []}
KNOWN = "cpu, disk_gib, gpu_type, gpus, group, memory_gib, template"

#: (user, options, HTTP status, words that say what is allowed) in refuse mode.
REFUSALS: list[tuple[str, dict[str, Any], int, str]] = [
    (
        "bob",
        {"group": "vision"},
        403,
        "You are not a member of group 'vision'. Your groups: 'nlp'.",
    ),
    (
        "bob",
        {"template": "tensorflow"},
        403,
        "Environment 'tensorflow' is not available to group 'NLP team'. Choose one of: 'python', "
        "'pytorch'.",
    ),
    ("admin", {"template": "pytorch"}, 403, "Choose one of: 'python'."),
    (
        "bob",
        {"template": "pytorch", "gpus": "1"},
        403,
        "(group 'NLP team' has no GPUs): choose at most 0 GPUs.",
    ),
    (
        "alice",
        {"template": "pytorch", "gpus": "3"},
        403,
        "GPUs: 3 GPUs is more than group 'Vision team' with the 'PyTorch' environment allows: "
        "choose at most 2 GPUs.",
    ),
    ("alice", {"template": "pytorch", "cpu": "6.5"}, 403, "choose at most 6 cores."),
    ("alice", {"template": "python", "memory_gib": "17"}, 403, "choose at most 16 GiB."),
    (
        "alice",
        {"template": "pytorch", "gpus": "1", "gpu_type": "h100"},
        403,
        "Unknown GPU type 'h100'. Known GPU types: 'local-gpu'.",
    ),
    ("alice", {"image": "docker.io/evil/miner:latest"}, 400, KNOWN),
    ("alice", {"queue": "nlp"}, 400, KNOWN),
    ("alice", {"node_selector": "mofang.io/pool=nlp"}, 400, KNOWN),
    ("alice", {"volumes": "/:/host"}, 400, KNOWN),
    ("alice", {"host_path": "/etc"}, 400, KNOWN),
    ("alice", {"mounts": "projects/nlp"}, 400, KNOWN),
    ("alice", {"global_read_only": "false"}, 400, KNOWN),
]
IDS = [f"{user}-{'-'.join(options)}" for user, options, _, _ in REFUSALS]


def spawner(user: str) -> MofangLocalSpawner:
    catalog = demo_catalog()
    config = Config()
    config.MofangPolicy.templates = catalog.TEMPLATES
    config.MofangPolicy.groups = catalog.GROUPS
    config.MofangPolicy.gpu_types = catalog.GPU_TYPES
    config.MofangPolicy.default_group = catalog.DEFAULT_GROUP
    config.MofangPolicy.over_limit = "refuse"
    groups = [SimpleNamespace(name=name) for name in GROUPS[user]]
    hub_user = SimpleNamespace(name=user, groups=groups, url=f"/user/{user}/", escaped_name=user)
    return MofangLocalSpawner(user=hub_user, config=config)


@pytest.mark.parametrize(("user", "options", "status", "words"), REFUSALS, ids=IDS)
def test_the_spawn_form_refuses_what_the_policy_does_not_give(
    user: str, options: dict[str, Any], status: int, words: str
) -> None:
    formdata = {key: [str(value)] for key, value in options.items()}
    formdata["_xsrf"] = ["token"]  # what the hub's page adds: not refused
    with pytest.raises(SpawnException) as refused:
        spawner(user).options_from_form(formdata)
    assert refused.value.status_code == status
    message = str(refused.value)
    assert words in message if status == 403 else "Unknown form field(s)" in message, message
    if status == 400:
        assert f"The form's fields are: {KNOWN}." in message
    tally("entitlements")


def test_the_spawn_form_passes_what_the_policy_gives() -> None:
    options = {"template": ["pytorch"], "gpus": ["2"], "cpu": ["6"], "_xsrf": ["t"]}
    assert spawner("alice").options_from_form(options) == {
        "template": "pytorch",
        "gpus": "2",
        "cpu": "6",
    }


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with running_hub(tmp_path_factory.mktemp("hub"), MOFANG_TEST_OVER_LIMIT="refuse") as running:
        yield running


def processes_under(path: Path) -> list[int]:
    """Processes whose working directory is in ``path``: a local server runs in its workspace."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(proc / "cwd"))
        except OSError:
            continue
        if cwd == path or path in cwd.parents:
            found.append(int(proc.name))
    return found


@pytest.mark.e2e
def test_the_hub_refuses_user_options_the_policy_does_not_give(hub: Hub) -> None:
    for user, options, status, words in REFUSALS:
        response = hub.api("POST", f"/users/{user}/server", as_user=user, json=options)
        assert response.status_code == status, (options, response.text)
        message = response.json()["message"]
        assert words in message, (options, message)
        if status == 400:
            assert message.startswith("Unknown server option(s): ")
        model = hub.api("GET", f"/users/{user}").json()
        assert (model["servers"], model["pending"]) == ({}, None), (options, model)
        tally("entitlements")
    # Nothing was created: no user directory, no project directory, no server process.
    users = hub.data_root / "users"
    assert not users.exists() or list(users.iterdir()) == []
    projects = hub.data_root / "projects"
    assert not projects.exists() or list(projects.iterdir()) == []
    assert processes_under(hub.data_root) == []


@pytest.mark.e2e
def test_a_hand_made_form_with_an_image_field_is_refused_by_the_hub(hub: Hub) -> None:
    import requests

    session = requests.Session()
    session.get(f"{hub.url}/hub/login", timeout=30)
    session.post(
        f"{hub.url}/hub/login",
        data={"username": "bob", "password": "mofang", "_xsrf": session.cookies.get("_xsrf")},
        timeout=30,
    )
    refused = session.post(
        f"{hub.url}/hub/spawn",
        data={
            "template": "python",
            "image": "docker.io/evil/miner:latest",
            "_xsrf": session.cookies.get("_xsrf"),
        },
        timeout=30,
    )
    assert refused.status_code == 400, refused.text[-2000:]
    assert "Unknown form field(s): image." in refused.text
    assert hub.api("GET", "/users/bob").json()["servers"] == {}
    assert not (hub.data_root / "users" / "bob").exists()
    tally("entitlements")


def _write_as(uid: int | None, directory: Path) -> subprocess.CompletedProcess[str]:
    """Try to create a file in ``directory``, as ``uid`` (None: as this process's user)."""
    # A shell, not this Python: an unprivileged account may not reach the virtualenv.
    return subprocess.run(
        ["/bin/sh", "-c", 'echo x > "$1"', "sh", str(directory / "planted.txt")],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
        user=uid,
    )


def test_the_global_area_is_read_only_for_a_users_server() -> None:
    """In hub-user mode servers run as the hub's account; the global area is mode 0555.

    The write is tried as an unprivileged account: as ``nobody`` when the tests
    run as root (root ignores mode bits, and no server runs as root), else as
    the tests' own user.
    """
    plan = plan_server("alice", ["vision"], Choices(), demo_policy())
    assert next(m for m in plan.mounts if m.level == "global").read_only
    base = Path(tempfile.mkdtemp(prefix="mofang-global-"))  # not under pytest's 0700 tree
    try:
        base.chmod(0o755)
        workspace = prepare_workspace(base / "data", plan, None)
        global_dir = base / "data" / "global"
        assert stat.S_IMODE(global_dir.stat().st_mode) == 0o555
        assert (workspace / "global").resolve() == global_dir
        result = _write_as(65534 if os.geteuid() == 0 else None, workspace / "global")
        assert result.returncode != 0 and "Permission denied" in result.stderr, result
        assert not (global_dir / "planted.txt").exists()
        tally("entitlements")
    finally:
        for path in base.rglob("*"):
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        subprocess.run(["rm", "-rf", str(base)], check=True)
