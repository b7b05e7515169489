"""``KatibSweepService``: sweeps on a cluster, each one a Katib ``Experiment``.

The extension uses it when the job backend is the Kubernetes backend (the
backend names it as the sweep service it pairs with). It answers exactly as
the local :class:`~mofang_lab.sweeps.service.SweepService` does (same checks,
same records, same events, same errors), so the REST API, the magics, the CLI
and the sidebar do not change; what differs is who searches:

* **create** checks the request as the local service does, builds the
  Experiment (:func:`~mofang_lab.sweeps.katib.trial_job.sweep_experiment`,
  with the job backend's settings, namespace and the server's plan; Katib's
  admission rules refuse before anything is stored), stores the sweep, writes
  the notebook's snapshot once into ``jobs/<sweep id>/`` (fixed values
  injected; each trial gets its searched values at run time through
  ``MOFANG_PARAMETERS``), then creates the Experiment. A retried create that
  finds its own Experiment is a success; a refusal marks the sweep Failed
  with the cluster's message.
* **status** comes from the cluster: a watch of this server's Experiments,
  and on each change the Experiment and its Trials are read and mapped with
  :func:`~mofang_lab.sweeps.katib.status.sweep_record` into the sweep store,
  whose events the sidebar follows. A periodic resync catches what a watch
  cannot see (a Trial that changed while its Experiment did not). Trials keep
  the number they were first stored with, in the order Katib created them.
* **restart**: every sweep the store says is running is read back; one whose
  Experiment was never created (the server stopped in between) is created
  now, one whose Experiment is gone after it ran is Failed (``Deleted``).
* **cancel** deletes the Experiment (foreground: its Trials and their jobs
  go first) and ends the sweep, and its unfinished trials, as Cancelled.

The cluster calls go through the job backend's
:class:`~mofang_lab.backends.kubernetes.client.JobCluster`, the one module
that talks to the Kubernetes API.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import Any

from traitlets import Float

from mofang_lab.backends.kubernetes.backend import KubernetesBackend
from mofang_lab.environment import load_plan
from mofang_lab.jobs.request import build_spec
from mofang_lab.jobs.snapshot import snapshot_notebook
from mofang_lab.jobs.submission import PreparedJob
from mofang_lab.sweeps.katib.experiment import MANAGED_BY, SWEEP_LABEL, experiment_name
from mofang_lab.sweeps.katib.status import sweep_record
from mofang_lab.sweeps.katib.trial_job import sweep_experiment
from mofang_lab.sweeps.records import SweepRecord, SweepState, TrialRecord, TrialState
from mofang_lab.sweeps.request import SweepRequest, trial_request
from mofang_lab.sweeps.service import CheckedSweep, SweepService
from mofang_spawner.errors import ConflictError, MofangError, PolicyError
from mofang_spawner.kubernetes.labels import USER_LABEL
from mofang_spawner.planning import ServerPlan, safe_name

__all__ = ["KatibSweepService"]

Obj = dict[str, Any]

#: Trial fields the cluster decides; the rest (parameters, number) are set once.
_TRIAL_FIELDS = ("job_id", "state", "message", "objective", "early_stopped")


class KatibSweepService(SweepService):
    """Runs each sweep as a Katib Experiment in the job backend's namespace."""

    resync_interval = Float(
        10.0,
        config=True,
        help="""Seconds between two reads of every running sweep's Experiment and Trials,
        besides the watch of Experiments. Lower: a trial's start shows sooner when its
        Experiment does not change; higher: fewer API calls.""",
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._plan: ServerPlan | None = load_plan()
        self._tasks: list[asyncio.Task[None]] = []
        self._sweep_locks: dict[str, asyncio.Lock] = {}

    @property
    def cluster_backend(self) -> KubernetesBackend:
        backend: KubernetesBackend = self.backend
        return backend

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Read back the sweeps that were running, then follow the cluster."""
        if self._started:
            return
        self._started = True
        await self.backend.start()
        if self._has_store():
            for owner, sweep_id in self.store.running():
                try:
                    await self._reconcile(owner, sweep_id)
                except MofangError as exc:
                    self.log.warning("Could not read back sweep %s yet: %s", sweep_id, exc)
        self._tasks = [
            asyncio.create_task(self._follow(), name="follow Experiments"),
            asyncio.create_task(self._resync(), name="resync sweeps"),
        ]

    async def stop(self) -> None:
        """Stop following the cluster; the Experiments keep running."""
        pending, self._tasks = set(self._tasks), []
        while pending:
            # Python 3.11's wait_for can swallow a cancellation that arrives as its
            # request completes (the API client's calls use it): cancel until they end.
            for task in pending:
                task.cancel()
            _done, pending = await asyncio.wait(pending, timeout=0.5)
        await super().stop()

    def _has_store(self) -> bool:
        return self._store is not None or (self.root / self.store_path).exists()

    # --- create ---------------------------------------------------------------------

    def _check(self, owner: str, request: SweepRequest) -> CheckedSweep:
        checked = super()._check(owner, request)
        if self._plan is None and not request.dry_run:
            raise PolicyError(
                "This server was not started by a Mofang hub, so there is no plan saying "
                "which storage holds your files: a sweep's trials could not read its folder. "
                "Start your server from the hub (a dry run still shows the Experiment)."
            )
        experiment, prepared = self._build(
            owner, request, checked.text, checked.notebook, checked.name, checked.sweep_id
        )
        self.backend.check_supported(prepared.spec)
        return dataclasses.replace(checked, example=prepared, objects=(experiment,))

    def _build(
        self,
        owner: str,
        request: SweepRequest,
        text: str,
        notebook: str,
        name: str,
        sweep_id: str,
    ) -> tuple[Obj, PreparedJob]:
        """The Experiment and the one snapshot its trials share (only fixed values in it)."""
        backend = self.cluster_backend
        submit = trial_request(request, notebook=notebook, name=name, key=sweep_id, values={})
        spec = build_spec(submit, notebook=notebook, plan=self._plan, backend=backend.name)
        snapshot = snapshot_notebook(text, source_name=notebook, parameters=spec.parameters)
        experiment = sweep_experiment(
            sweep=request.settings,
            spec=spec,
            sweep_id=sweep_id,
            namespace=backend.namespace,
            owner=owner,
            plan=self._plan,
            settings=backend.settings,
        )
        return experiment, PreparedJob(spec=spec, snapshot=snapshot)

    def _dry_run(self, checked: CheckedSweep) -> dict[str, Any]:
        return {**super()._dry_run(checked), "objects": list(checked.objects)}

    async def _launch(self, owner: str, checked: CheckedSweep) -> None:
        folder = self.backend.folder(checked.sweep_id)
        try:
            folder.write(checked.example.spec, checked.example.snapshot)
        except OSError as exc:
            self._fail(owner, checked.sweep_id, "StorageError", f"The sweep's folder: {exc}")
            raise
        await self._create_experiment(owner, checked.sweep_id, checked.objects[0])

    async def _create_experiment(self, owner: str, sweep_id: str, experiment: Obj) -> None:
        cluster = self.cluster_backend.cluster
        name = experiment["metadata"]["name"]
        try:
            await cluster.create_experiment(experiment)
        except ConflictError:
            # A create that timed out but happened: the Experiment is ours if it says so.
            found = await cluster.read_experiment(name) or {}
            if _sweep_id_of(found) != sweep_id:
                self._fail(owner, sweep_id, "NameTaken", f"An Experiment named {name} exists.")
                raise
        except MofangError as exc:
            self._fail(owner, sweep_id, "CreateFailed", str(exc))
            raise

    def _fail(self, owner: str, sweep_id: str, reason: str, message: str) -> None:
        self.store.set_state(owner, sweep_id, SweepState.FAILED, reason=reason, message=message)

    # --- cancel ---------------------------------------------------------------------

    async def cancel(self, owner: str, sweep_id: str) -> SweepRecord:
        """Delete the sweep's Experiment (its Trials and their jobs first); it is Cancelled."""
        await self.get(owner, sweep_id)  # 404 before anything else
        async with self._lock(sweep_id):
            record = await self.get(owner, sweep_id)
            if record.state == SweepState.CANCELLED:
                return record
            if record.state.terminal:
                raise ConflictError(
                    f"Sweep {sweep_id} has already finished ({record.state}); there is nothing "
                    "to cancel."
                )
            await self.cluster_backend.cluster.delete_experiment(experiment_name(sweep_id))
            for trial in record.trials:
                if not trial.state.terminal:
                    self.store.update_trial(
                        owner,
                        sweep_id,
                        trial.number,
                        state=TrialState.CANCELLED,
                        message="Cancelled with its sweep.",
                    )
            self.store.set_state(
                owner, sweep_id, SweepState.CANCELLED, reason="Cancelled", message=""
            )
        return await self.get(owner, sweep_id)

    # --- status from the cluster ----------------------------------------------------

    def _lock(self, sweep_id: str) -> asyncio.Lock:
        return self._sweep_locks.setdefault(sweep_id, asyncio.Lock())

    def _selector(self) -> str:
        selector = "=".join(MANAGED_BY)
        if self._plan is not None:
            selector += f",{USER_LABEL}={safe_name(self._plan.user)}"
        return selector

    async def _follow(self) -> None:
        """Sync a sweep whenever its Experiment changes; watch again after a failure."""
        while True:
            try:
                cluster = self.cluster_backend.cluster
                async for _kind, experiment in cluster.watch_experiments(self._selector()):
                    annotations = (experiment.get("metadata") or {}).get("annotations") or {}
                    sweep_id, owner = annotations.get(SWEEP_LABEL), annotations.get(USER_LABEL)
                    if sweep_id and owner and self._has_store():
                        # A DELETED event's object is stale: read it again.
                        await self._sync(owner, sweep_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.log.warning("Watch of sweeps' Experiments failed (%s); watching again", exc)
            await asyncio.sleep(self.resync_interval)

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.resync_interval)
            if not self._has_store():
                continue
            for owner, sweep_id in self.store.running():
                try:
                    await self._sync(owner, sweep_id)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.log.warning("Could not read sweep %s from the cluster: %s", sweep_id, exc)

    async def _reconcile(self, owner: str, sweep_id: str) -> None:
        """After a restart: create an Experiment never created, else sync the sweep."""
        name = experiment_name(sweep_id)
        if await self.cluster_backend.cluster.read_experiment(name) is not None:
            await self._sync(owner, sweep_id)
            return
        if self.store.trials(owner, sweep_id):
            await self._sync(owner, sweep_id)  # it ran, and is gone: Failed (Deleted)
            return
        self.log.info("Creating the Experiment of sweep %s, which the server did not", sweep_id)
        request, text = self.store.request(owner, sweep_id)
        record = self.store.get(owner, sweep_id, trials=False)
        assert record is not None
        experiment, prepared = self._build(
            owner, request, text, record.notebook, record.name, sweep_id
        )
        folder = self.backend.folder(sweep_id)
        if not folder.path.exists():
            folder.write(prepared.spec, prepared.snapshot)
        with contextlib.suppress(MofangError):  # recorded on the sweep by the create
            await self._create_experiment(owner, sweep_id, experiment)

    async def _sync(self, owner: str, sweep_id: str) -> None:
        """Write the sweep's Experiment and Trials, as the cluster has them now, to the store."""
        async with self._lock(sweep_id):
            record = self.store.get(owner, sweep_id)
            if record is None or record.state.terminal:
                return
            cluster = self.cluster_backend.cluster
            name = experiment_name(sweep_id)
            experiment = await cluster.read_experiment(name)
            if experiment is None or (experiment.get("metadata") or {}).get("deletionTimestamp"):
                self._gone(owner, record)
                return
            trials = await cluster.trials(name)
            read = sweep_record(
                experiment=experiment,
                trials=trials,
                sweep_id=sweep_id,
                owner=owner,
                name=record.name,
                notebook=record.notebook,
                settings=record.settings,
                trial_template=record.trial,
            )
            self._store_trials(owner, sweep_id, record.trials, read.trials)
            if read.state.terminal:
                self.store.set_state(
                    owner, sweep_id, read.state, reason=read.reason, message=read.message
                )
                self.log.info("Sweep %s of %s: %s (%s)", sweep_id, owner, read.state, read.reason)

    def _store_trials(
        self,
        owner: str,
        sweep_id: str,
        stored: tuple[TrialRecord, ...],
        read: tuple[TrialRecord, ...],
    ) -> None:
        by_job = {t.job_id: t for t in stored}
        number = len(stored)
        for trial in read:  # in the order Katib created them: new ones get the next numbers
            current = by_job.get(trial.job_id)
            if current is None:
                current = self.store.add_trial(owner, sweep_id, number, dict(trial.parameters))
                number += 1
            if current.state.terminal:
                continue
            fields = {k: getattr(trial, k) for k in _TRIAL_FIELDS}
            if any(getattr(current, k) != v for k, v in fields.items()):
                self.store.update_trial(owner, sweep_id, current.number, **fields)

    def _gone(self, owner: str, record: SweepRecord) -> None:
        for trial in record.trials:
            if not trial.state.terminal:
                self.store.update_trial(
                    owner,
                    record.id,
                    trial.number,
                    state=TrialState.CANCELLED,
                    message="Its Experiment was deleted from the cluster.",
                )
        self._fail(
            owner,
            record.id,
            "Deleted",
            "The sweep's Experiment was deleted from the cluster while it ran; its finished "
            "trials are kept.",
        )


def _sweep_id_of(experiment: Obj) -> str | None:
    annotations = (experiment.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(SWEEP_LABEL)
    return str(value) if value else None
