"""``POST /mofang/api/sweeps`` with an idempotency key: a retried request never starts twice.

The same key again (from the same owner) answers the first sweep with 200 and
starts nothing; the same key with another request is a conflict; two requests
racing with one key make one sweep. Keys belong to their owner.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.jobs.conftest import Fetch, TokenUsers, server_config
from tests.jobs.notebooks import write_notebook
from tests.sweeps.conftest import wait_sweep

ALICE = {"Authorization": "token alice-token"}
BOB = {"Authorization": "token bob-token"}

#: A trial that waits, so that a sweep is still running while the test looks at it.
WAITING = [("x = 0.5", ["parameters"]), "import time\ntime.sleep(30)\nprint(f'accuracy={x}')"]


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    config = server_config()
    config["ServerApp"]["identity_provider_class"] = TokenUsers
    return config


def body(key: str | None, **settings: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "notebook": "w.ipynb",
        "settings": {
            "parameters": [{"type": "double", "name": "x", "min": 0.0, "max": 1.0}],
            "objective": {"type": "maximize", "metric": "accuracy"},
            "parallel_trials": 1,
            "max_trials": 2,
            **settings,
        },
    }
    if key is not None:
        request["idempotency_key"] = key
    return request


async def post(jp_fetch: Fetch, request: dict[str, Any], headers: dict[str, str]) -> Any:
    """(status, body) of ``POST /mofang/api/sweeps``."""
    try:
        response = await jp_fetch(
            "mofang", "api", "sweeps", method="POST", body=json.dumps(request), headers=headers
        )
    except HTTPClientError as error:
        reply = error.response
        return error.code, json.loads(reply.body if reply is not None else b"null")
    return response.code, json.loads(response.body)


async def listed(jp_fetch: Fetch, what: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await jp_fetch("mofang", "api", what, headers=headers)
    items: list[dict[str, Any]] = json.loads(response.body)[what]
    return items


async def cancel_all(jp_fetch: Fetch, headers: dict[str, str]) -> None:
    for sweep in await listed(jp_fetch, "sweeps", headers):
        if sweep["state"] == "Running":
            path = ("mofang", "api", "sweeps", sweep["id"], "cancel")
            await jp_fetch(*path, method="POST", body="{}", headers=headers)


async def test_the_same_key_answers_the_first_sweep_and_starts_nothing(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    write_notebook(jp_root_dir / "w.ipynb", WAITING)
    code, first = await post(jp_fetch, body("retry-1"), ALICE)
    assert code == 201 and first["state"] == "Running"
    await asyncio.sleep(0.5)  # its first trial's job is submitted meanwhile
    code, again = await post(jp_fetch, body("retry-1"), ALICE)
    assert code == 200 and again["id"] == first["id"]
    assert [s["id"] for s in await listed(jp_fetch, "sweeps", ALICE)] == [first["id"]]
    # One trial, one job: the retry started no sweep and no trial.
    jobs = await listed(jp_fetch, "jobs", ALICE)
    assert [job["spec"]["idempotency_key"] for job in jobs] == [f"{first['id']}-0"]
    await cancel_all(jp_fetch, ALICE)
    # After the sweep ended, the key still names it.
    code, ended = await post(jp_fetch, body("retry-1"), ALICE)
    assert (code, ended["id"], ended["state"]) == (200, first["id"], "Cancelled")


async def test_the_same_key_with_another_request_is_a_conflict(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    write_notebook(jp_root_dir / "w.ipynb", WAITING)
    code, first = await post(jp_fetch, body("k"), ALICE)
    assert code == 201
    code, refused = await post(jp_fetch, body("k", max_trials=3), ALICE)
    assert code == 409
    assert first["id"] in refused["message"] and "use a new key" in refused["message"]
    assert len(await listed(jp_fetch, "sweeps", ALICE)) == 1
    # Without a key every request is a new sweep, as before.
    code, other = await post(jp_fetch, body(None), ALICE)
    assert code == 201 and other["id"] != first["id"]
    await cancel_all(jp_fetch, ALICE)


async def test_two_racing_requests_with_one_key_make_one_sweep(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    write_notebook(jp_root_dir / "w.ipynb", WAITING)
    results = await asyncio.gather(*(post(jp_fetch, body("race"), ALICE) for _ in range(2)))
    assert sorted(code for code, _sweep in results) == [200, 201]
    assert results[0][1]["id"] == results[1][1]["id"]
    sweeps = await listed(jp_fetch, "sweeps", ALICE)
    assert len(sweeps) == 1
    await cancel_all(jp_fetch, ALICE)
    ended = await wait_sweep(jp_fetch, sweeps[0]["id"], headers=ALICE)
    assert len(ended["trials"]) == 1  # one sweep ran its trials once


async def test_keys_belong_to_their_owner(jp_fetch: Fetch, jp_root_dir: Path) -> None:
    write_notebook(jp_root_dir / "w.ipynb", WAITING)
    alice_code, alices = await post(jp_fetch, body("same"), ALICE)
    bob_code, bobs = await post(jp_fetch, body("same"), BOB)
    assert (alice_code, bob_code) == (201, 201) and alices["id"] != bobs["id"]
    assert bobs["owner"] == "bob"
    await cancel_all(jp_fetch, ALICE)
    await cancel_all(jp_fetch, BOB)


@pytest.mark.parametrize("key", ["", 7, "k" * 201])
async def test_a_bad_key_is_refused_and_starts_nothing(
    jp_fetch: Fetch, jp_root_dir: Path, key: Any
) -> None:
    write_notebook(jp_root_dir / "w.ipynb", WAITING)
    request = body(None)
    request["idempotency_key"] = key
    code, refused = await post(jp_fetch, request, ALICE)
    assert code == 400 and "idempotency_key" in refused["message"]
    assert await listed(jp_fetch, "sweeps", ALICE) == []


async def test_a_dry_run_with_a_key_starts_nothing_and_keeps_the_key_free(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    write_notebook(jp_root_dir / "w.ipynb", WAITING)
    code, described = await post(jp_fetch, {**body("dry"), "dry_run": True}, ALICE)
    assert code == 200 and "program" in described
    assert await listed(jp_fetch, "sweeps", ALICE) == []
    code, created = await post(jp_fetch, body("dry"), ALICE)
    assert code == 201 and created["state"] == "Running"
    await cancel_all(jp_fetch, ALICE)
