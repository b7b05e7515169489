"""``SweepService``: the server's sweeps, run on the configured job backend.

The server extension creates one, beside the job backend, and the REST
handlers call it. It checks a sweep request completely before anything is
stored or started (the notebook, that every searched parameter is a variable
of its ``parameters`` cell, the algorithm's settings, the trial template, that
the backend can run the trial's job), stores the sweep with a copy of the
notebook as it is now (every trial runs the same code, whatever is edited
later), and runs it as a :class:`~mofang_lab.sweeps.runner.SweepRun`. When the
server starts it resumes the sweeps that were running; trials are jobs, which
outlive the server, so a restart only pauses the search.

It talks to :class:`~mofang_lab.backends.base.JobBackend` only, so sweeps run
on whichever backend the server uses. A backend may pair with another sweep
service instead (the Kubernetes backend: :mod:`mofang_lab.sweeps.cluster`,
where Katib searches); that one subclasses this class and replaces the steps
between the checks and the records (:meth:`SweepService._check`,
:meth:`SweepService._launch`, following and cancelling), so both answer alike.

A request with an idempotency key this owner already used answers the sweep
made the first time and starts nothing (the same key with another request is
a conflict), as job submissions do. Every state change of a sweep or a trial
is stored as a :class:`~mofang_lab.sweeps.records.SweepEvent`; :meth:`events`
follows them for the event stream.
"""

from __future__ import annotations

import asyncio
import builtins
import os
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from traitlets import Instance, Unicode
from traitlets.config import LoggingConfigurable

from mofang_lab.backends.base import JobBackend
from mofang_lab.environment import load_plan
from mofang_lab.jobs.ids import new_job_id
from mofang_lab.jobs.request import build_spec
from mofang_lab.jobs.snapshot import snapshot_notebook
from mofang_lab.jobs.submission import (
    PreparedJob,
    read_notebook,
    read_only_area,
    resolve_notebook,
)
from mofang_lab.sqlite_store import EVENTS_PAGE
from mofang_lab.sweeps.algorithms import LOCAL_SETTINGS, create_search
from mofang_lab.sweeps.notebook import (
    apply_values,
    cell_values,
    parameter_variables,
    reported_metrics,
    suggest_search,
)
from mofang_lab.sweeps.records import SweepEvent, SweepRecord, SweepState
from mofang_lab.sweeps.request import SweepRequest, trial_request
from mofang_lab.sweeps.runner import Prepare, SweepRun
from mofang_lab.sweeps.spec import CategoricalParameter, DiscreteParameter, Parameter
from mofang_lab.sweeps.store import SweepStore
from mofang_spawner.errors import ConflictError, InvalidRequestError, NotFoundError, PolicyError

__all__ = ["CheckedSweep", "SweepService"]


@dataclass(frozen=True)
class CheckedSweep:
    """A sweep request that passed every check, with what was read and chosen for it."""

    request: SweepRequest
    text: str = field(repr=False)  # the notebook as it is now: every trial runs this
    notebook: str  # relative to the user's files
    name: str
    sweep_id: str
    example: PreparedJob  # a trial's job with example values (refused if it cannot run)
    objects: tuple[dict[str, Any], ...] = ()  # what a cluster would be asked to create


class SweepService(LoggingConfigurable):
    """Creates, runs, resumes and answers for the sweeps of this server's users."""

    store_path = Unicode(
        ".mofang/sweeps.sqlite",
        config=True,
        help="""The SQLite sweep store. A relative path is inside the server's root
        directory (the user's private storage), beside the job store, so sweeps survive
        a server restart. Put it on a local disk: SQLite's locking is unreliable on
        network file systems.""",
    )

    backend = Instance(
        "mofang_lab.backends.base.JobBackend",
        help="The job backend that runs trials (set by the extension).",
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._store: SweepStore | None = None
        self._runs: dict[str, SweepRun] = {}
        self._started = False
        self._owner_locks: dict[str, asyncio.Lock] = {}
        # Replaced on each change: a stream waits on the one it took before reading.
        self._changed = asyncio.Event()

    @property
    def root(self) -> Path:
        backend: JobBackend = self.backend
        return backend.root

    @property
    def store(self) -> SweepStore:
        """The store, created on first use: a user who never sweeps gets no file."""
        if self._store is None:
            self._store = SweepStore(self.root / self.store_path, notify=self._changed_now)
            self._changed_now()  # streams waiting for the first sweep read the new store
        return self._store

    def _changed_now(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Resume the sweeps that were running when the server stopped."""
        if self._started:
            return
        self._started = True
        if not (self.root / self.store_path).exists():
            return
        await self.backend.start()  # the trials' jobs are taken up before their sweeps
        for owner, sweep_id in self.store.running():
            self.log.info("Resuming sweep %s of %s", sweep_id, owner)
            self._run(owner, sweep_id)

    async def stop(self) -> None:
        """Stop driving sweeps (the server is stopping); their trials' jobs keep running."""
        runs, self._runs = list(self._runs.values()), {}
        tasks = [run.task for run in runs if run.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._store is not None:
            self._store.close()
            self._store = None
        self._started = False

    def _run(self, owner: str, sweep_id: str) -> None:
        request, text = self.store.request(owner, sweep_id)
        record = self.store.get(owner, sweep_id, trials=False)
        assert record is not None
        run = SweepRun(
            owner=owner,
            sweep_id=sweep_id,
            store=self.store,
            backend=self.backend,
            prepare=self._preparer(request, text, record.notebook, sweep_id, record.name),
            log=self.log,
        )
        self._runs[sweep_id] = run
        task = run.start()

        def done(task: asyncio.Task[None]) -> None:
            if self._runs.get(sweep_id) is run:
                del self._runs[sweep_id]
            if not task.cancelled() and task.exception() is not None:
                self.log.error("Sweep %s failed", sweep_id, exc_info=task.exception())
                # Left Running, it would look alive with nothing driving it.
                if self._store is not None:
                    self._store.set_state(
                        owner,
                        sweep_id,
                        SweepState.FAILED,
                        reason="InternalError",
                        message="The sweep stopped on an unexpected error; the server log "
                        "has the details. Its finished trials are kept.",
                    )

        task.add_done_callback(done)

    def _preparer(
        self, request: SweepRequest, text: str, notebook: str, sweep_id: str, name: str
    ) -> Prepare:
        plan = load_plan()
        backend_name = self.backend.name

        def prepare(number: int, values: dict[str, Any]) -> PreparedJob:
            submit = trial_request(
                request,
                notebook=notebook,
                name=f"{name}-trial-{number}",
                key=f"{sweep_id}-{number}",
                values=values,
            )
            spec = build_spec(submit, notebook=notebook, plan=plan, backend=backend_name)
            snapshot = snapshot_notebook(text, source_name=notebook, parameters=spec.parameters)
            return PreparedJob(spec=spec, snapshot=snapshot)

        return prepare

    # --- requests -------------------------------------------------------------------

    async def create(
        self, owner: str, request: SweepRequest, *, idempotency_key: str | None = None
    ) -> tuple[SweepRecord, bool] | dict[str, Any]:
        """Check ``request`` and start its sweep: the sweep, and whether it is new.

        A dry run answers what would run instead. With an ``idempotency_key``
        this owner used before, the sweep made then (``False``: nothing started).
        """
        await self.start()
        async with self._owner_locks.setdefault(owner, asyncio.Lock()):
            if idempotency_key is not None and not request.dry_run:
                found = self.store.find_by_key(owner, idempotency_key)
                if found is not None:
                    return self._same_request(found, request, idempotency_key), False
            return await self._create(owner, request, idempotency_key)

    def _same_request(
        self, found: tuple[SweepRecord, SweepRequest], request: SweepRequest, key: str
    ) -> SweepRecord:
        record, first = found
        if first != request:
            raise ConflictError(
                f"The idempotency key {key!r} was already used for sweep {record.id} with a "
                "different request; use a new key for a new sweep."
            )
        return record

    async def _create(
        self, owner: str, request: SweepRequest, idempotency_key: str | None
    ) -> tuple[SweepRecord, bool] | dict[str, Any]:
        checked = self._check(owner, request)
        if request.dry_run:
            return self._dry_run(checked)
        try:
            self.store.insert(
                sweep_id=checked.sweep_id,
                owner=owner,
                name=checked.name,
                notebook=checked.notebook,
                request=request,
                notebook_text=checked.text,
                idempotency_key=idempotency_key,
            )
        except sqlite3.IntegrityError as exc:  # the lock makes this a second server's race
            raise ConflictError(
                "A sweep with this idempotency key is being created; ask for it again."
            ) from exc
        await self._launch(owner, checked)
        return await self.get(owner, checked.sweep_id), True

    def _check(self, owner: str, request: SweepRequest) -> CheckedSweep:
        """Check ``request`` completely (nothing stored yet) and name its sweep."""
        text, relative = self._read_notebook(request.notebook)
        variables = parameter_variables(text, source_name=relative)
        unknown = [name for name in request.searched_names() if name not in variables]
        if unknown:
            raise InvalidRequestError(
                f"{relative} does not assign {', '.join(unknown)} in its cell tagged "
                f"'parameters', so a trial could not set it. That cell assigns: "
                f"{', '.join(variables) or 'nothing'}. Search those, or add the variable there."
            )
        create_search(request.settings)  # refuses algorithm settings it cannot honour
        name = request.name or PurePosixPath(relative).stem or "sweep"
        sweep_id = self._fresh_id(name)
        prepare = self._preparer(request, text, relative, sweep_id, name)
        example = prepare(0, {p.name: _example_value(p) for p in request.settings.parameters})
        self.backend.check_supported(example.spec)
        return CheckedSweep(
            request=request,
            text=text,
            notebook=relative,
            name=name,
            sweep_id=sweep_id,
            example=example,
        )

    def _dry_run(self, checked: CheckedSweep) -> dict[str, Any]:
        """What a dry run answers: the backend, the search, and a trial's job and program."""
        return {
            "backend": self.backend.name,
            "settings": checked.request.settings.model_dump(mode="json"),
            "trial": checked.example.spec.model_dump(mode="json"),
            "program": checked.example.snapshot.program,
        }

    async def _launch(self, owner: str, checked: CheckedSweep) -> None:
        """Start the sweep just stored: here, the search that submits its trials."""
        self._run(owner, checked.sweep_id)

    def _read_notebook(self, notebook: str) -> tuple[str, str]:
        """The text of ``notebook`` (in the user's files) and its relative path."""
        path, relative = resolve_notebook(notebook, self.root, plan=load_plan())
        return read_notebook(path, relative), relative

    async def describe_notebook(self, notebook: str) -> dict[str, Any]:
        """What a sweep of ``notebook`` could search: the start of the sweep dialog.

        Each variable of its ``parameters`` cell with its value and a suggested
        search (``None``: a value no parameter type can hold), the metric names
        it seems to report, and the algorithms this server runs.
        """
        text, relative = self._read_notebook(notebook)
        names = parameter_variables(text, source_name=relative)  # the clear errors
        values = cell_values(text, relative)
        return {
            "notebook": relative,
            "backend": self.backend.name,
            "parameters": [
                {
                    "name": name,
                    "value": values.get(name),
                    "search": suggest_search(name, values.get(name)),
                }
                for name in names
            ],
            "metrics": reported_metrics(text, relative),
            "algorithms": list(LOCAL_SETTINGS),
        }

    async def events(self, owner: str, *, since: int) -> AsyncIterator[SweepEvent]:
        """``owner``'s sweep events after ``since``, then new ones as they happen."""
        await self.start()
        return self._event_stream(owner, since)

    async def _event_stream(self, owner: str, since: int) -> AsyncIterator[SweepEvent]:
        last = since
        while True:
            changed = self._changed  # taken before reading, so no change is missed
            # No store file yet (nobody swept): nothing to read, and none is created.
            page: list[SweepEvent] = []
            if self._store is not None or (self.root / self.store_path).exists():
                page = self.store.events_since(owner, last)
                for event in page:
                    last = event.seq
                    yield event
            if len(page) < EVENTS_PAGE:  # a full page: more may be stored already
                await changed.wait()

    def last_event(self, owner: str) -> int:
        """The number of ``owner``'s latest sweep event (0: none): where a new stream resumes."""
        if self._store is None and not (self.root / self.store_path).exists():
            return 0
        return self.store.last_seq(owner)

    def _fresh_id(self, name: str) -> str:
        while True:
            sweep_id = new_job_id(name)
            if not self.store.exists(sweep_id):
                return sweep_id

    async def get(self, owner: str, sweep_id: str) -> SweepRecord:
        await self.start()
        record = self.store.get(owner, sweep_id)
        if record is None:
            raise NotFoundError(f"You have no sweep {sweep_id!r}; `mofang sweeps` lists yours.")
        return record

    async def list(self, owner: str) -> builtins.list[SweepRecord]:
        await self.start()
        return self.store.sweeps_of(owner)

    async def cancel(self, owner: str, sweep_id: str) -> SweepRecord:
        """End the sweep as Cancelled after cancelling its running trials."""
        record = await self.get(owner, sweep_id)
        if record.state == SweepState.CANCELLED:
            return record
        if record.state.terminal:
            raise ConflictError(
                f"Sweep {sweep_id} has already finished ({record.state}); there is nothing to "
                "cancel."
            )
        run = self._runs.get(sweep_id)
        if run is not None:
            await run.cancel()
        else:  # not driven (cannot happen after start(); kept for safety)
            self.store.set_state(
                owner, sweep_id, SweepState.CANCELLED, reason="Cancelled", message=""
            )
        return await self.get(owner, sweep_id)

    async def apply_best(self, owner: str, sweep_id: str, notebook: str) -> dict[str, Any]:
        """Write the best trial's values into ``notebook``'s cell tagged ``parameters``."""
        record = await self.get(owner, sweep_id)
        if record.best is None:
            raise ConflictError(
                f"Sweep {sweep_id} has no succeeded trial yet, so no best values; try again "
                "when one has finished."
            )
        plan = load_plan()
        path, relative = resolve_notebook(notebook, self.root, plan=plan)
        area = read_only_area(relative, plan)
        if area is not None:
            raise PolicyError(
                f"{relative} is in '{area}', which is read-only for you; copy the notebook "
                "into your own files and apply the best values to the copy."
            )
        text = read_notebook(path, relative)
        before = cell_values(text, relative)
        updated = apply_values(text, record.best.parameters, source_name=relative)
        _replace(path, updated)
        return {
            "notebook": relative,
            "trial": record.best.number,
            "objective": record.best.objective,
            "parameters": record.best.parameters,
            # What the cell held before, so a client can show what changed.
            "previous": {name: before.get(name) for name in record.best.parameters},
        }


def _example_value(p: Parameter) -> Any:
    """A value of ``p`` to check the trial template with before the search starts."""
    if isinstance(p, DiscreteParameter | CategoricalParameter):
        return p.values[0]
    return p.min


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` at once: a reader sees the old notebook or the new one."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
