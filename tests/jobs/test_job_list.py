"""The list of a user's jobs is kept between requests, and never outlives a change."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from mofang_lab.backends.base import JobRecord
from mofang_lab.backends.local.backend import LocalBackend
from mofang_lab.backends.store import JobStore
from mofang_lab.jobs.states import JobState, ReplicaState

from .test_event_stream import _record


async def _listed(backend: LocalBackend, owner: str) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = json.loads(await backend.list_json(owner))
    return jobs


async def _the_kept_list_follows_every_change(root: Path) -> None:
    backend = LocalBackend(root_dir=str(root))
    await backend.start()
    store = backend.store
    store.insert(_record("job-1", "ann"), network={}, devices={})
    store.insert(_record("job-2", "bob"), network={}, devices={})
    first = await backend.list_json("ann")
    assert await backend.list_json("ann") is first  # kept: nothing changed
    assert [job["id"] for job in await _listed(backend, "ann")] == ["job-1"]

    # Changes through this server's own connection.
    store.set_job_state("job-1", JobState.RUNNING)
    assert [job["state"] for job in await _listed(backend, "ann")] == ["Running"]
    store.set_replica("job-1", "worker-0", state=ReplicaState.RUNNING)
    assert (await _listed(backend, "ann"))[0]["replicas"][0]["state"] == "Running"

    # Changes committed by another process on the same file.
    other = JobStore(store.path)
    other.insert(_record("job-3", "ann"), network={}, devices={})
    other.set_job_state("job-1", JobState.SUCCEEDED)
    other.close()
    listed = await _listed(backend, "ann")
    assert {job["id"]: job["state"] for job in listed} == {
        "job-1": "Succeeded",
        "job-3": "Created",
    }

    # Each owner gets their own list, with the same records as ``list``, the
    # very bytes pydantic makes of the list at once.
    assert [job["id"] for job in await _listed(backend, "bob")] == ["job-2"]
    records = await backend.list("ann")
    assert listed == [json.loads(record.model_dump_json()) for record in records]
    assert await backend.list_json("ann") == TypeAdapter(list[JobRecord]).dump_json(records)
    await backend.stop()


def test_a_record_is_built_again_only_when_its_rows_change(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    for number in range(3):
        store.insert(_record(f"job-{number}", "ann"), network={}, devices={})
    first = {record.id: record for record in store.jobs_of("ann")}
    store.set_replica("job-1", "worker-0", state=ReplicaState.RUNNING)
    store.set_job_state("job-2", JobState.RUNNING)
    again = {record.id: record for record in store.jobs_of("ann")}
    assert again["job-0"] is first["job-0"]  # unchanged: the same record
    assert again["job-1"] is not first["job-1"]
    assert again["job-1"].replicas[0].state == ReplicaState.RUNNING
    assert again["job-2"].state == JobState.RUNNING
    # What another connection writes is read too.
    other = JobStore(store.path)
    other.set_replica("job-0", "worker-0", state=ReplicaState.FAILED, exit_code=3)
    other.close()
    (changed,) = [r for r in store.jobs_of("ann") if r.id == "job-0"]
    assert (changed.replicas[0].state, changed.replicas[0].exit_code) == (ReplicaState.FAILED, 3)
    assert json.loads(store.jobs_json_of("ann"))[2]["replicas"][0]["exit_code"] == 3
    store.close()


def test_the_kept_list_follows_every_change_of_the_store(tmp_path: Path) -> None:
    asyncio.run(_the_kept_list_follows_every_change(tmp_path))
