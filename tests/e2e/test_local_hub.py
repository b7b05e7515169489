"""End to end: a real JupyterHub with MofangLocalSpawner, real proxy, real JupyterLab servers."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.hub import Hub, running_hub

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with running_hub(tmp_path_factory.mktemp("hub")) as running:
        yield running


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_spawn_with_form_choices_gives_the_groups_storage_and_plan(hub: Hub) -> None:
    options = {"template": "pytorch", "cpu": "99", "memory_gib": "8", "gpus": "1"}
    response, events = hub.spawn("alice", options)
    assert response.status_code in (201, 202), response.text
    messages = [e.get("message", "") for e in events]
    assert any("CPU lowered from 99 to 6 cores" in m for m in messages), messages
    assert events[-1].get("ready"), events
    hub.wait_ready("alice")

    # JupyterLab answers through the hub's proxy.
    lab = hub.server_get("alice", "lab")
    assert lab.status_code == 200
    assert "JupyterLab" in lab.text

    # The plan, as the server extension reports it.
    environment = hub.server_get("alice", "mofang/api/environment")
    assert environment.status_code == 200, environment.text
    plan = environment.json()
    assert plan["template"]["name"] == "pytorch"
    assert plan["group"]["name"] == "vision"
    assert plan["resources"] == {"cpu": 6.0, "memory_gib": 8.0, "gpus": 1, "disk_gib": 20.0}
    assert plan["gpu"]["count"] == 1
    assert [m["level"] for m in plan["mounts"]] == ["user", "project", "global"]
    assert plan["corrections"] and "CPU lowered" in plan["corrections"][0]

    # Storage on disk: the user's, group vision's and the global directory, with their modes.
    data = hub.data_root
    assert mode(data / "users" / "alice") == 0o700
    assert mode(data / "projects" / "vision") == 0o2770
    assert mode(data / "global") == 0o555
    workspace = data / "users" / "alice"
    assert sorted(os.listdir(workspace / "projects")) == ["vision"]
    assert not (data / "projects" / "nlp").exists()

    # ... and as the file browser sees them.
    root = hub.server_get("alice", "api/contents").json()
    assert {c["name"] for c in root["content"]} >= {"projects", "global"}
    projects = hub.server_get("alice", "api/contents/projects").json()
    assert [c["name"] for c in projects["content"]] == ["vision"]
    assert hub.server_get("alice", "api/contents/projects/nlp").status_code == 404

    # The GPU the plan gave reaches the process environment.
    assert any(e.get("message", "").startswith("Starting 'PyTorch'") for e in events)


def test_second_request_for_a_group_not_yours_is_refused_and_starts_nothing(hub: Hub) -> None:
    hub.stop_server("alice")
    response = hub.api("POST", "/users/alice/server", as_user="alice", json={"group": "nlp"})
    assert response.status_code == 403, response.text
    assert "not a member of group 'nlp'" in response.json()["message"]
    model = hub.api("GET", "/users/alice").json()
    assert model["servers"] == {}
    assert model["pending"] is None
    assert not (hub.data_root / "projects" / "nlp").exists()


@pytest.mark.parametrize(
    ("options", "status", "message"),
    [
        ({"template": "jax"}, 403, "Unknown environment 'jax'"),
        ({"cpu": -2}, 400, "CPU must be more than 0"),
        ({"cpu": "lots"}, 400, "CPU must be a number"),
        ({"image": "evil/image"}, 400, "Unknown server option(s): image"),
        ({"gpu_type": "h100", "gpus": 1, "template": "pytorch"}, 403, "Unknown GPU type 'h100'"),
    ],
)
def test_bad_rest_options_are_refused_with_a_message(
    hub: Hub, options: dict[str, object], status: int, message: str
) -> None:
    response = hub.api("POST", "/users/bob/server", as_user="bob", json=options)
    assert response.status_code == status, response.text
    assert message in response.json()["message"]
    assert hub.api("GET", "/users/bob").json()["servers"] == {}


def test_spawn_form_is_served_with_only_the_users_groups(hub: Hub) -> None:
    response = hub.api("GET", "/users/carol", as_user="carol")
    assert response.status_code == 200
    # The form page itself needs a browser login; render it through the hub's spawn page.
    import requests

    session = requests.Session()
    login = session.get(f"{hub.url}/hub/login")
    xsrf = session.cookies.get("_xsrf")
    session.post(
        f"{hub.url}/hub/login",
        data={"username": "bob", "password": "mofang", "_xsrf": xsrf},
        timeout=30,
    )
    assert login.status_code == 200
    page = session.get(f"{hub.url}/hub/spawn", timeout=30)
    assert page.status_code == 200
    assert 'value="nlp"' in page.text and 'value="vision"' not in page.text

    # A hand-crafted form POST naming a group bob is not in: the form again, with the reason.
    refused = session.post(
        f"{hub.url}/hub/spawn",
        data={"group": "vision", "template": "python", "_xsrf": session.cookies.get("_xsrf")},
        timeout=30,
    )
    assert refused.status_code == 403
    assert "not a member of group &#39;vision&#39;" in refused.text or (
        "not a member of group 'vision'" in refused.text
    )
    assert hub.api("GET", "/users/bob").json()["servers"] == {}


def test_a_user_with_an_odd_name_gets_a_safe_private_directory(hub: Hub) -> None:
    from urllib.parse import quote

    from mofang_spawner.planning import safe_name

    name = "zoë.o'neil"
    assert hub.api("POST", f"/users/{quote(name)}").status_code == 201
    added = hub.api("POST", "/groups/vision/users", json={"users": [name]})
    assert added.status_code == 200, added.text
    response, _ = hub.spawn(quote(name), {"template": "python"})
    assert response.status_code in (201, 202), response.text
    hub.wait_ready(quote(name))
    user_dir = hub.data_root / "users" / safe_name(name)
    assert user_dir.name.startswith("zoe-o-neil-")
    assert mode(user_dir) == 0o700
    plan = hub.server_get(quote(name), "mofang/api/environment").json()
    assert plan["user"] == name
    assert plan["mounts"][1]["path"] == "projects/vision"
    hub.stop_server(quote(name))
