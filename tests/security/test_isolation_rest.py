"""Isolation through the REST API: another user's job or sweep is exactly like one that
does not exist. Several users share one server and one store here, the hard case.

For each of user A's objects, user B's list, get, logs, events, cancel, re-run and
apply-best are tried; every answer must be the 404 an unknown id gets, with the same
body (the id aside), and A's objects must be unchanged afterwards.
Every test runs on each job backend: on Kubernetes the server is Alice's (its plan),
and the others submit through it, as through a shared server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.jobs.conftest import Fetch, api
from tests.jobs.notebooks import role_notebook, write_notebook
from tests.security.conftest import answer_of, refusal, tally, wait_end, wait_state
from tests.security.notebooks import quick_sweep_notebook, sweep_request
from tests.security.users import auth
from tests.sweeps.conftest import wait_sweep

pytestmark = pytest.mark.every_backend

ALICE, BOB = auth("alice"), auth("bob")
#: Well-formed ids that no one has: the answer for someone else's id must look the same.
UNKNOWN_JOB, UNKNOWN_SWEEP = "never-made-q1w2e3", "never-swept-r4t5y6"


def same_shape(
    theirs: tuple[int, dict[str, Any]], unknown: tuple[int, dict[str, Any]], ids: tuple[str, str]
) -> None:
    """Another's object and an unknown id get the same status and body, the id aside."""
    (code, body), (code_unknown, body_unknown) = theirs, unknown
    assert code == code_unknown == 404, (theirs, unknown)
    strip = {k: str(v).replace(ids[0], "ID") for k, v in body.items()}
    strip_unknown = {k: str(v).replace(ids[1], "ID") for k, v in body_unknown.items()}
    assert strip == strip_unknown, (body, body_unknown)


async def stream_for(jp_fetch: Fetch, seconds: float, **kw: Any) -> str:
    """What an unfiltered event stream sends in ``seconds`` (it never ends by itself)."""
    chunks: list[bytes] = []
    with pytest.raises(HTTPClientError) as ended:
        await jp_fetch(
            "mofang",
            "api",
            "events",
            streaming_callback=chunks.append,
            request_timeout=seconds,
            **kw,
        )
    assert ended.value.code == 599, ended.value  # the client's own timeout, as intended
    return b"".join(chunks).decode()


async def test_another_users_jobs_are_invisible_and_untouchable(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    role_notebook(jp_root_dir / "a.ipynb", {})  # runs until cancelled
    job = await api(
        jp_fetch,
        "jobs",
        method="POST",
        body={"notebook": "a.ipynb", "idempotency_key": "alice-key"},
        headers=ALICE,
    )
    assert job["owner"] == "alice"
    job = await wait_state(jp_fetch, job["id"], "Running", headers=ALICE)
    attempts = [
        (("jobs", "{id}"), "GET", None, None),
        (("jobs", "{id}", "logs"), "GET", None, None),
        (("jobs", "{id}", "logs"), "GET", None, {"replica": "worker-0", "follow": "1"}),
        (("jobs", "{id}", "cancel"), "POST", {}, None),
        (("events",), "GET", None, {"job": "{id}"}),
        (("events",), "GET", None, {"job": "{id}", "since": "0"}),
    ]
    for parts, method, body, params in attempts:
        answers = []
        for target in (job["id"], UNKNOWN_JOB):
            answers.append(
                await refusal(
                    jp_fetch,
                    *(p.format(id=target) for p in parts),
                    method=method,
                    body=body,
                    headers=BOB,
                    params={k: v.format(id=target) for k, v in (params or {}).items()},
                )
            )
        same_shape(answers[0], answers[1], (job["id"], UNKNOWN_JOB))
        tally("isolation")
    assert (await api(jp_fetch, "jobs", headers=BOB))["jobs"] == []
    tally("isolation")

    # Re-running is submitting again: with Alice's key, Bob gets a job of his own.
    rerun = await api(
        jp_fetch,
        "jobs",
        method="POST",
        body={"notebook": "a.ipynb", "idempotency_key": "alice-key", "dry_run": False},
        headers=BOB,
    )
    assert rerun["owner"] == "bob" and rerun["id"] != job["id"]
    await api(jp_fetch, "jobs", rerun["id"], "cancel", method="POST", headers=BOB)
    tally("isolation")

    # Bob's unfiltered stream carries his events only, never Alice's.
    stream = await stream_for(jp_fetch, 1.5, headers=BOB, params={"since": "0"})
    assert rerun["id"] in stream and job["id"] not in stream
    tally("isolation")

    # Nothing Bob did reached Alice's job: it still runs, its events are hers alone.
    mine = await api(jp_fetch, "jobs", job["id"], headers=ALICE)
    assert mine["state"] == "Running" and mine["owner"] == "alice"
    assert [j["id"] for j in (await api(jp_fetch, "jobs", headers=ALICE))["jobs"]] == [job["id"]]
    cancelled = await api(jp_fetch, "jobs", job["id"], "cancel", method="POST", headers=ALICE)
    assert cancelled["state"] == "Cancelled"


async def test_another_users_sweeps_are_invisible_and_untouchable(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    quick_sweep_notebook(jp_root_dir / "tune.ipynb")
    created = await api(
        jp_fetch, "sweeps", method="POST", body=sweep_request("tune.ipynb"), headers=ALICE
    )
    sweep = await wait_sweep(jp_fetch, created["id"], headers=ALICE)
    assert sweep["state"] == "Succeeded" and sweep["best"] is not None, sweep
    write_notebook(jp_root_dir / "bobs.ipynb", [("lr = 0.5", ["parameters"])])
    bobs_before = (jp_root_dir / "bobs.ipynb").read_text()
    attempts = [
        (("sweeps", "{id}"), "GET", None),
        (("sweeps", "{id}", "cancel"), "POST", {}),
        (("sweeps", "{id}", "apply-best"), "POST", {"notebook": "bobs.ipynb"}),
        (("sweeps", "{id}", "apply-best"), "POST", {"notebook": "tune.ipynb"}),
    ]
    for parts, method, body in attempts:
        answers = [
            await refusal(
                jp_fetch,
                *(p.format(id=target) for p in parts),
                method=method,
                body=body,
                headers=BOB,
            )
            for target in (sweep["id"], UNKNOWN_SWEEP)
        ]
        same_shape(answers[0], answers[1], (sweep["id"], UNKNOWN_SWEEP))
        tally("isolation")
    assert (await api(jp_fetch, "sweeps", headers=BOB))["sweeps"] == []
    # The trials are Alice's jobs: Bob sees none of them either.
    trial_job = sweep["trials"][0]["job_id"]
    same_shape(
        await refusal(jp_fetch, "jobs", trial_job, headers=BOB),
        await refusal(jp_fetch, "jobs", UNKNOWN_JOB, headers=BOB),
        (trial_job, UNKNOWN_JOB),
    )
    assert (await api(jp_fetch, "jobs", headers=BOB))["jobs"] == []
    tally("isolation", 3)
    assert (jp_root_dir / "bobs.ipynb").read_text() == bobs_before
    after = await api(jp_fetch, "sweeps", sweep["id"], headers=ALICE)
    assert (after["state"], after["best"]) == (sweep["state"], sweep["best"])


async def test_owners_are_compared_exactly_not_by_case_or_punctuation(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    write_notebook(jp_root_dir / "n.ipynb", ["print('hi')"])
    users = ["alice", "Alice", "a.lice"]
    jobs = {}
    for user in users:
        jobs[user] = await api(
            jp_fetch,
            "jobs",
            method="POST",
            body={"notebook": "n.ipynb", "idempotency_key": "k"},
            headers=auth(user),
        )
    assert len({job["id"] for job in jobs.values()}) == 3
    for user in users:
        listed = (await api(jp_fetch, "jobs", headers=auth(user)))["jobs"]
        assert [j["id"] for j in listed] == [jobs[user]["id"]], user
        for other in users:
            if other != user:
                code, _ = await refusal(jp_fetch, "jobs", jobs[other]["id"], headers=auth(user))
                assert code == 404
                tally("isolation")


async def test_a_job_the_server_takes_from_any_user_is_followed_to_its_end(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    """Whoever of the server's users submits, a job it takes has a record that follows the job
    to its end (never "Created" while it runs and after it ended). A server that cannot follow
    some user's jobs must refuse them, creating nothing, instead of taking them."""
    write_notebook(jp_root_dir / "n.ipynb", ["print('hi')"])
    for user in ("alice", "bob", "Alice"):
        try:
            job = await api(
                jp_fetch, "jobs", method="POST", body={"notebook": "n.ipynb"}, headers=auth(user)
            )
        except HTTPClientError as error:
            code, body = answer_of(error)
            assert code == 403 and body["message"], (user, code, body)
            assert (await api(jp_fetch, "jobs", headers=auth(user)))["jobs"] == [], user
        else:
            ended = await wait_end(jp_fetch, job["id"], 30, headers=auth(user))
            assert ended["state"] == "Succeeded", (user, ended)
        tally("isolation")
