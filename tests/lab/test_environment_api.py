"""GET /mofang/api/environment through a real jupyter-server with the extension loaded."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from mofang_spawner.planning import PLAN_ENV, Choices, plan_server
from tests.policies import demo_policy


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"mofang_lab": True}}}


@pytest.fixture
def plan_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    plan = plan_server(
        "carol", ["vision", "nlp"], Choices(template="pytorch", cpu=50), demo_policy()
    )
    monkeypatch.setenv(PLAN_ENV, plan.to_json())
    return plan.summary()


async def test_environment_returns_the_plan(jp_fetch: Any, plan_env: dict[str, Any]) -> None:
    response = await jp_fetch("mofang", "api", "environment")
    assert response.code == 200
    body = json.loads(response.body)
    assert body == plan_env
    assert body["user"] == "carol"
    assert [m["path"] for m in body["mounts"]] == ["", "projects/vision", "projects/nlp", "global"]
    assert body["corrections"][0].startswith("CPU lowered from 50 to 6 cores")


async def test_without_a_plan_the_answer_is_404_with_a_message(
    jp_fetch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PLAN_ENV, raising=False)
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("mofang", "api", "environment")
    assert info.value.code == 404
    assert info.value.response is not None
    assert "not started by a Mofang spawner" in json.loads(info.value.response.body)["message"]


async def test_a_corrupt_plan_is_a_clear_500(
    jp_fetch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PLAN_ENV, "{not json")
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("mofang", "api", "environment")
    assert info.value.code == 500
    assert info.value.response is not None
    assert "restart the server from the hub" in json.loads(info.value.response.body)["message"]


async def test_an_unauthenticated_request_is_refused(
    jp_fetch: Any, plan_env: dict[str, Any]
) -> None:
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("mofang", "api", "environment", headers={"Authorization": ""})
    assert info.value.code == 403


async def test_a_wrong_token_is_refused(jp_fetch: Any, plan_env: dict[str, Any]) -> None:
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("mofang", "api", "environment", headers={"Authorization": "token wrong"})
    assert info.value.code == 403
