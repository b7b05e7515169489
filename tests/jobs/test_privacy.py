"""A user sees and controls only their own jobs; another's answers 404, as if it did not exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.jobs.conftest import Fetch, TokenUsers, api, server_config
from tests.jobs.notebooks import role_notebook

ALICE = {"Authorization": "token alice-token"}
BOB = {"Authorization": "token bob-token"}


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    config = server_config()
    config["ServerApp"]["identity_provider_class"] = TokenUsers
    return config


async def test_another_users_job_is_invisible_and_cannot_be_cancelled(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    role_notebook(jp_root_dir / "a.ipynb", {})
    job = await api(jp_fetch, "jobs", method="POST", body={"notebook": "a.ipynb"}, headers=ALICE)
    assert job["owner"] == "alice"
    assert (await api(jp_fetch, "jobs", headers=BOB))["jobs"] == []
    for parts, method in [
        (("jobs", job["id"]), "GET"),
        (("jobs", job["id"], "cancel"), "POST"),
        (("jobs", job["id"], "logs"), "GET"),
        (("events",), "GET"),
    ]:
        params = {"job": job["id"]} if parts == ("events",) else None
        with pytest.raises(HTTPClientError) as info:
            await api(jp_fetch, *parts, method=method, headers=BOB, params=params)
        assert info.value.code == 404, parts
    assert (await api(jp_fetch, "jobs", job["id"], headers=ALICE))["state"] == "Running"
    # Bob's stream of events carries none of Alice's.
    mine = await api(jp_fetch, "jobs", job["id"], "cancel", method="POST", headers=ALICE)
    assert mine["state"] == "Cancelled"
    role_notebook(jp_root_dir / "b.ipynb", {"Worker": "exit0"})
    bobs = await api(jp_fetch, "jobs", method="POST", body={"notebook": "b.ipynb"}, headers=BOB)
    stream = await jp_fetch("mofang", "api", "events", params={"job": bobs["id"]}, headers=BOB)
    assert job["id"] not in stream.body.decode()
    assert [j["id"] for j in (await api(jp_fetch, "jobs", headers=BOB))["jobs"]] == [bobs["id"]]
    assert [j["id"] for j in (await api(jp_fetch, "jobs", headers=ALICE))["jobs"]] == [job["id"]]


async def test_the_same_idempotency_key_of_two_users_makes_two_jobs(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    role_notebook(jp_root_dir / "a.ipynb", {"Worker": "exit0"})
    body = {"notebook": "a.ipynb", "idempotency_key": "same"}
    alices = await api(jp_fetch, "jobs", method="POST", body=body, headers=ALICE)
    bobs = await api(jp_fetch, "jobs", method="POST", body=body, headers=BOB)
    assert alices["id"] != bobs["id"]
