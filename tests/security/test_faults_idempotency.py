"""The same submission sent several times at once, with one idempotency key, is one job.

A client that times out and retries (the CLI does, three times) may have its
first request still in flight: the backend serialises an owner's submissions
and the store's unique index on (owner, key) is the backstop for a race the
lock does not see.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from mofang_lab.backends.base import JobRecord
from mofang_lab.backends.store import JobStore
from mofang_lab.jobs.spec import JobSpec
from mofang_lab.jobs.states import JobState
from tests.jobs.conftest import Fetch, api, wait_finished
from tests.kube_emulator import KubeEmulator
from tests.security.conftest import answer_of, footprint, objects_on, tally
from tests.security.notebooks import printing_notebook
from tests.security.users import auth

ALICE = auth("alice")
# A test that takes no server (the store's backstop) is not parametrized by it.
pytestmark = pytest.mark.every_backend


async def post(jp_fetch: Fetch, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    try:
        response = await jp_fetch(
            "mofang", "api", "jobs", method="POST", body=json.dumps(body), headers=ALICE
        )
    except HTTPClientError as error:
        return answer_of(error)
    return int(response.code), json.loads(response.body)


@pytest.mark.parametrize("copies", [2, 10])
async def test_concurrent_copies_of_one_submission_make_one_job(
    jp_fetch: Fetch,
    jp_root_dir: Path,
    backend_name: str,
    cluster: KubeEmulator | None,
    copies: int,
) -> None:
    printing_notebook(jp_root_dir / "n.ipynb")
    body = {"notebook": "n.ipynb", "idempotency_key": f"retry-{copies}"}
    answers = await asyncio.gather(*(post(jp_fetch, body) for _ in range(copies)))
    codes = sorted(code for code, _ in answers)
    assert codes == [200] * (copies - 1) + [201], answers
    assert len({answer["id"] for _, answer in answers}) == 1
    jobs = (await api(jp_fetch, "jobs", headers=ALICE))["jobs"]
    assert [job["id"] for job in jobs] == [answers[0][1]["id"]]
    assert footprint(jp_root_dir)["folders"] == [answers[0][1]["id"]]
    finished = await wait_finished(jp_fetch, jobs[0]["id"], headers=ALICE)
    assert (finished["state"], finished["backend"]) == ("Succeeded", backend_name), finished
    log = await jp_fetch("mofang", "api", "jobs", finished["id"], "logs", headers=ALICE)
    assert log.body.decode() == "ok\n"  # started once
    if cluster is not None:  # one object on the cluster, one pod
        on_cluster = objects_on(cluster)
        assert on_cluster["jobs"] == [finished["id"]], on_cluster
        assert len(on_cluster["pods"]) == 1, on_cluster
    tally("faults", copies)


async def test_concurrent_different_requests_with_one_key_make_one_job_and_conflicts(
    jp_fetch: Fetch, jp_root_dir: Path, cluster: KubeEmulator | None
) -> None:
    printing_notebook(jp_root_dir / "n.ipynb")
    bodies = [
        {"notebook": "n.ipynb", "idempotency_key": "same", "parameters": {"x": i}} for i in range(6)
    ]
    answers = await asyncio.gather(*(post(jp_fetch, body) for body in bodies))
    codes = sorted(code for code, _ in answers)
    assert codes == [201] + [409] * 5, answers
    for code, answer in answers:
        if code == 409:
            assert "was already used for job" in answer["message"]
            assert "use a new key for a new job" in answer["message"]
    jobs = (await api(jp_fetch, "jobs", headers=ALICE))["jobs"]
    assert len(jobs) == 1
    if cluster is not None:
        assert objects_on(cluster)["jobs"] == [jobs[0]["id"]]
    tally("faults", 6)


def test_the_store_refuses_a_second_job_with_the_same_key(tmp_path: Path) -> None:
    """The backstop: two writers (two processes, one file) cannot both store the key."""
    spec = JobSpec(
        name="n",
        kind="python",
        notebook="n.ipynb",
        roles={"Worker": {"replicas": 1}},
        idempotency_key="k",  # type: ignore[dict-item]
    )
    stores = [JobStore(tmp_path / "jobs.sqlite") for _ in range(2)]
    for index, store in enumerate(stores):
        record = JobRecord(
            id=f"n-{index}",
            owner="alice",
            name="n",
            kind="python",
            backend="local",
            state=JobState.CREATED,
            folder=f"jobs/n-{index}",
            created_at=datetime.now(UTC),
            spec=spec,
        )
        if index == 0:
            store.insert(record, network={}, devices={})
        else:
            with pytest.raises(sqlite3.IntegrityError):
                store.insert(record, network={}, devices={})
    assert [r.id for r in stores[1].jobs_of("alice")] == ["n-0"]
    for store in stores:
        store.close()
    tally("faults")
