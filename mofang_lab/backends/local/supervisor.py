"""The supervisor of one local job: starts its replicas, watches them, decides how it ends.

One :class:`JobRun` per job that is not finished, with one asyncio task that
is the only writer of the job's state. It follows the Training Operator's
rules:

* a replica that exits 0 has succeeded; the job succeeds when its Master /
  Chief / Launcher (the python job's Worker; a TensorFlow job without a Chief:
  all its Workers) has;
* a replica that fails is started again if the restart policy says so
  (``OnFailure``: always; ``ExitCode``: for exit codes 128-255 and lost
  processes; ``Never``: never) and the job has restarts left
  (``backoff_limit``); the job is ``Restarting`` meanwhile. Otherwise the job
  has failed;
* past ``timeout_seconds`` the job fails with reason ``DeadlineExceeded``;
* cancelling stops it with state ``Cancelled``.

However the job ends, every replica still running is stopped first (SIGTERM
to its process group, SIGKILL after the grace period; parameter servers never
exit by themselves), so a job reported finished has no process left.

Replicas are watched by polling (``poll_interval``): the same code then
follows processes this server started and processes it took up again after a
restart, which are not its children.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping

from mofang_lab.backends.local import processes
from mofang_lab.backends.local.contract import Launch
from mofang_lab.backends.local.runner import start_ticks
from mofang_lab.backends.store import JobStore, ReplicaRuntime
from mofang_lab.jobs.folder import JobFolder
from mofang_lab.jobs.spec import MAIN_ROLE, JobSpec
from mofang_lab.jobs.states import JobState, ReplicaState

__all__ = ["JobRun", "RunSettings"]


class RunSettings:
    """What every job's supervisor shares: executables, timings, the base environment."""

    def __init__(
        self,
        *,
        python: str,
        poll_interval: float,
        stop_grace_seconds: float,
        base_env: Mapping[str, str],
        notify: Callable[[], None],
    ) -> None:
        self.python = python
        self.poll_interval = poll_interval
        self.stop_grace_seconds = stop_grace_seconds
        self.base_env = dict(base_env)
        self.notify = notify


class _Replica:
    """A replica's runtime state, owned by its JobRun."""

    def __init__(self, launch: Launch, runtime: ReplicaRuntime, restarts: int) -> None:
        self.launch = launch
        self.name = launch.replica
        self.state = runtime.state
        self.attempt = runtime.attempt
        self.pid = runtime.pid
        self.start_ticks = runtime.start_ticks
        self.restarts = restarts
        self.popen: subprocess.Popen[bytes] | None = None
        self.unwatch: Callable[[], None] | None = None


class JobRun:
    """Starts, watches and stops the replicas of one job."""

    def __init__(
        self,
        *,
        job_id: str,
        spec: JobSpec,
        folder: JobFolder,
        display_folder: str,
        launches: list[Launch],
        store: JobStore,
        settings: RunSettings,
        started_at: float | None,
        restarts: int,
    ) -> None:
        self.job_id = job_id
        self.spec = spec
        self.folder = folder
        self.display_folder = display_folder
        self.store = store
        self.settings = settings
        self.started_at = started_at
        self.restarts = restarts
        runtime = store.runtime(job_id)
        record = {r.name: r for r in store.record(job_id).replicas}
        self.replicas = {
            launch.replica: _Replica(
                launch, runtime[launch.replica], record[launch.replica].restarts
            )
            for launch in launches
        }
        self._outcome: tuple[JobState, str, str] | None = None
        self._wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    # --- starting -------------------------------------------------------------------

    def adopt_from_files(self) -> None:
        """After a server restart: believe the runners' state files over the store.

        The server may have stopped between starting a replica and recording it;
        the runner's file, written by the replica itself, says what really runs.
        """
        for replica in self.replicas.values():
            if not replica.launch.managed or replica.state.finished:
                continue
            state = processes.read_state(self.folder.run_state(replica.name))
            if state is None or state.attempt < replica.attempt:
                continue
            if state.attempt > replica.attempt or replica.state == ReplicaState.PENDING:
                replica.attempt = state.attempt
                replica.pid = state.pid
                replica.start_ticks = state.start_ticks
                replica.state = ReplicaState.RUNNING
                self._notice_exit(replica)
                self.store.set_replica(
                    self.job_id,
                    replica.name,
                    state=replica.state,
                    pid=state.pid,
                    start_ticks=state.start_ticks,
                    attempt=state.attempt,
                )
        for replica in self.replicas.values():
            if replica.state == ReplicaState.RUNNING and replica.unwatch is None:
                self._notice_exit(replica)

    def start_pending(self) -> None:
        """Start the replicas a restart was decided for but that never started."""
        for replica in self.replicas.values():
            if replica.launch.managed and replica.state == ReplicaState.PENDING:
                self._start(replica)

    def start_replicas(self) -> None:
        """Start every managed replica that is not running, then mark the job Running."""
        for replica in self.replicas.values():
            if replica.launch.managed and replica.state == ReplicaState.PENDING:
                self._start(replica)
        self._mirror_mpi_workers()
        self.started_at = self.started_at or time.time()
        self._set_state(JobState.RUNNING)

    def _start(self, replica: _Replica) -> None:
        replica.attempt += 1
        log = self.folder.log(replica.name)
        env = {**self.settings.base_env, **replica.launch.env}
        inherited = self.settings.base_env.get("PYTHONPATH")
        if inherited:
            env["PYTHONPATH"] = os.pathsep.join((replica.launch.env["PYTHONPATH"], inherited))
        try:
            replica.popen = processes.spawn(
                replica.launch.argv,
                state_file=self.folder.run_state(replica.name),
                attempt=replica.attempt,
                python=self.settings.python,
                cwd=self.folder.path,
                env=env,
                log=log,
            )
        except OSError as exc:
            replica.state = ReplicaState.FAILED
            self.store.set_replica(
                self.job_id, replica.name, state=replica.state, message=f"cannot start: {exc}"
            )
            self._fail_once(f"{replica.name} could not be started: {exc}", "StartError")
            return
        replica.pid = replica.popen.pid
        replica.start_ticks = start_ticks(replica.pid)
        replica.state = ReplicaState.RUNNING
        self._notice_exit(replica)
        self.store.set_replica(
            self.job_id,
            replica.name,
            state=replica.state,
            pid=replica.pid,
            start_ticks=replica.start_ticks,
            attempt=replica.attempt,
            restarts=replica.restarts,
            exit_code=None,
            message="",
        )

    # --- watching -------------------------------------------------------------------

    def _notice_exit(self, replica: _Replica) -> None:
        if replica.unwatch is not None:
            replica.unwatch()
        replica.unwatch = (
            processes.on_exit(replica.pid, self._wake.set) if replica.pid is not None else None
        )

    def watch(self) -> asyncio.Task[None]:
        self.task = asyncio.get_running_loop().create_task(self._supervise())
        return self.task

    async def cancel(self) -> None:
        """Stop the job as Cancelled and return when nothing of it runs any more."""
        if self._outcome is None:
            self._outcome = (JobState.CANCELLED, "Cancelled", "Cancelled by its owner.")
        self._wake.set()
        if self.task is not None:
            await asyncio.shield(self.task)

    async def _supervise(self) -> None:
        try:
            await self._supervise_until_finished()
        finally:
            for replica in self.replicas.values():
                if replica.unwatch is not None:
                    replica.unwatch()
                    replica.unwatch = None

    async def _supervise_until_finished(self) -> None:
        while self._outcome is None:
            self._check_replicas()
            self._check_deadline()
            if self._outcome is not None:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_interval)
            self._wake.clear()
        state, reason, message = self._outcome
        await self._stop_running()
        self._set_state(state, reason=reason, message=message)

    def _check_replicas(self) -> None:
        for replica in self.replicas.values():
            if not replica.launch.managed or replica.state != ReplicaState.RUNNING:
                continue
            exited, code = self._exit_of(replica)
            if not exited:
                continue
            replica.popen = None
            if code == 0:
                replica.state = ReplicaState.SUCCEEDED
                self.store.set_replica(self.job_id, replica.name, state=replica.state, exit_code=0)
            elif self._may_restart(code):
                self._restart(replica, code)
            else:
                self._record_failure(replica, code)
        self._mirror_mpi_workers()
        if self._outcome is None and self._succeeded():
            main = self.spec.main_replica
            self._outcome = (JobState.SUCCEEDED, "", f"{main} finished successfully.")

    def _exit_of(self, replica: _Replica) -> tuple[bool, int | None]:
        """(has it exited, its exit code or None when nobody knows)."""
        if replica.popen is not None:
            returncode = replica.popen.poll()
            if returncode is None:
                return False, None
        elif replica.pid is not None and processes.alive(replica.pid, replica.start_ticks):
            return False, None
        state = processes.read_state(self.folder.run_state(replica.name))
        if state is not None and state.attempt == replica.attempt and state.exit_code is not None:
            return True, state.exit_code
        if replica.popen is not None and replica.popen.returncode is not None:
            returncode = replica.popen.returncode
            return True, 128 - returncode if returncode < 0 else returncode
        return True, None  # vanished while the server was down

    def _may_restart(self, code: int | None) -> bool:
        policy = self.spec.restart_policy
        if policy == "Never" or self.restarts >= self.spec.backoff_limit:
            return False
        return policy == "OnFailure" or code is None or code >= 128

    def _restart(self, replica: _Replica, code: int | None) -> None:
        self.restarts += 1
        replica.restarts += 1
        what = _exit_words(code)
        self._set_state(
            JobState.RESTARTING,
            reason="ReplicaRestarting",
            message=f"{replica.name} {what}; restart {self.restarts} of {self.spec.backoff_limit}.",
        )
        with self.folder.log(replica.name).open("a") as log:
            log.write(
                f"\n[mofang] {replica.name} {what}; restarting it (attempt {replica.attempt + 1})\n"
            )
        self._start(replica)
        if replica.state == ReplicaState.RUNNING:
            self._set_state(JobState.RUNNING, message=f"{replica.name} restarted.")

    def _record_failure(self, replica: _Replica, code: int | None) -> None:
        replica.state = ReplicaState.FAILED
        what = _exit_words(code)
        self.store.set_replica(
            self.job_id, replica.name, state=replica.state, exit_code=code, message=what
        )
        after = f" after {self.restarts} restarts" if self.restarts else ""
        log = f"{self.display_folder}/logs/{replica.name}.log"
        self._fail_once(f"{replica.name} {what}{after}; see its log {log}.", "ReplicaFailed")

    def _fail_once(self, message: str, reason: str) -> None:
        if self._outcome is None:
            self._outcome = (JobState.FAILED, reason, message)
            self._wake.set()

    def _succeeded(self) -> bool:
        main_role = MAIN_ROLE[self.spec.kind]
        if main_role not in self.spec.roles:  # a TensorFlow job without a Chief
            workers = [r for r in self.replicas.values() if r.launch.type == "Worker"]
            return all(r.state == ReplicaState.SUCCEEDED for r in workers)
        return self.replicas[self.spec.main_replica].state == ReplicaState.SUCCEEDED

    def _check_deadline(self) -> None:
        timeout = self.spec.timeout_seconds
        if (
            self._outcome is None
            and timeout is not None
            and self.started_at is not None
            and time.time() > self.started_at + timeout
        ):
            self._outcome = (
                JobState.FAILED,
                "DeadlineExceeded",
                f"The job ran longer than its timeout of {timeout:g} s and was stopped.",
            )

    def _mirror_mpi_workers(self) -> None:
        # MPI Workers are the ranks the Launcher's mpirun starts: they live and end with it.
        if self.spec.kind != "mpi":
            return
        launcher = self.replicas["launcher-0"]
        for replica in self.replicas.values():
            if not replica.launch.managed and replica.state != launcher.state:
                replica.state = launcher.state
                self.store.set_replica(self.job_id, replica.name, state=replica.state)

    # --- stopping -------------------------------------------------------------------

    async def _stop_running(self) -> None:
        running = [
            r
            for r in self.replicas.values()
            if r.launch.managed and r.state == ReplicaState.RUNNING and r.pid is not None
        ]
        for replica in running:
            assert replica.pid is not None
            processes.signal_group(replica.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.stop_grace_seconds
        while time.monotonic() < deadline and any(not self._exit_of(r)[0] for r in running):
            await asyncio.sleep(0.05)
        for replica in running:
            assert replica.pid is not None
            # Whatever is left of the group (a worker that ignores SIGTERM) goes now.
            processes.signal_group(replica.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(not self._exit_of(r)[0] for r in running):
            await asyncio.sleep(0.02)  # reaped without blocking the server's loop
        for replica in running:
            _exited, code = self._exit_of(replica)
            replica.popen = None
            replica.state = ReplicaState.STOPPED
            self.store.set_replica(
                self.job_id,
                replica.name,
                state=replica.state,
                exit_code=code,
                message="stopped: the job ended",
            )
        self._mirror_mpi_workers()

    def stop_orphans(self) -> None:
        """Kill every replica that may be running (a job that cannot be taken up again)."""
        for replica in self.replicas.values():
            state = processes.read_state(self.folder.run_state(replica.name))
            if state is not None and processes.alive(state.pid, state.start_ticks):
                processes.signal_group(state.pid, signal.SIGKILL)

    # --- state --------------------------------------------------------------------

    def _set_state(self, state: JobState, *, reason: str = "", message: str = "") -> None:
        self.store.set_job_state(
            self.job_id, state, reason=reason, message=message, restarts=self.restarts
        )
        self.settings.notify()


def _exit_words(code: int | None) -> str:
    if code is None:
        return "ended while the server was down (exit code unknown)"
    if code > 128:
        try:
            name = signal.Signals(code - 128).name
        except ValueError:
            return f"exited with code {code}"
        return f"was killed by {name} (exit code {code})"
    return f"exited with code {code}"
