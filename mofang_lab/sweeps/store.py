"""The sweep store: SQLite, beside the job store in the user's storage, surviving restarts.

Three tables: ``sweeps`` (the request as JSON, the notebook as it was when the
sweep started, the state, the idempotency key of the request that created
it), ``trials`` (one row per trial: the parameters the search chose, the job
that runs it, every metric report, the final objective, whether early
stopping ended it) and ``sweep_events`` (every state change of a sweep or a
trial, numbered, which the event stream replays; written in the same
transaction as the change). A trial row is written *before*
its job is submitted, so after a restart the runner knows every trial the
search chose and submits none twice (its job carries the idempotency key
``<sweep id>-<trial number>``). Every row names its owner, and every query
is filtered by it. All access happens on the server's event loop thread.

An idempotency key names one sweep per owner: a unique index, as in the job
store, makes the second of two racing inserts fail instead of starting a
second sweep. Stores made before keys existed get the column when opened.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mofang_lab.sqlite_store import EVENTS_PAGE, SqliteStore, stored_time
from mofang_lab.sweeps.records import (
    BestTrial,
    SweepEvent,
    SweepRecord,
    SweepState,
    TrialRecord,
    TrialState,
)
from mofang_lab.sweeps.request import SweepRequest

__all__ = ["SweepStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sweeps (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    notebook TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    request TEXT NOT NULL,
    notebook_text TEXT NOT NULL,
    created_at REAL NOT NULL,
    finished_at REAL,
    idempotency_key TEXT
);
CREATE INDEX IF NOT EXISTS sweeps_owner_created ON sweeps (owner, created_at);
CREATE TABLE IF NOT EXISTS trials (
    sweep_id TEXT NOT NULL REFERENCES sweeps (id),
    owner TEXT NOT NULL,
    number INTEGER NOT NULL,
    job_id TEXT,
    parameters TEXT NOT NULL,
    state TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    reports TEXT NOT NULL DEFAULT '{}',
    objective REAL,
    early_stopped INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    finished_at REAL,
    PRIMARY KEY (sweep_id, number)
);
CREATE TABLE IF NOT EXISTS sweep_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    sweep_id TEXT NOT NULL,
    data TEXT NOT NULL,
    time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sweep_events_owner_seq ON sweep_events (owner, seq);
"""

# After _SCHEMA, once a store from before idempotency keys has the column.
_KEY_INDEX = """
CREATE UNIQUE INDEX IF NOT EXISTS sweeps_owner_key ON sweeps (owner, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
"""

_TRIAL_FIELDS = frozenset({"job_id", "state", "message", "reports", "objective", "early_stopped"})


class SweepStore(SqliteStore):
    """Sweeps and trials of every owner on this server; each call names the owner."""

    def __init__(self, path: Path, *, notify: Callable[[], None] | None = None) -> None:
        super().__init__(
            path, schema=_SCHEMA, what="sweep store", setting="SweepService.store_path"
        )
        columns = {row["name"] for row in self._db.execute("PRAGMA table_info(sweeps)")}
        if "idempotency_key" not in columns:
            self._db.execute("ALTER TABLE sweeps ADD COLUMN idempotency_key TEXT")
        self._db.executescript(_KEY_INDEX)
        #: Called after every change that made an event, to wake the event streams.
        self._notify = notify or (lambda: None)

    # --- writing ------------------------------------------------------------------

    def insert(
        self,
        *,
        sweep_id: str,
        owner: str,
        name: str,
        notebook: str,
        request: SweepRequest,
        notebook_text: str,
        idempotency_key: str | None = None,
    ) -> None:
        """Store a new sweep and its first event, atomically.

        Raises ``sqlite3.IntegrityError`` if the owner already used the
        idempotency key (the caller looked first; this is the race's backstop).
        """
        with self._transaction() as db:
            db.execute(
                "INSERT INTO sweeps (id, owner, name, notebook, state, request, notebook_text,"
                " created_at, idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    sweep_id,
                    owner,
                    name,
                    notebook,
                    SweepState.RUNNING,
                    request.model_dump_json(),
                    notebook_text,
                    time.time(),
                    idempotency_key,
                ),
            )
            self._event(db, owner, sweep_id, None)
        self._notify()

    def set_state(
        self, owner: str, sweep_id: str, state: SweepState, *, reason: str, message: str
    ) -> None:
        finished = time.time() if state.terminal else None
        with self._transaction() as db:
            changed = db.execute(
                "UPDATE sweeps SET state = ?, reason = ?, message = ?, finished_at = ?"
                " WHERE id = ? AND owner = ?",
                (state, reason, message, finished, sweep_id, owner),
            ).rowcount
            if changed:
                self._event(db, owner, sweep_id, None)
        if changed:
            self._notify()

    def add_trial(
        self, owner: str, sweep_id: str, number: int, parameters: dict[str, Any]
    ) -> TrialRecord:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO trials (sweep_id, owner, number, parameters, state, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (sweep_id, owner, number, json.dumps(parameters), TrialState.PENDING, time.time()),
            )
            self._event(db, owner, sweep_id, number)
        self._notify()
        return self.trial(owner, sweep_id, number)

    def update_trial(self, owner: str, sweep_id: str, number: int, **fields: Any) -> TrialRecord:
        unknown = set(fields) - _TRIAL_FIELDS
        if unknown:
            raise ValueError(f"not trial fields: {sorted(unknown)}")
        if "reports" in fields:
            fields["reports"] = json.dumps(fields["reports"])
        if "early_stopped" in fields:
            fields["early_stopped"] = int(bool(fields["early_stopped"]))
        columns = [f"{field} = ?" for field in fields]
        values = list(fields.values())
        state = fields.get("state")
        if state is not None and TrialState(state).terminal:
            columns.append("finished_at = COALESCE(finished_at, ?)")
            values.append(time.time())
        with self._transaction() as db:
            changed = db.execute(
                f"UPDATE trials SET {', '.join(columns)}"  # noqa: S608 - checked column names
                " WHERE sweep_id = ? AND number = ? AND owner = ?",
                (*values, sweep_id, number, owner),
            ).rowcount
            # Reports come once per step: only state changes are events.
            event = bool(changed) and state is not None
            if event:
                self._event(db, owner, sweep_id, number)
        if event:
            self._notify()
        return self.trial(owner, sweep_id, number)

    def _event(self, db: sqlite3.Connection, owner: str, sweep_id: str, number: int | None) -> None:
        """Record the sweep as it is now (inside the change's transaction) as an event."""
        row = db.execute(
            "SELECT state, reason, message, request FROM sweeps WHERE id = ? AND owner = ?",
            (sweep_id, owner),
        ).fetchone()
        if row is None:  # not this owner's sweep: nothing of it changed
            return
        trials = self.trials(owner, sweep_id)
        objective = json.loads(row["request"])["settings"]["objective"]
        best = best_trial(trials, maximize=objective["type"] == "maximize")
        trial = next((t for t in trials if t.number == number), None)
        data = {
            "sweep_id": sweep_id,
            "state": row["state"],
            "reason": row["reason"],
            "message": row["message"],
            "counts": _counts(trials),
            "best": None if best is None else best.model_dump(mode="json"),
            "trial": None if trial is None else trial.model_dump(mode="json"),
        }
        db.execute(
            "INSERT INTO sweep_events (owner, sweep_id, data, time) VALUES (?, ?, ?, ?)",
            (owner, sweep_id, json.dumps(data), time.time()),
        )

    # --- reading ------------------------------------------------------------------

    def get(self, owner: str, sweep_id: str, *, trials: bool = True) -> SweepRecord | None:
        row = self._db.execute(
            "SELECT * FROM sweeps WHERE id = ? AND owner = ?", (sweep_id, owner)
        ).fetchone()
        return None if row is None else self._record(row, with_trials=trials)

    def find_by_key(self, owner: str, key: str) -> tuple[SweepRecord, SweepRequest] | None:
        """The sweep ``owner`` created with idempotency key ``key``, and its request."""
        row = self._db.execute(
            "SELECT * FROM sweeps WHERE owner = ? AND idempotency_key = ?", (owner, key)
        ).fetchone()
        if row is None:
            return None
        return self._record(row, with_trials=True), SweepRequest.model_validate_json(row["request"])

    def events_since(self, owner: str, since: int) -> list[SweepEvent]:
        """``owner``'s sweep events after ``since``, oldest first (at most 1000)."""
        rows = self._db.execute(
            "SELECT * FROM sweep_events WHERE owner = ? AND seq > ? ORDER BY seq LIMIT ?",
            (owner, since, EVENTS_PAGE),
        ).fetchall()
        return [
            SweepEvent.model_validate(
                {
                    **json.loads(row["data"]),
                    "seq": row["seq"],
                    "time": datetime.fromtimestamp(row["time"], UTC),
                }
            )
            for row in rows
        ]

    def last_seq(self, owner: str) -> int:
        """The number of ``owner``'s latest sweep event; 0 if there is none."""
        row = self._db.execute(
            "SELECT MAX(seq) AS seq FROM sweep_events WHERE owner = ?", (owner,)
        ).fetchone()
        return int(row["seq"] or 0)

    def exists(self, sweep_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
        return row is not None

    def sweeps_of(self, owner: str) -> list[SweepRecord]:
        rows = self._db.execute(
            "SELECT * FROM sweeps WHERE owner = ? ORDER BY created_at DESC, rowid DESC", (owner,)
        ).fetchall()
        return [self._record(row, with_trials=False) for row in rows]

    def running(self) -> list[tuple[str, str]]:
        """(owner, sweep id) of every sweep still running: the ones to resume."""
        rows = self._db.execute(
            "SELECT owner, id FROM sweeps WHERE state = ? ORDER BY created_at",
            (SweepState.RUNNING,),
        ).fetchall()
        return [(str(row["owner"]), str(row["id"])) for row in rows]

    def request(self, owner: str, sweep_id: str) -> tuple[SweepRequest, str]:
        """The stored request and the notebook's text as the sweep started."""
        row = self._db.execute(
            "SELECT request, notebook_text FROM sweeps WHERE id = ? AND owner = ?",
            (sweep_id, owner),
        ).fetchone()
        return SweepRequest.model_validate_json(row["request"]), str(row["notebook_text"])

    def trial(self, owner: str, sweep_id: str, number: int) -> TrialRecord:
        row = self._db.execute(
            "SELECT * FROM trials WHERE sweep_id = ? AND number = ? AND owner = ?",
            (sweep_id, number, owner),
        ).fetchone()
        if row is None:  # callers pass ids they got from the store: a bug, not a request
            raise LookupError(f"no trial {number} of sweep {sweep_id} of {owner}")
        return _trial(row)

    def trials(self, owner: str, sweep_id: str) -> list[TrialRecord]:
        rows = self._db.execute(
            "SELECT * FROM trials WHERE sweep_id = ? AND owner = ? ORDER BY number",
            (sweep_id, owner),
        ).fetchall()
        return [_trial(row) for row in rows]

    def _record(self, row: sqlite3.Row, *, with_trials: bool) -> SweepRecord:
        request = SweepRequest.model_validate_json(row["request"])
        trials = self.trials(row["owner"], row["id"])
        return SweepRecord(
            id=row["id"],
            owner=row["owner"],
            name=row["name"],
            notebook=row["notebook"],
            state=SweepState(row["state"]),
            reason=row["reason"],
            message=row["message"],
            settings=request.settings,
            trial=request.trial,
            created_at=datetime.fromtimestamp(row["created_at"], UTC),
            finished_at=stored_time(row["finished_at"]),
            best=best_trial(trials, maximize=request.settings.objective.type == "maximize"),
            counts=_counts(trials),
            trials=tuple(trials) if with_trials else (),
        )


def _counts(trials: list[TrialRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for trial in trials:
        counts[trial.state] = counts.get(trial.state, 0) + 1
    return counts


def best_trial(trials: list[TrialRecord], *, maximize: bool) -> BestTrial | None:
    """The succeeded trial with the best objective (the earliest of equals)."""
    best: TrialRecord | None = None
    for trial in trials:
        if trial.state != TrialState.SUCCEEDED or trial.objective is None:
            continue
        if best is None or (
            trial.objective > best.objective if maximize else trial.objective < best.objective  # type: ignore[operator]
        ):
            best = trial
    if best is None or best.objective is None:
        return None
    return BestTrial(number=best.number, parameters=best.parameters, objective=best.objective)


def _trial(row: sqlite3.Row) -> TrialRecord:
    return TrialRecord(
        number=row["number"],
        job_id=row["job_id"],
        parameters=json.loads(row["parameters"]),
        state=TrialState(row["state"]),
        message=row["message"],
        reports=json.loads(row["reports"]),
        objective=row["objective"],
        early_stopped=bool(row["early_stopped"]),
        created_at=datetime.fromtimestamp(row["created_at"], UTC),
        finished_at=stored_time(row["finished_at"]),
    )
