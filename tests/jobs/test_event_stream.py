"""The event stream of a backend: every event once, in order, past a page of the store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from mofang_lab.backends.base import JobRecord, ReplicaStatus
from mofang_lab.backends.changes import Changes, stream_events
from mofang_lab.backends.store import EVENTS_PAGE, JobStore
from mofang_lab.jobs.spec import JobSpec
from mofang_lab.jobs.states import JobState, ReplicaState


def _record(job_id: str, owner: str) -> JobRecord:
    spec = JobSpec(name=job_id, kind="python", notebook="a.ipynb", roles={"Worker": {}})
    return JobRecord(
        id=job_id,
        owner=owner,
        name=job_id,
        kind="python",
        backend="local",
        state=JobState.CREATED,
        folder=f"jobs/{job_id}",
        created_at=datetime.now(UTC),
        spec=spec,
        replicas=(
            ReplicaStatus(
                name="worker-0", type="Worker", index=0, state=ReplicaState.PENDING, log="x"
            ),
        ),
    )


def test_a_stream_from_the_start_reads_past_a_full_page(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    for number in range(EVENTS_PAGE + 500):
        store.insert(_record(f"job-{number}", "ann"), network={}, devices={})
    store.insert(_record("other", "bob"), network={}, devices={})
    assert store.last_seq("ann") == EVENTS_PAGE + 500
    changes = Changes()

    async def main() -> list[int]:
        seen: list[int] = []
        stream = stream_events(store, changes, "ann", 0, None)

        async def read() -> None:
            async for event in stream:
                seen.append(event.seq)
                if len(seen) == EVENTS_PAGE + 501:
                    return

        reader = asyncio.ensure_future(read())
        await asyncio.sleep(0.2)  # the backlog, with no notification at all
        backlog = list(seen)
        store.set_job_state("job-0", JobState.RUNNING)
        changes.notify()
        await asyncio.wait_for(reader, 5)
        assert len(backlog) == EVENTS_PAGE + 500
        return seen

    seen = asyncio.run(main())
    assert seen == sorted(set(seen)) and len(seen) == EVENTS_PAGE + 501
