"""``JobBackend``: the one interface every job backend implements, and what it returns.

A backend runs prepared jobs (:class:`~mofang_lab.jobs.submission.PreparedJob`)
and reports on them. The REST handlers talk to this interface only (an
import-linter contract checks it); the server extension picks the class with a
traitlets ``Type`` (``MofangLabApp.backend_class``), so a deployment swaps the
local backend for the Kubernetes one by configuration, not by code.

The contract, the same on every backend:

* every method takes the ``owner`` (the authenticated user) and sees only that
  owner's jobs; another owner's job is "not found" (404), so its existence
  does not leak;
* ``submit`` with an idempotency key this owner already used returns the job
  made the first time (``created=False``) and starts nothing; with the same key
  but a different spec it raises :class:`ConflictError`;
* errors are the Mofang tree: :class:`NotFoundError` (unknown job or replica),
  :class:`ConflictError` (cancel a finished job, busy GPUs),
  :class:`InvalidRequestError` / :class:`PolicyError` (a job this backend
  cannot or may not run);
* what a backend cannot do is declared in :class:`Capabilities`, never a
  ``NotImplementedError`` at run time.
"""

from __future__ import annotations

import abc
import builtins
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter
from traitlets import Unicode
from traitlets.config import LoggingConfigurable
from traitlets.traitlets import MetaHasTraits

from mofang_lab.jobs.folder import JobFolder
from mofang_lab.jobs.spec import JobKind, JobSpec, ReplicaType, RestartPolicy
from mofang_lab.jobs.states import JobState, ReplicaState
from mofang_lab.jobs.submission import PreparedJob
from mofang_spawner.errors import InvalidRequestError, PolicyError

__all__ = [
    "Capabilities",
    "DryRun",
    "JobBackend",
    "JobEvent",
    "JobRecord",
    "ReplicaStatus",
    "SubmitResult",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Capabilities(_Frozen):
    """What a backend can do; the sidebar and the CLI read it instead of guessing."""

    backend: str = Field(description="the backend's name: 'local', 'kubernetes'")
    kinds: tuple[JobKind, ...] = Field(description="job kinds it can run here and now")
    gpus: int | None = Field(description="GPUs it can hand out; None: the cluster decides")
    images: bool = Field(description="replicas run in the spec's image")
    resource_limits: bool = Field(description="CPU and memory requests are enforced")
    follow_logs: bool = Field(description="logs can be followed while the job runs")
    restart_policies: tuple[RestartPolicy, ...]
    max_replicas: int | None = Field(description="most replicas one job may have; None: no limit")
    survives_restart: bool = Field(description="jobs keep running when the server restarts")


class ReplicaStatus(_Frozen):
    """One replica of a job."""

    name: str = Field(description="master-0, worker-1, ps-0, ...")
    type: ReplicaType
    index: int
    state: ReplicaState
    restarts: int = 0
    exit_code: int | None = None
    message: str = ""
    log: str = Field(description="the replica's log, relative to the user's files")


class JobRecord(_Frozen):
    """A job as a backend reports it: its spec, where it is, and how it went."""

    id: str
    owner: str
    name: str
    kind: JobKind
    backend: str
    state: JobState
    reason: str = Field(default="", description="a one-word cause: DeadlineExceeded, ...")
    message: str = ""
    folder: str = Field(description="the job folder, relative to the user's files")
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    restarts: int = 0
    spec: JobSpec
    replicas: tuple[ReplicaStatus, ...] = ()


class JobEvent(_Frozen):
    """A state change of a job; ``seq`` orders an owner's events and resumes a stream."""

    seq: int
    job_id: str
    state: JobState
    reason: str = ""
    message: str = ""
    time: datetime


class SubmitResult(_Frozen):
    job: JobRecord
    created: bool = Field(description="False: an earlier submission with this key is returned")


class DryRun(_Frozen):
    """The answer to a dry run: what would run, and what would be created for it."""

    backend: str
    spec: JobSpec
    program: str
    objects: list[dict[str, JsonValue]] = Field(
        description="what the backend would create: processes locally, objects on a cluster"
    )


_JOB_LIST = TypeAdapter(list[JobRecord])


class _AbstractConfigurableMeta(MetaHasTraits, abc.ABCMeta):
    """Lets a traitlets class have abstract methods."""


class JobBackend(LoggingConfigurable, metaclass=_AbstractConfigurableMeta):
    """Runs jobs and reports on them. Subclasses implement every abstract method."""

    #: The name clients use for this backend (``--backend NAME``).
    name: str = ""

    #: The sweep service that pairs with this backend, as an import path (the
    #: extension's default ``MofangLabApp.sweeps_class``): sweeps whose trials run as
    #: this backend's jobs, or the cluster's own sweep engine.
    sweep_service_class: str = "mofang_lab.sweeps.service.SweepService"

    root_dir = Unicode(
        help="The user's private storage: the server's root directory. Set by the server "
        "extension, not by configuration."
    )

    jobs_dir = Unicode(
        "jobs",
        config=True,
        help="""Where job folders are created (notebook, program, spec, logs of each job).
        A relative path is inside the server's root directory, the user's private
        storage, so users see their jobs in the file browser; it must stay there, as
        replicas (and pods on a cluster) read the job folder from that storage.""",
    )

    # --- the job folder, shared by all backends ---------------------------------

    @property
    def root(self) -> Path:
        return Path(self.root_dir or ".").resolve()

    @property
    def jobs_root(self) -> Path:
        return (self.root / self.jobs_dir).resolve()

    def folder(self, job_id: str) -> JobFolder:
        return JobFolder(self.jobs_root / job_id)

    def relative(self, path: Path) -> str:
        """``path`` relative to the user's files, for links in the UI."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def check_supported(self, spec: JobSpec) -> None:
        """Refuse, in the same words on every backend, a job this backend cannot run."""
        capabilities = self.capabilities
        if spec.kind not in capabilities.kinds:
            raise InvalidRequestError(
                f"The {capabilities.backend} backend cannot run {spec.kind} jobs here"
                f"{self.unsupported_reason(spec.kind)}; it runs: {', '.join(capabilities.kinds)}."
            )
        if (
            capabilities.max_replicas is not None
            and spec.total_replicas > capabilities.max_replicas
        ):
            raise PolicyError(
                f"The job has {spec.total_replicas} replicas; the {capabilities.backend} backend "
                f"runs at most {capabilities.max_replicas}. Ask for fewer workers."
            )
        if capabilities.gpus is not None and spec.total_gpus > capabilities.gpus:
            raise PolicyError(
                f"The job asks for {spec.total_gpus} GPUs in all; this server has "
                f"{capabilities.gpus}. Ask for fewer GPUs or fewer replicas."
            )

    def unsupported_reason(self, kind: JobKind) -> str:
        """Why ``kind`` is not in the capabilities (``" (no mpirun)"``), or ``""``."""
        return ""

    # --- the interface ----------------------------------------------------------

    @property
    @abc.abstractmethod
    def capabilities(self) -> Capabilities:
        """What this backend can do, now (a missing ``mpirun`` removes ``mpi``)."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Open the store and take up the jobs that were running; safe to call twice."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop watching jobs (the server is stopping). Running jobs are not stopped."""

    @abc.abstractmethod
    def describe(self, prepared: PreparedJob) -> builtins.list[dict[str, Any]]:
        """What submitting ``prepared`` would create, as plain data; no side effect."""

    @abc.abstractmethod
    async def submit(self, owner: str, prepared: PreparedJob) -> SubmitResult:
        """Store the job, write its folder and start it (see the module's contract)."""

    @abc.abstractmethod
    async def get(self, owner: str, job_id: str) -> JobRecord:
        """One of ``owner``'s jobs; :class:`NotFoundError` for any other id."""

    @abc.abstractmethod
    async def list(self, owner: str) -> builtins.list[JobRecord]:
        """``owner``'s jobs, newest first."""

    async def list_json(self, owner: str) -> bytes:
        """``owner``'s jobs, newest first, as a JSON array (what ``GET /jobs`` sends).

        Serialised by pydantic in one go; a backend may keep the answer until
        the jobs change.
        """
        return _JOB_LIST.dump_json(await self.list(owner))

    @abc.abstractmethod
    async def cancel(self, owner: str, job_id: str) -> JobRecord:
        """Stop every replica and mark the job Cancelled; a finished job is a conflict."""

    @abc.abstractmethod
    async def logs(
        self, owner: str, job_id: str, replica: str | None, *, follow: bool
    ) -> AsyncIterator[str]:
        """The output of one replica (default: the main one) as chunks of text.

        Checks ownership and the replica name when awaited, before the first
        chunk, so a caller can answer 404 before it starts streaming. With
        ``follow`` the iterator ends when the replica is finished for good.
        """

    @abc.abstractmethod
    async def last_event(self, owner: str) -> int:
        """The number of ``owner``'s latest event (0: none): where a client holding the
        list of jobs resumes the event stream."""

    @abc.abstractmethod
    async def events(
        self, owner: str, *, since: int, job_id: str | None
    ) -> AsyncIterator[JobEvent]:
        """``owner``'s state changes after ``since``, then new ones as they happen.

        With ``job_id``, only that job's events, ending after its terminal state.
        """
