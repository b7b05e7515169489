"""The list of a user's jobs is kept between requests, and never outlives a change."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

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

    # Each owner gets their own list, with the same records as ``list``.
    assert [job["id"] for job in await _listed(backend, "bob")] == ["job-2"]
    records = await backend.list("ann")
    assert listed == [json.loads(record.model_dump_json()) for record in records]
    await backend.stop()


def test_the_kept_list_follows_every_change_of_the_store(tmp_path: Path) -> None:
    asyncio.run(_the_kept_list_follows_every_change(tmp_path))
