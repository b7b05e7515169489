"""``SweepRun``: one sweep driven to its end on the server's event loop.

The search is an Optuna study in memory, rebuilt from the sweep store each
time a run starts (a new sweep, or a sweep resumed after a server restart):
finished trials are added with their results (``study.add_trial``), and
trials that were chosen but not finished are asked again with their stored
values (``study.enqueue_trial``), so a restart neither loses nor repeats a
trial. Each trial:

1. is asked of the study and stored (``Pending``) *before* its job exists;
2. is submitted through :class:`~mofang_lab.backends.base.JobBackend` with the
   idempotency key ``<sweep id>-<trial number>``: submitting again after a
   restart returns the job already started;
3. has its main replica's log followed and parsed with
   :func:`~mofang_lab.sweeps.metrics.parse_metrics`, each report stored;
4. is stopped (its job cancelled, the trial ``EarlyStopped``, Optuna told
   ``PRUNED``) when ``medianstop`` or the algorithm's pruner says so;
5. ends with its best objective report, or ``Failed`` without any.

Up to ``parallel_trials`` run at once and ``max_trials`` in all; the sweep ends
as described in :mod:`mofang_lab.sweeps.records`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mofang_lab.backends.base import JobBackend
from mofang_lab.jobs.states import JobState
from mofang_lab.jobs.submission import PreparedJob
from mofang_lab.sweeps.algorithms import create_search, distributions, grid_size, suggest
from mofang_lab.sweeps.early_stopping import median_threshold, should_stop
from mofang_lab.sweeps.metrics import parse_metrics
from mofang_lab.sweeps.records import SweepState, TrialRecord, TrialState
from mofang_lab.sweeps.request import SweepRequest
from mofang_lab.sweeps.store import SweepStore, best_trial
from mofang_spawner.errors import ConflictError, MofangError

if TYPE_CHECKING:
    import optuna

__all__ = ["Prepare", "SweepRun"]

#: Makes the job of trial ``number`` with these parameter values.
Prepare = Callable[[int, dict[str, Any]], PreparedJob]

_Ending = tuple[SweepState, str, str]


class SweepRun:
    """Runs one sweep: asks for trials, runs them as jobs, records how they went."""

    def __init__(
        self,
        *,
        owner: str,
        sweep_id: str,
        store: SweepStore,
        backend: JobBackend,
        prepare: Prepare,
        log: logging.Logger | logging.LoggerAdapter[Any],
    ) -> None:
        self.owner = owner
        self.sweep_id = sweep_id
        self._store = store
        self._backend = backend
        self._prepare = prepare
        self._log = log
        request, _text = store.request(owner, sweep_id)
        self._request: SweepRequest = request
        self._settings = request.settings
        self._live: dict[int, optuna.trial.Trial] = {}
        self._ending: _Ending | None = None
        self._wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self._study: optuna.Study

    # --- control ------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        self.task = asyncio.create_task(self.run(), name=f"sweep {self.sweep_id}")
        return self.task

    async def cancel(self) -> None:
        """End the sweep as Cancelled: its running trials' jobs are cancelled first."""
        self._end(SweepState.CANCELLED, "Cancelled", "Cancelled by its owner.")
        if self.task is not None:
            await asyncio.shield(self.task)

    def _end(self, state: SweepState, reason: str, message: str) -> None:
        if self._ending is None:
            self._ending = (state, reason, message)
        self._wake.set()

    # --- the sweep ----------------------------------------------------------------

    async def run(self) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler, pruner = create_search(self._settings)
        direction = self._settings.objective.type
        self._study = optuna.create_study(direction=direction, sampler=sampler, pruner=pruner)
        tasks: dict[asyncio.Task[None], int] = {}
        for trial in self._store.trials(self.owner, self.sweep_id):
            if trial.state.terminal:
                self._add_finished(trial)
            else:
                self._live[trial.number], _values = self._ask(trial.parameters)
                tasks[self._start_trial(trial.number)] = trial.number
        try:
            await self._loop(tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(self, tasks: dict[asyncio.Task[None], int]) -> None:
        limit = self._settings.max_trials
        if self._settings.algorithm.name == "grid":
            limit = min(limit, grid_size(self._settings.parameters))
        while True:
            trials = self._store.trials(self.owner, self.sweep_id)
            self._check_outcome(trials, limit)
            if self._ending is not None:
                await self._stop_trials(tasks)
                state, reason, message = self._ending
                self._store.set_state(
                    self.owner, self.sweep_id, state, reason=reason, message=message
                )
                self._log.info("Sweep %s of %s: %s (%s)", self.sweep_id, self.owner, state, reason)
                return
            created = len(trials)
            while len(tasks) < self._settings.parallel_trials and created < limit:
                live, values = self._ask(None)
                self._store.add_trial(self.owner, self.sweep_id, created, values)
                self._live[created] = live
                tasks[self._start_trial(created)] = created
                created += 1
            self._wake.clear()
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({*tasks, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waker.cancel()
            for task in [t for t in tasks if t.done()]:
                del tasks[task]

    def _check_outcome(self, trials: list[TrialRecord], limit: int) -> None:
        objective = self._settings.objective
        failed = sum(1 for t in trials if t.state == TrialState.FAILED)
        if failed > self._settings.max_failed_trials:
            self._end(
                SweepState.FAILED,
                "MaxFailedTrialsExceeded",
                f"{failed} trials failed; the sweep allows {self._settings.max_failed_trials} "
                "(max_failed_trials). The failed trials' job logs say why.",
            )
            return
        best = best_trial(trials, maximize=objective.type == "maximize")
        if (
            best is not None
            and objective.goal is not None
            and not objective.better(objective.goal, best.objective)
        ):
            self._end(
                SweepState.SUCCEEDED,
                "GoalReached",
                f"Trial {best.number} reached the goal: {objective.metric}={best.objective}.",
            )
            return
        if len(trials) >= limit and all(t.state.terminal for t in trials):
            found = (
                f" Best: trial {best.number}, {objective.metric}={best.objective}." if best else ""
            )
            self._end(
                SweepState.SUCCEEDED, "MaxTrialsReached", f"{len(trials)} trials done.{found}"
            )

    async def _stop_trials(self, tasks: dict[asyncio.Task[None], int]) -> None:
        """Cancel the jobs of the trials still running and wait until they are recorded."""
        for number in tasks.values():
            job_id = self._store.trial(self.owner, self.sweep_id, number).job_id
            if job_id is not None:
                await self._cancel_job(job_id)
        # A trial being submitted is not interrupted (its job could start unrecorded):
        # it cancels its own job once recorded, seeing that the sweep is ending.
        await asyncio.gather(*tasks, return_exceptions=True)
        tasks.clear()

    # --- the study ----------------------------------------------------------------

    def _ask(self, values: dict[str, Any] | None) -> tuple[optuna.trial.Trial, dict[str, Any]]:
        """A new trial of the study; with ``values``, a stored trial asked again."""
        if values is not None:
            self._study.enqueue_trial(values, skip_if_exists=False)
        live = self._study.ask()
        return live, suggest(live, self._settings.parameters)

    def _add_finished(self, trial: TrialRecord) -> None:
        import optuna

        states = optuna.trial.TrialState
        if trial.state == TrialState.SUCCEEDED:
            state, value = states.COMPLETE, trial.objective
        elif trial.state == TrialState.EARLY_STOPPED:
            state, value = states.PRUNED, None
        else:
            state, value = states.FAIL, None
        try:
            self._study.add_trial(
                optuna.trial.create_trial(
                    params=trial.parameters,
                    distributions=distributions(self._settings.parameters),
                    value=value,
                    state=state,
                )
            )
        except ValueError:  # values from an older search space: the sampler goes without it
            self._log.warning("Sweep %s: trial %s not given to the search", self.sweep_id, trial)

    def _tell(self, number: int, state: TrialState, objective: float | None) -> None:
        import optuna

        live = self._live.pop(number, None)
        if live is None:
            return
        states = optuna.trial.TrialState
        try:
            if state == TrialState.SUCCEEDED:
                self._study.tell(live, objective)
            elif state == TrialState.EARLY_STOPPED:
                self._study.tell(live, state=states.PRUNED)
            else:
                self._study.tell(live, state=states.FAIL)
        except RuntimeError:
            # GridSampler calls study.stop() once the grid is done, which only works
            # inside study.optimize(); the sweep counts its trials itself.
            pass

    # --- one trial ----------------------------------------------------------------

    def _start_trial(self, number: int) -> asyncio.Task[None]:
        return asyncio.create_task(self._guarded_trial(number), name=f"trial {number}")

    async def _guarded_trial(self, number: int) -> None:
        try:
            await self._run_trial(number)
        except asyncio.CancelledError:
            raise
        except MofangError as exc:
            self._finish(number, TrialState.FAILED, {}, f"Its job could not start: {exc}")
        except Exception as exc:
            self._log.exception("Sweep %s: trial %s failed unexpectedly", self.sweep_id, number)
            self._finish(number, TrialState.FAILED, {}, f"Unexpected error: {exc}")
        finally:
            self._wake.set()

    async def _run_trial(self, number: int) -> None:
        trial = self._store.trial(self.owner, self.sweep_id, number)
        job_id = trial.job_id
        if job_id is None:
            prepared = self._prepare(number, dict(trial.parameters))
            result = await self._backend.submit(self.owner, prepared)
            job_id = result.job.id
            trial = self._store.update_trial(
                self.owner, self.sweep_id, number, job_id=job_id, state=TrialState.RUNNING
            )
            if self._ending is not None:
                await self._cancel_job(job_id)
        objective = self._settings.objective
        metrics = [objective.metric, *objective.additional_metrics]
        reports: dict[str, list[float]] = {name: [] for name in metrics}
        stopped = trial.early_stopped
        if stopped:  # the server stopped while stopping it: make sure it stops
            await self._cancel_job(job_id)
        chunks = await self._backend.logs(self.owner, job_id, None, follow=True)
        pending = ""
        try:
            async for chunk in chunks:
                *lines, pending = (pending + chunk).split("\n")
                if lines and self._take(number, lines, metrics, reports) and not stopped:
                    stopped = await self._stop_early(number, job_id, reports)
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        if pending:
            self._take(number, [pending], metrics, reports)
        job = await self._backend.get(self.owner, job_id)
        values = reports[objective.metric]
        best = (max(values) if objective.type == "maximize" else min(values)) if values else None
        if stopped and job.state == JobState.CANCELLED:
            self._finish(number, TrialState.EARLY_STOPPED, reports, "Stopped early.", best)
        elif job.state == JobState.CANCELLED and self._ending is not None:
            self._finish(number, TrialState.CANCELLED, reports, "Cancelled with its sweep.", best)
        elif job.state == JobState.SUCCEEDED and best is not None:
            self._finish(number, TrialState.SUCCEEDED, reports, "", best)
        elif job.state == JobState.SUCCEEDED:
            self._finish(
                number,
                TrialState.FAILED,
                reports,
                f"It never reported {objective.metric}; print '{objective.metric}=VALUE' "
                f"lines (mofang_lab.sweeps.report({objective.metric}=...)).",
            )
        else:
            detail = job.message or job.reason or str(job.state)
            self._finish(number, TrialState.FAILED, reports, f"Its job ended {job.state}: {detail}")

    def _take(
        self, number: int, lines: list[str], metrics: list[str], reports: dict[str, list[float]]
    ) -> bool:
        """Record the reports in ``lines``; whether the objective got a new one."""
        found = parse_metrics(lines, metrics)
        if not found:
            return False
        for report in found:
            reports[report.name].append(report.value)
            if report.name == metrics[0] and number in self._live:
                self._live[number].report(report.value, len(reports[metrics[0]]))
        self._store.update_trial(self.owner, self.sweep_id, number, reports=reports)
        return any(report.name == metrics[0] for report in found)

    async def _stop_early(self, number: int, job_id: str, reports: dict[str, list[float]]) -> bool:
        objective = self._settings.objective
        values = reports[objective.metric]
        stop = False
        rule = self._settings.early_stopping
        if rule is not None:
            succeeded = [
                t.reports.get(objective.metric, [])
                for t in self._store.trials(self.owner, self.sweep_id)
                if t.state == TrialState.SUCCEEDED
            ]
            stop = should_stop(values, median_threshold(succeeded, rule), rule, objective)
        live = self._live.get(number)
        if not stop and live is not None:
            stop = live.should_prune()  # the algorithm's own pruner (hyperband)
        if not stop:
            return False
        self._store.update_trial(self.owner, self.sweep_id, number, early_stopped=True)
        await self._cancel_job(job_id)
        return True

    async def _cancel_job(self, job_id: str) -> None:
        # A job that finished meanwhile is a conflict: its own end is recorded.
        with contextlib.suppress(ConflictError):
            await self._backend.cancel(self.owner, job_id)

    def _finish(
        self,
        number: int,
        state: TrialState,
        reports: dict[str, list[float]],
        message: str,
        objective: float | None = None,
    ) -> None:
        fields: dict[str, Any] = {
            "state": state,
            "message": message,
            "objective": objective,
            # A trial that finished before the stop took effect was not stopped.
            "early_stopped": state == TrialState.EARLY_STOPPED,
        }
        if reports:
            fields["reports"] = reports
        self._store.update_trial(self.owner, self.sweep_id, number, **fields)
        self._tell(number, state, objective)
