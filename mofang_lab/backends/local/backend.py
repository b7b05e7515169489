"""``LocalBackend``: jobs as local processes, with the operators' environment contract.

The embedded default: on a laptop, in the demo hub and in tests, a job's
replicas run as process groups on the notebook server's machine, each with
the variables Kubeflow's operators would set (:mod:`.contract`), supervised by
:mod:`.supervisor`, recorded in a SQLite store (:mod:`.store`) in the user's
storage. Replicas do not belong to the server: when it restarts it takes up
the jobs that are still running (their runners' state files say how each
replica is doing) and records how the others ended, so no job is forgotten
and none is started twice.
"""

from __future__ import annotations

import asyncio
import builtins
import os
import shutil
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator
from typing import Any

from traitlets import Float, Int, List, Unicode, default

from mofang_lab.backends.base import (
    Capabilities,
    JobRecord,
    SubmitResult,
)
from mofang_lab.backends.local.contract import Launch, hostfile_text, launches, ports_needed
from mofang_lab.backends.local.gpus import devices_from_env, split_devices
from mofang_lab.backends.local.logs import read_log
from mofang_lab.backends.local.supervisor import JobRun, RunSettings
from mofang_lab.backends.store import JobStore
from mofang_lab.backends.stored import StoredJobsBackend
from mofang_lab.jobs.spec import JobKind, JobSpec, ReplicaType, replica_name
from mofang_lab.jobs.states import JobState
from mofang_lab.jobs.submission import PreparedJob
from mofang_spawner.errors import ConflictError

__all__ = ["LocalBackend"]

# Credentials and settings of the notebook server that a job must not inherit:
# on a cluster a pod would not have them either.
_PRIVATE_PREFIXES = ("JUPYTERHUB_", "JPY_", "JUPYTER_TOKEN", "MOFANG_")


class LocalBackend(StoredJobsBackend):
    """Runs each replica of a job as a local process group."""

    name = "local"

    store_path = Unicode(
        ".mofang/jobs.sqlite",
        config=True,
        help="""The SQLite job store. A relative path is inside the server's root
        directory (the user's private storage), so jobs survive a server restart.
        Put it on a local disk: SQLite's locking is unreliable on network file systems.""",
    )

    python = Unicode(
        config=True,
        help="""The Python interpreter that runs replicas (and torchrun). Default: the
        server's own, so jobs see the packages the notebook's kernel sees.""",
    )

    @default("python")
    def _default_python(self) -> str:
        return sys.executable

    mpirun = List(
        Unicode(),
        default_value=["mpirun"],
        config=True,
        help="""The command that launches MPI programs (Open MPI's mpirun; Debian package
        openmpi-bin). mpi jobs are offered only when it is found.""",
    )

    host = Unicode(
        "127.0.0.1",
        config=True,
        help="The address replicas use to reach each other (MASTER_ADDR, TF_CONFIG).",
    )

    gpu_devices = List(
        Unicode(),
        config=True,
        help="""GPU device ids that jobs may use, split between replicas through
        CUDA_VISIBLE_DEVICES. Default: the server's own CUDA_VISIBLE_DEVICES (the GPUs of
        its spawn plan); empty: jobs get no GPU.""",
    )

    @default("gpu_devices")
    def _default_gpu_devices(self) -> builtins.list[str]:
        return list(devices_from_env(os.environ))

    max_replicas = Int(
        32,
        config=True,
        help="The most replicas one local job may have; they all share this machine.",
    )

    poll_interval = Float(
        0.2,
        config=True,
        help="Seconds between two checks of a job's replicas (and of a followed log).",
    )

    stop_grace_seconds = Float(
        5.0,
        config=True,
        help="""Seconds a replica has to exit after SIGTERM, when its job ends or is
        cancelled, before it is killed with SIGKILL.""",
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._store: JobStore | None = None
        self._started = False
        self._runs: dict[str, JobRun] = {}
        self._owner_locks: dict[str, asyncio.Lock] = {}
        self._start_lock = asyncio.Lock()

    # --- lifecycle ------------------------------------------------------------------

    @property
    def store(self) -> JobStore:
        """The job store, created on first use: a user who never submits gets no file."""
        assert self._started, "LocalBackend.start() was not awaited"
        if self._store is None:
            self._store = JobStore(self.root / self.store_path)
        return self._store

    async def start(self) -> None:
        async with self._start_lock:
            if self._started:
                return
            self._started = True
            if not (self.root / self.store_path).exists():
                return  # no job ever ran here: nothing to take up
            for job_id in self.store.active_ids():
                self._take_up(self.store.record(job_id))

    async def stop(self) -> None:
        runs, self._runs = list(self._runs.values()), {}
        for run in runs:
            if run.task is not None:
                run.task.cancel()
        await asyncio.gather(*(r.task for r in runs if r.task is not None), return_exceptions=True)
        if self._store is not None:
            self._store.close()
            self._store = None
        self._started = False

    def _take_up(self, record: JobRecord) -> None:
        """A job the store says is unfinished, found when the server starts."""
        run = self._run_for(record)
        if record.state == JobState.CREATED:
            # The server stopped while starting it: some replicas may run, others not.
            run.stop_orphans()
            self.store.set_job_state(
                record.id,
                JobState.FAILED,
                reason="ServerRestarted",
                message="The server stopped while the job was starting; none of it runs "
                "now. Submit it again.",
            )
            return
        run.adopt_from_files()
        run.start_pending()
        self.store.note(
            record.id,
            reason="Reattached",
            message="The server restarted; the job's replicas were taken up again.",
        )
        self._watch(run)
        self.log.info("Took up job %s of %s after a restart", record.id, record.owner)

    # --- capabilities ---------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        kinds: list[JobKind] = ["pytorch", "tensorflow", "python"]
        if self._mpirun_path() is not None:
            kinds.insert(2, "mpi")
        return Capabilities(
            backend=self.name,
            kinds=tuple(kinds),
            gpus=len(self.gpu_devices),
            images=False,
            resource_limits=False,
            follow_logs=True,
            restart_policies=("Never", "OnFailure", "ExitCode"),
            max_replicas=self.max_replicas,
            survives_restart=True,
        )

    def unsupported_reason(self, kind: JobKind) -> str:
        if kind == "mpi":
            return (
                f" ({self.mpirun[0] if self.mpirun else 'mpirun'} not found: install openmpi-bin)"
            )
        return ""

    def _mpirun_path(self) -> str | None:
        return shutil.which(self.mpirun[0]) if self.mpirun else None

    # --- submit ---------------------------------------------------------------------

    def describe(self, prepared: PreparedJob) -> builtins.list[dict[str, Any]]:
        spec = prepared.spec
        folder = self.folder("<job-id>")
        example_ports = [29500 + i for i in range(ports_needed(spec))]
        return [
            {
                "replica": launch.replica,
                "process": launch.managed,
                "command": list(launch.argv),
                "cwd": str(folder.path),
                "env": launch.env,
            }
            for launch in self._launches(spec, "<job-id>", example_ports, {})
        ]

    async def submit(self, owner: str, prepared: PreparedJob) -> SubmitResult:
        await self.start()
        spec = prepared.spec
        async with self._owner_locks.setdefault(owner, asyncio.Lock()):
            earlier = self._earlier_submission(owner, spec)
            if earlier is not None:
                return earlier
            self.check_supported(spec)
            held = self.store.held_devices(list(self._runs))
            devices = split_devices(spec, self.gpu_devices, held)
            job_id = self._fresh_id(spec.name)
            record = self._local_record(owner, job_id, spec)
            network = {"host": self.host, "ports": _free_ports(self.host, ports_needed(spec))}
            try:
                self.store.insert(record, network=network, devices=devices)
            except sqlite3.IntegrityError as exc:
                raise ConflictError(
                    "A job with this idempotency key is being submitted; ask for it again."
                ) from exc
            self._changed_now()
            self._write_folder(job_id, prepared)
            run = self._run_for(self.store.record(job_id))
            run.start_replicas()
            self._watch(run)
            return SubmitResult(job=self.store.record(job_id), created=True)

    def _local_record(self, owner: str, job_id: str, spec: JobSpec) -> JobRecord:
        folder = self.folder(job_id)

        def log(role: ReplicaType, index: int) -> str:
            if spec.kind == "mpi" and role == "Worker":
                # The ranks' output is in mpirun's, as on a cluster.
                return self.relative(folder.log("launcher-0"))
            return self.relative(folder.log(replica_name(role, index)))

        return self._new_record(owner, job_id, spec, log)

    def _write_folder(self, job_id: str, prepared: PreparedJob) -> None:
        folder = self.folder(job_id)
        try:
            folder.write(prepared.spec, prepared.snapshot)
            if prepared.spec.kind == "mpi":
                folder.hostfile.write_text(hostfile_text(prepared.spec))
        except OSError as exc:
            self.store.set_job_state(
                job_id,
                JobState.FAILED,
                reason="StorageError",
                message=f"The job folder {self.relative(folder.path)} could not be written: {exc}",
            )
            self._changed_now()
            raise

    def _launches(
        self,
        spec: JobSpec,
        job_id: str,
        ports: builtins.list[int],
        devices: dict[str, tuple[str, ...]],
    ) -> builtins.list[Launch]:
        folder = self.folder(job_id)
        return launches(
            spec,
            job_id=job_id,
            job_dir=folder.path,
            notebook_dir=(self.root / spec.notebook).parent,
            python=self.python,
            mpirun=[self._mpirun_path() or self.mpirun[0], *self.mpirun[1:]] if self.mpirun else [],
            ports=ports,
            host=self.host,
            as_root=os.geteuid() == 0,
            devices=devices,
        )

    def _run_for(self, record: JobRecord) -> JobRun:
        network = self.store.network(record.id)
        devices = {name: r.devices for name, r in self.store.runtime(record.id).items()}
        return JobRun(
            job_id=record.id,
            spec=record.spec,
            folder=self.folder(record.id),
            display_folder=record.folder,
            launches=self._launches(record.spec, record.id, network.get("ports", []), devices),
            store=self.store,
            settings=RunSettings(
                python=self.python,
                poll_interval=self.poll_interval,
                stop_grace_seconds=self.stop_grace_seconds,
                base_env={
                    k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE_PREFIXES)
                },
                notify=self._changed_now,
            ),
            started_at=record.started_at.timestamp() if record.started_at else None,
            restarts=record.restarts,
        )

    def _watch(self, run: JobRun) -> None:
        self._runs[run.job_id] = run
        task = run.watch()

        def done(task: asyncio.Task[None]) -> None:
            if self._runs.get(run.job_id) is run:
                del self._runs[run.job_id]
            if not task.cancelled() and task.exception() is not None:
                self.log.error("Supervisor of job %s failed", run.job_id, exc_info=task.exception())

        task.add_done_callback(done)

    # --- queries --------------------------------------------------------------------

    async def cancel(self, owner: str, job_id: str) -> JobRecord:
        record = await self._to_cancel(owner, job_id)
        if record.state == JobState.CANCELLED:
            return record
        run = self._runs.get(job_id)
        if run is not None:
            await run.cancel()
        else:  # not supervised (cannot happen after start(); kept for safety)
            self.store.set_job_state(job_id, JobState.CANCELLED, reason="Cancelled")
            self._changed_now()
        return self.store.record(job_id)

    async def logs(
        self, owner: str, job_id: str, replica: str | None, *, follow: bool
    ) -> AsyncIterator[str]:
        record = await self.get(owner, job_id)
        status = self._replica(record, replica)
        name = status.name
        main = record.spec.main_replica

        def finished() -> bool:
            # Following the main replica ends with the job, so that the job's final
            # state is known when the log ends; another replica's ends with it.
            now = self.store.record(job_id)
            current = next(r for r in now.replicas if r.name == name)
            return now.state.terminal or (current.state.finished and name != main)

        return read_log(
            self.root / status.log,
            follow=follow,
            finished=finished,
            poll_interval=self.poll_interval,
        )


def _free_ports(host: str, count: int) -> list[int]:
    """``count`` distinct ports free on ``host`` now (held open together so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind((host, 0))
            sockets.append(sock)
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
