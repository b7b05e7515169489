"""The Kubernetes job backend after a restart: its jobs are read back as the cluster has them.

A server stops (a hub culls it, a node drains) while Alice's job runs, and
starts again. The job's record must say what the cluster says, Running, from
the first look on: a client that polls in between must not see it go back to
Created. Jobs of every kind are taken up this way; a python job is a batch
Job, whose state comes from the object's ``status.active``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mofang_lab.jobs.states import JobState
from tests.jobs.notebooks import role_notebook
from tests.kube_emulator import KubeEmulator
from tests.kubernetes.jobs_cluster import backend_on, prepare, wait_until
from tests.security.conftest import server_plan, tally

pytestmark = pytest.mark.backends("kubernetes")


async def test_a_running_job_is_still_running_after_a_restart(
    cluster: KubeEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "alice"
    role_notebook(root / "a.ipynb", {})  # runs until cancelled
    async with backend_on(cluster, root, server_plan(), monkeypatch) as backend:
        job_id = (await backend.submit("alice", prepare(root, "a.ipynb", backend))).job.id
        await wait_until(backend, "alice", job_id, lambda r: r.state == JobState.RUNNING)
    async with backend_on(cluster, root, server_plan(), monkeypatch) as backend:
        await asyncio.sleep(1.0)  # the watches' first lists
        record = await backend.get("alice", job_id)
        states = [e.state for e in backend.store.events_since("alice", 0, job_id)]
        assert record.state == JobState.RUNNING, (record, states)
        assert states == [JobState.CREATED, JobState.RUNNING], states
        tally("faults")
        await backend.cancel("alice", job_id)
