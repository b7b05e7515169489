"""Load: 50 submissions at once and a list of 1,000 jobs, with zero errors (local backend).

The 50 jobs are python jobs of a one-line notebook, each a real process; the
1,000 listed jobs are written through the job store, as a long-lived server
accumulates them, beside another user's 200 that must not appear. The times
are printed (``-s``) and bounded generously: this is a check for errors and
for quadratic surprises, not a benchmark.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tornado.httpclient import HTTPClientError

from mofang_lab.backends.base import JobRecord, ReplicaStatus
from mofang_lab.backends.store import JobStore
from mofang_lab.jobs.spec import JobSpec
from mofang_lab.jobs.states import JobState, ReplicaState
from tests.jobs.conftest import Fetch, api
from tests.security.conftest import tally
from tests.security.notebooks import printing_notebook
from tests.security.users import auth

ALICE, BOB = auth("alice"), auth("bob")


async def submit(jp_fetch: Fetch, index: int) -> tuple[int, dict[str, Any]]:
    body = {"notebook": "n.ipynb", "name": f"load {index}", "idempotency_key": f"load-{index}"}
    try:
        response = await jp_fetch(
            "mofang",
            "api",
            "jobs",
            method="POST",
            body=json.dumps(body),
            headers=ALICE,
            request_timeout=120,
        )
    except HTTPClientError as error:
        return error.code, {"error": str(error)}
    return int(response.code), json.loads(response.body)


async def test_fifty_concurrent_submissions_all_run(jp_fetch: Fetch, jp_root_dir: Path) -> None:
    printing_notebook(jp_root_dir / "n.ipynb")
    start = time.monotonic()
    answers = await asyncio.gather(*(submit(jp_fetch, i) for i in range(50)))
    submitted = time.monotonic() - start
    assert [code for code, _ in answers] == [201] * 50, [a for a in answers if a[0] != 201]
    ids = {answer["id"] for _, answer in answers}
    assert len(ids) == 50
    deadline = time.monotonic() + 240
    while True:
        jobs = (await api(jp_fetch, "jobs", headers=ALICE))["jobs"]
        states = [job["state"] for job in jobs]
        if all(state in ("Succeeded", "Failed", "Cancelled") for state in states):
            break
        assert time.monotonic() < deadline, states
        await asyncio.sleep(0.25)
    assert {job["id"] for job in jobs} == ids
    assert states == ["Succeeded"] * 50, [j for j in jobs if j["state"] != "Succeeded"]
    ran = time.monotonic() - start
    print(f"\n50 concurrent submissions answered in {submitted:.2f} s; all ran in {ran:.2f} s")
    tally("load", 50)


def stored(owner: str, index: int, when: datetime) -> JobRecord:
    spec = JobSpec(
        name=f"old {index}", kind="python", notebook="n.ipynb", roles={"Worker": {"replicas": 1}}
    )  # type: ignore[dict-item]
    job_id = f"old-{owner}-{index:04d}"
    return JobRecord(
        id=job_id,
        owner=owner,
        name=spec.name,
        kind="python",
        backend="local",
        state=JobState.SUCCEEDED,
        folder=f"jobs/{job_id}",
        created_at=when,
        spec=spec,
        replicas=(
            ReplicaStatus(
                name="worker-0",
                type="Worker",
                index=0,
                state=ReplicaState.SUCCEEDED,
                log=f"jobs/{job_id}/logs/worker-0.log",
            ),
        ),
    )


async def test_a_thousand_jobs_are_listed_completely_and_only_to_their_owner(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    store = JobStore(jp_root_dir / ".mofang" / "jobs.sqlite")
    # 1,200 transactions, each synced to disk, would take most of a minute on a busy
    # machine; these records need no durability, so skip the syncs.
    store._db.execute("PRAGMA synchronous = OFF")
    epoch = datetime(2026, 1, 1, tzinfo=UTC)
    for index in range(1000):
        store.insert(
            stored("alice", index, epoch + timedelta(minutes=index)), network={}, devices={}
        )
    for index in range(200):
        store.insert(stored("bob", index, epoch + timedelta(minutes=index)), network={}, devices={})
    store.close()
    start = time.monotonic()
    jobs = (await api(jp_fetch, "jobs", headers=ALICE, request_timeout=120))["jobs"]
    seconds = time.monotonic() - start
    assert len(jobs) == 1000 and {job["owner"] for job in jobs} == {"alice"}
    assert [job["id"] for job in jobs] == [f"old-alice-{i:04d}" for i in reversed(range(1000))]
    assert len((await api(jp_fetch, "jobs", headers=BOB))["jobs"]) == 200
    print(f"\n1,000 jobs listed in {seconds:.2f} s")
    assert seconds < 30
    tally("load", 1000)
