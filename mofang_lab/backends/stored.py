"""``StoredJobsBackend``: what every backend keeping its jobs in a ``JobStore`` does alike.

Ids, idempotency keys, the new record of a submitted job, the owner's
queries, cancel's preconditions, the replica a log is asked of, and the
event stream: the same code and the same words on every backend, so a user
gets the same answers whether their jobs run as local processes or on a
cluster. A backend adds how its jobs run.
"""

from __future__ import annotations

import abc
import builtins
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from mofang_lab.backends.base import (
    JobBackend,
    JobEvent,
    JobRecord,
    ReplicaStatus,
    SubmitResult,
)
from mofang_lab.backends.changes import Changes, stream_events
from mofang_lab.backends.store import JobStore
from mofang_lab.jobs.ids import new_job_id
from mofang_lab.jobs.spec import JobSpec, ReplicaType, replica_name
from mofang_lab.jobs.states import JobState, ReplicaState
from mofang_spawner.errors import ConflictError, NotFoundError

__all__ = ["StoredJobsBackend"]

#: Owners whose serialised job list is kept (a server has one user; tests have a few).
_LISTS_KEPT = 8


class StoredJobsBackend(JobBackend):
    """A backend whose jobs' history is a :class:`JobStore`; subclasses run the jobs."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._changes = Changes()
        self._listed: dict[str, tuple[tuple[int, int], bytes]] = {}

    @property
    @abc.abstractmethod
    def store(self) -> JobStore:
        """The job store (opened on first use)."""

    def _changed_now(self) -> None:
        """Wake every waiting event stream; they re-read the store."""
        self._changes.notify()

    # --- submit -----------------------------------------------------------------

    def _earlier_submission(self, owner: str, spec: JobSpec) -> SubmitResult | None:
        """The job made the first time ``spec``'s idempotency key was used, if it was."""
        if spec.idempotency_key is None:
            return None
        existing = self.store.find_by_key(owner, spec.idempotency_key)
        if existing is None:
            return None
        if existing.spec != spec:
            raise ConflictError(
                f"The idempotency key {spec.idempotency_key!r} was already used for job "
                f"{existing.id} with a different request; use a new key for a new job."
            )
        return SubmitResult(job=existing, created=False)

    def _fresh_id(self, name: str) -> str:
        while True:
            job_id = new_job_id(name)
            if not self.store.exists(job_id) and not self.folder(job_id).path.exists():
                return job_id

    def _new_record(
        self, owner: str, job_id: str, spec: JobSpec, log: Callable[[ReplicaType, int], str]
    ) -> JobRecord:
        """A submitted job's first record: Created, every replica Pending."""
        return JobRecord(
            id=job_id,
            owner=owner,
            name=spec.name,
            kind=spec.kind,
            backend=self.name,
            state=JobState.CREATED,
            folder=self.relative(self.folder(job_id).path),
            created_at=datetime.now(UTC),
            spec=spec,
            replicas=tuple(
                ReplicaStatus(
                    name=replica_name(role, index),
                    type=role,
                    index=index,
                    state=ReplicaState.PENDING,
                    log=log(role, index),
                )
                for role, index in spec.replicas()
            ),
        )

    # --- queries ----------------------------------------------------------------

    async def get(self, owner: str, job_id: str) -> JobRecord:
        await self.start()
        record = self.store.get(owner, job_id)
        if record is None:
            raise NotFoundError(f"You have no job {job_id!r}; `mofang jobs` lists yours.")
        return record

    async def list(self, owner: str) -> builtins.list[JobRecord]:
        await self.start()
        return self.store.jobs_of(owner)

    async def list_json(self, owner: str) -> bytes:
        # Kept until anything in the store changes: a sidebar reloading a long
        # history costs a lookup, not a thousand records built and serialised.
        await self.start()
        version = self.store.version()
        kept = self._listed.get(owner)
        if kept is not None and kept[0] == version:
            return kept[1]
        listed = self.store.jobs_json_of(owner)
        if len(self._listed) >= _LISTS_KEPT:
            self._listed.pop(next(iter(self._listed)))
        self._listed[owner] = (version, listed)
        return listed

    async def _to_cancel(self, owner: str, job_id: str) -> JobRecord:
        """The job to cancel; a finished one is a conflict (a cancelled one is returned)."""
        record = await self.get(owner, job_id)
        if record.state.terminal and record.state != JobState.CANCELLED:
            raise ConflictError(
                f"Job {job_id} has already finished ({record.state}); there is nothing to cancel."
            )
        return record

    @staticmethod
    def _replica(record: JobRecord, replica: str | None) -> ReplicaStatus:
        """The replica a log is asked of (default: the main one), or 404."""
        name = replica or record.spec.main_replica
        status = next((r for r in record.replicas if r.name == name), None)
        if status is None:
            names = ", ".join(r.name for r in record.replicas)
            raise NotFoundError(f"Job {record.id} has no replica {name!r}; its replicas: {names}.")
        return status

    async def last_event(self, owner: str) -> int:
        await self.start()
        return self.store.last_seq(owner)

    async def events(
        self, owner: str, *, since: int, job_id: str | None
    ) -> AsyncIterator[JobEvent]:
        if job_id is not None:
            await self.get(owner, job_id)
        await self.start()
        return stream_events(self.store, self._changes, owner, since, job_id)
