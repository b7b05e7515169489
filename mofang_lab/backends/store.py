"""The job store of every backend: SQLite, in the user's storage, surviving server restarts.

SQLite (the standard library's) because the store needs exactly what it gives:
atomic updates (a job and its first event are written together), a uniqueness
constraint that makes an idempotency key name one job even if two requests
race, and a file that outlives the server. It lives in a hidden folder of the
user's storage by default (``.mofang/jobs.sqlite``), beside the job folders.

Three tables: ``jobs`` (one row per job: the spec as JSON, state, times),
``replicas`` (one row per replica: state, restarts, exit code, and, for the
local backend, the runtime facts its supervisor needs after a restart: pid,
process start time, attempt, GPU devices) and ``events`` (every state change,
numbered, which is what the event stream replays). The ``network`` column
holds what a backend needs to find the job's processes again: ports
locally, the custom resource on a cluster. All access happens on the server's event loop thread.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mofang_lab.backends.base import JobEvent, JobRecord, ReplicaStatus
from mofang_lab.jobs.spec import JobSpec
from mofang_lab.jobs.states import TERMINAL_JOB_STATES, JobState, ReplicaState
from mofang_lab.sqlite_store import EVENTS_PAGE, SqliteStore, stored_time

__all__ = ["EVENTS_PAGE", "JobStore", "ReplicaRuntime"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    backend TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    folder TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    restarts INTEGER NOT NULL DEFAULT 0,
    spec TEXT NOT NULL,
    idempotency_key TEXT,
    network TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_owner_key ON jobs (owner, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_owner_created ON jobs (owner, created_at);
CREATE TABLE IF NOT EXISTS replicas (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    idx INTEGER NOT NULL,
    position INTEGER NOT NULL,
    state TEXT NOT NULL,
    restarts INTEGER NOT NULL DEFAULT 0,
    exit_code INTEGER,
    message TEXT NOT NULL DEFAULT '',
    log TEXT NOT NULL,
    pid INTEGER,
    start_ticks INTEGER,
    attempt INTEGER NOT NULL DEFAULT 0,
    devices TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (job_id, name)
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    job_id TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_owner_seq ON events (owner, seq);
"""

_REPLICA_FIELDS = frozenset(
    {"state", "restarts", "exit_code", "message", "pid", "start_ticks", "attempt", "devices"}
)


class ReplicaRuntime:
    """The supervisor's facts about one replica, as stored."""

    __slots__ = ("attempt", "devices", "name", "pid", "start_ticks", "state")

    def __init__(
        self,
        *,
        name: str,
        state: ReplicaState,
        pid: int | None,
        start_ticks: int | None,
        attempt: int,
        devices: tuple[str, ...],
    ) -> None:
        self.name = name
        self.state = state
        self.pid = pid
        self.start_ticks = start_ticks
        self.attempt = attempt
        self.devices = devices


class JobStore(SqliteStore):
    """Jobs, replicas and events of every owner on this server."""

    def __init__(self, path: Path, *, setting: str = "LocalBackend.store_path") -> None:
        super().__init__(path, schema=_SCHEMA, what="job store", setting=setting)
        self._specs: dict[str, JobSpec] = {}
        # The records last built by ``jobs_of``, by job id, with the stored rows they
        # were built from (and, once asked for, their JSON): a record whose rows have
        # not changed is not built or serialised again.
        self._built: dict[str, _Built] = {}

    # --- writing ------------------------------------------------------------------

    def insert(
        self,
        record: JobRecord,
        *,
        network: dict[str, Any],
        devices: dict[str, tuple[str, ...]],
    ) -> JobEvent:
        """Store a new job with its replicas and its ``Created`` event, atomically.

        Raises ``sqlite3.IntegrityError`` if the owner already used the job's
        idempotency key (the caller looked first; this is the race's backstop).
        """
        with self._transaction() as db:
            db.execute(
                "INSERT INTO jobs (id, owner, name, kind, backend, state, reason, message, folder,"
                " created_at, spec, idempotency_key, network)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.owner,
                    record.name,
                    record.kind,
                    record.backend,
                    record.state,
                    record.reason,
                    record.message,
                    record.folder,
                    record.created_at.timestamp(),
                    record.spec.model_dump_json(),
                    record.spec.idempotency_key,
                    json.dumps(network),
                ),
            )
            db.executemany(
                "INSERT INTO replicas (job_id, name, type, idx, position, state, log, devices)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        record.id,
                        replica.name,
                        replica.type,
                        replica.index,
                        position,
                        replica.state,
                        replica.log,
                        json.dumps(list(devices.get(replica.name, ()))),
                    )
                    for position, replica in enumerate(record.replicas)
                ],
            )
            return self._event(db, record.owner, record.id, record.state, "", record.message)

    def set_job_state(
        self,
        job_id: str,
        state: JobState,
        *,
        reason: str = "",
        message: str = "",
        restarts: int | None = None,
    ) -> JobEvent:
        """Change a job's state and record the event; times are set from the state."""
        now = time.time()
        with self._transaction() as db:
            row = db.execute("SELECT owner FROM jobs WHERE id = ?", (job_id,)).fetchone()
            sets = ["state = ?", "reason = ?", "message = ?"]
            values: list[Any] = [state, reason, message]
            if state == JobState.RUNNING:
                sets.append("started_at = COALESCE(started_at, ?)")
                values.append(now)
            if state in TERMINAL_JOB_STATES:
                sets.append("finished_at = ?")
                values.append(now)
            if restarts is not None:
                sets.append("restarts = ?")
                values.append(restarts)
            db.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", (*values, job_id))  # noqa: S608 - fixed column names
            return self._event(db, row["owner"], job_id, state, reason, message, now)

    def set_network(self, job_id: str, network: dict[str, Any]) -> None:
        """Replace what the backend keeps to find the job's processes (or object) again."""
        with self._transaction() as db:
            db.execute("UPDATE jobs SET network = ? WHERE id = ?", (json.dumps(network), job_id))

    def note(self, job_id: str, *, reason: str, message: str) -> JobEvent:
        """An event that keeps the job's state (the server took the job up again, ...)."""
        with self._transaction() as db:
            row = db.execute("SELECT owner, state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            return self._event(db, row["owner"], job_id, JobState(row["state"]), reason, message)

    def set_replica(self, job_id: str, name: str, **fields: Any) -> None:
        unknown = set(fields) - _REPLICA_FIELDS
        if unknown:
            raise ValueError(f"not replica fields: {sorted(unknown)}")
        if "devices" in fields:
            fields["devices"] = json.dumps(list(fields["devices"]))
        columns = ", ".join(f"{field} = ?" for field in fields)
        with self._transaction() as db:
            db.execute(
                f"UPDATE replicas SET {columns} WHERE job_id = ? AND name = ?",  # noqa: S608 - checked names
                (*fields.values(), job_id, name),
            )

    @staticmethod
    def _event(
        db: sqlite3.Connection,
        owner: str,
        job_id: str,
        state: JobState,
        reason: str,
        message: str,
        when: float | None = None,
    ) -> JobEvent:
        when = time.time() if when is None else when
        cursor = db.execute(
            "INSERT INTO events (owner, job_id, state, reason, message, time)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (owner, job_id, state, reason, message, when),
        )
        assert cursor.lastrowid is not None
        return JobEvent(
            seq=cursor.lastrowid,
            job_id=job_id,
            state=state,
            reason=reason,
            message=message,
            time=datetime.fromtimestamp(when, UTC),
        )

    # --- reading ------------------------------------------------------------------

    def get(self, owner: str, job_id: str) -> JobRecord | None:
        row = self._db.execute(
            "SELECT * FROM jobs WHERE id = ? AND owner = ?", (job_id, owner)
        ).fetchone()
        return None if row is None else self._record(row)

    def exists(self, job_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is not None

    def owner_of(self, job_id: str) -> str:
        row = self._db.execute("SELECT owner FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return str(row["owner"])

    def find_by_key(self, owner: str, key: str) -> JobRecord | None:
        row = self._db.execute(
            "SELECT * FROM jobs WHERE owner = ? AND idempotency_key = ?", (owner, key)
        ).fetchone()
        return None if row is None else self._record(row)

    def version(self) -> tuple[int, int]:
        """A value that differs whenever anything stored has changed since it was read.

        SQLite's ``data_version`` moves with every commit of another connection
        (another server or process on the same file), ``total_changes`` with
        every row this connection writes.
        """
        row = self._db.execute("PRAGMA data_version").fetchone()
        return int(row[0]), self._db.total_changes

    def jobs_of(self, owner: str) -> list[JobRecord]:
        return [built.record for built in self._jobs_built(owner)]

    def jobs_json_of(self, owner: str) -> bytes:
        """``jobs_of`` as a JSON array, each record serialised once while it is unchanged."""
        return b"[" + b",".join(built.json() for built in self._jobs_built(owner)) + b"]"

    def _jobs_built(self, owner: str) -> list[_Built]:
        rows = self._db.execute(
            "SELECT * FROM jobs WHERE owner = ? ORDER BY created_at DESC, rowid DESC", (owner,)
        ).fetchall()
        # One query for every replica of the owner's jobs, not one per job.
        replicas: dict[str, list[sqlite3.Row]] = {}
        for replica in self._db.execute(
            "SELECT replicas.* FROM replicas JOIN jobs ON jobs.id = replicas.job_id"
            " WHERE jobs.owner = ? ORDER BY replicas.job_id, replicas.position",
            (owner,),
        ):
            replicas.setdefault(replica["job_id"], []).append(replica)
        result = []
        for row in rows:
            job_replicas = replicas.get(row["id"], [])
            stored = (tuple(row), *(tuple(replica) for replica in job_replicas))
            built = self._built.get(row["id"])
            if built is None or built.stored != stored:
                built = self._built[row["id"]] = _Built(stored, self._record(row, job_replicas))
            result.append(built)
        return result

    def active_ids(self) -> list[str]:
        """Jobs of every owner that are not finished: the ones to supervise."""
        placeholders = ", ".join("?" for _ in TERMINAL_JOB_STATES)
        rows = self._db.execute(
            f"SELECT id FROM jobs WHERE state NOT IN ({placeholders}) ORDER BY created_at",  # noqa: S608
            tuple(TERMINAL_JOB_STATES),
        ).fetchall()
        return [str(row["id"]) for row in rows]

    def record(self, job_id: str) -> JobRecord:
        row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return self._record(row)

    def network(self, job_id: str) -> dict[str, Any]:
        row = self._db.execute("SELECT network FROM jobs WHERE id = ?", (job_id,)).fetchone()
        result: dict[str, Any] = json.loads(row["network"])
        return result

    def runtime(self, job_id: str) -> dict[str, ReplicaRuntime]:
        rows = self._db.execute(
            "SELECT * FROM replicas WHERE job_id = ? ORDER BY position", (job_id,)
        ).fetchall()
        return {
            row["name"]: ReplicaRuntime(
                name=row["name"],
                state=ReplicaState(row["state"]),
                pid=row["pid"],
                start_ticks=row["start_ticks"],
                attempt=row["attempt"],
                devices=tuple(json.loads(row["devices"])),
            )
            for row in rows
        }

    def held_devices(self, job_ids: Sequence[str]) -> set[str]:
        held: set[str] = set()
        for job_id in job_ids:
            for runtime in self.runtime(job_id).values():
                held.update(runtime.devices)
        return held

    def last_seq(self, owner: str) -> int:
        """The number of ``owner``'s latest event (0: none yet)."""
        row = self._db.execute(
            "SELECT COALESCE(MAX(seq), 0) AS seq FROM events WHERE owner = ?", (owner,)
        ).fetchone()
        return int(row["seq"])

    def events_since(self, owner: str, since: int, job_id: str | None) -> list[JobEvent]:
        query = "SELECT * FROM events WHERE owner = ? AND seq > ?"
        values: list[Any] = [owner, since]
        if job_id is not None:
            query += " AND job_id = ?"
            values.append(job_id)
        rows = self._db.execute(query + f" ORDER BY seq LIMIT {EVENTS_PAGE}", values).fetchall()
        return [
            JobEvent(
                seq=row["seq"],
                job_id=row["job_id"],
                state=JobState(row["state"]),
                reason=row["reason"],
                message=row["message"],
                time=datetime.fromtimestamp(row["time"], UTC),
            )
            for row in rows
        ]

    def _spec(self, job_id: str, text: str) -> JobSpec:
        # A job's spec never changes once stored: parsed once per server.
        spec = self._specs.get(job_id)
        if spec is None:
            spec = self._specs[job_id] = JobSpec.model_validate_json(text)
        return spec

    def _record(self, row: sqlite3.Row, replicas: list[sqlite3.Row] | None = None) -> JobRecord:
        if replicas is None:
            replicas = self._db.execute(
                "SELECT * FROM replicas WHERE job_id = ? ORDER BY position", (row["id"],)
            ).fetchall()
        return JobRecord(
            id=row["id"],
            owner=row["owner"],
            name=row["name"],
            kind=row["kind"],
            backend=row["backend"],
            state=JobState(row["state"]),
            reason=row["reason"],
            message=row["message"],
            folder=row["folder"],
            created_at=datetime.fromtimestamp(row["created_at"], UTC),
            started_at=stored_time(row["started_at"]),
            finished_at=stored_time(row["finished_at"]),
            restarts=row["restarts"],
            spec=self._spec(row["id"], row["spec"]),
            replicas=tuple(
                ReplicaStatus(
                    name=r["name"],
                    type=r["type"],
                    index=r["idx"],
                    state=ReplicaState(r["state"]),
                    restarts=r["restarts"],
                    exit_code=r["exit_code"],
                    message=r["message"],
                    log=r["log"],
                )
                for r in replicas
            ),
        )


class _Built:
    """A record built from its stored rows, and its JSON once it was asked for."""

    __slots__ = ("_json", "record", "stored")

    def __init__(self, stored: tuple[Any, ...], record: JobRecord) -> None:
        self.stored = stored
        self.record = record
        self._json: bytes | None = None

    def json(self) -> bytes:
        if self._json is None:
            self._json = self.record.model_dump_json().encode()
        return self._json
