"""``KubernetesBackend``: jobs as PyTorchJob, TFJob, MPIJob or Job objects on the cluster.

The same interface as the local backend, so the magics, the CLI, the REST
API and the sidebar do not change: ``c.MofangLabApp.backend_class =
"mofang_lab.backends.kubernetes.KubernetesBackend"`` is the whole switch. A
submit stores the job (the store keeps history), writes its folder into the
user's storage (which every replica mounts) and creates the object in the
namespace of the user's server, named by the job id, so a retried create
finds its own object instead of making a second job. From then on the
cluster says what runs (:mod:`.watching`); cancel deletes the object and,
first, its pods.
"""

from __future__ import annotations

import asyncio
import builtins
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from traitlets import Dict, Enum, Float, Int, List, Unicode, default

from mofang_lab.backends.base import (
    Capabilities,
    JobRecord,
    SubmitResult,
)
from mofang_lab.backends.kubernetes.client import ApiClient, JobCluster, connect
from mofang_lab.backends.kubernetes.manifests import (
    CONTAINER_NAMES,
    JOB_KINDS,
    ClusterJobSettings,
    job_manifest,
    job_selector,
    operator_violations,
)
from mofang_lab.backends.kubernetes.watching import JobWatcher
from mofang_lab.backends.store import JobStore
from mofang_lab.backends.stored import StoredJobsBackend
from mofang_lab.environment import STORAGE_ENV, load_plan, load_storage, pod_namespace
from mofang_lab.jobs.ids import new_job_id
from mofang_lab.jobs.spec import KINDS, JobKind, JobSpec, replica_name
from mofang_lab.jobs.states import JobState, ReplicaState
from mofang_lab.jobs.submission import PreparedJob
from mofang_spawner.errors import (
    ConfigurationError,
    ConflictError,
    InvalidRequestError,
    MofangError,
    NotFoundError,
    PolicyError,
)
from mofang_spawner.kubernetes.labels import USER_LABEL
from mofang_spawner.kubernetes.storage import StorageSettings
from mofang_spawner.planning import ServerPlan, safe_name

__all__ = ["KubernetesBackend"]

#: Seconds a queue found on the cluster is taken to exist without asking again.
_QUEUE_CHECK_SECONDS = 60.0


class KubernetesBackend(StoredJobsBackend):
    """Runs jobs through the Kubeflow operators (and batch Jobs), gang-scheduled by Volcano."""

    name = "kubernetes"
    # Sweeps on the cluster are Katib Experiments, not trials driven from the server.
    sweep_service_class = "mofang_lab.sweeps.cluster.KatibSweepService"

    store_path = Unicode(
        ".mofang/kubernetes-jobs.sqlite",
        config=True,
        help="""The SQLite job store (history of the jobs submitted to the cluster). A relative
        path is inside the server's root directory, the user's private storage.""",
    )
    namespace = Unicode(
        config=True,
        help="""The namespace jobs are created in. Default: the namespace of the server's own
        pod (its service account's), else 'default'.""",
    )

    @default("namespace")
    def _default_namespace(self) -> str:
        return pod_namespace()

    kubeconfig = Unicode(
        None,
        allow_none=True,
        config=True,
        help="""A kubeconfig file to reach the cluster with. Default: the pod's service account
        when the server runs in a pod, else $KUBECONFIG or ~/.kube/config.""",
    )
    kinds: List[str] = List(
        Unicode(),
        default_value=list(KINDS),
        config=True,
        help="""Job kinds offered. Leave out a kind whose operator is not installed (mpi without
        mpi-operator v2beta1, for example); its jobs are then refused with a clear message.""",
    )
    gang_scheduler = Unicode(
        "volcano",
        allow_none=True,
        config=True,
        help="""The scheduler that gang-schedules jobs (the Training Operator must run with
        --gang-scheduler-name set to it). None: no gang scheduling.""",
    )
    clean_pod_policy = Enum(
        ["None", "Running", "All"],
        default_value="None",
        config=True,
        help="""Pods the operator deletes when a job finishes. 'None' (the operators' default)
        keeps them, and their logs, until ttl_seconds_after_finished; 'Running' frees at once
        the GPUs of replicas still running, whose logs are then lost.""",
    )
    ttl_seconds_after_finished = Int(
        7 * 24 * 3600,
        allow_none=True,
        config=True,
        help="""Seconds after which a finished job and its pods are deleted from the cluster
        (their logs with them; the job's record stays). None: never.""",
    )
    default_image = Unicode(
        None,
        allow_none=True,
        config=True,
        help="The image of jobs submitted from a server that was not started from the hub.",
    )
    cpu_node_selector = Dict(
        config=True,
        help="""Node labels of the CPU pool, where parameter servers, the Chief, the MPI
        launcher and CPU jobs run. Empty: the resource group's node pool.""",
    )
    python = Unicode("python", config=True, help="The Python interpreter in the job's image.")
    mpi_worker_command = List(
        Unicode(),
        default_value=["/usr/sbin/sshd", "-De"],
        config=True,
        help="What an MPI worker runs: the SSH daemon mpirun reaches it through.",
    )
    job_service_account = Unicode(
        None,
        allow_none=True,
        config=True,
        help="The service account of job pods (they get no API token either way).",
    )
    storage = Dict(
        config=True,
        help=f"""Where the storage levels live on the cluster (the fields of c.MofangStorage).
        Default: what the spawner put in ${STORAGE_ENV}; jobs mount exactly what the
        notebook server mounts.""",
    )

    @default("storage")
    def _default_storage(self) -> dict[str, Any]:
        return load_storage()

    request_timeout = Float(10.0, config=True, help="Seconds one API request may take.")
    retry_timeout = Float(
        30.0, config=True, help="Seconds a failing API call is retried (429, 5xx, timeouts)."
    )
    wait_check_interval = Float(
        5.0,
        config=True,
        help="Seconds between two looks at why a waiting job waits (PodGroup, queue).",
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._store: JobStore | None = None
        self._api: ApiClient | None = None
        self._cluster: JobCluster | None = None
        self._watcher: JobWatcher | None = None
        self._owner_locks: dict[str, asyncio.Lock] = {}
        self._start_lock = asyncio.Lock()
        self._started = False
        self._plan: ServerPlan | None = load_plan()
        self._queue_seen = float("-inf")

    # --- lifecycle ------------------------------------------------------------------

    @property
    def settings(self) -> ClusterJobSettings:
        try:
            storage = StorageSettings.model_validate(self.storage)
            return ClusterJobSettings(
                storage=storage,
                jobs_dir=self.jobs_dir,
                gang_scheduler=self.gang_scheduler,
                clean_pod_policy=self.clean_pod_policy,
                ttl_seconds_after_finished=self.ttl_seconds_after_finished,
                default_image=self.default_image,
                cpu_node_selector=self.cpu_node_selector,
                python=self.python,
                mpi_worker_command=tuple(self.mpi_worker_command),
                service_account=self.job_service_account,
            )
        except ValueError as exc:
            raise ConfigurationError(f"Invalid c.KubernetesBackend settings: {exc}") from exc

    @property
    def store(self) -> JobStore:
        if self._store is None:
            self._store = JobStore(
                self.root / self.store_path, setting="KubernetesBackend.store_path"
            )
        return self._store

    @property
    def cluster(self) -> JobCluster:
        assert self._cluster is not None, "KubernetesBackend.start() was not awaited"
        return self._cluster

    async def start(self) -> None:
        async with self._start_lock:
            if self._started:
                return
            self._api = await connect(self.kubeconfig)
            self._cluster = JobCluster(
                self._api,
                self.namespace,
                request_timeout=self.request_timeout,
                retry_timeout=self.retry_timeout,
                log=self.log,
            )
            selector = "app.kubernetes.io/managed-by=mofang"
            if self._plan is not None:
                selector += f",{USER_LABEL}={safe_name(self._plan.user)}"
            self._watcher = JobWatcher(
                cluster=self._cluster,
                store=lambda: self.store,
                selector=selector,
                kinds=self.capabilities.kinds,
                notify=self._changed_now,
                wait_check_interval=self.wait_check_interval,
                log=self.log,
            )
            self._started = True
            try:
                await self._watcher.reconcile(self._create_object)
            except MofangError as exc:
                self.log.warning("Could not reconcile jobs with the cluster yet: %s", exc)
            self._watcher.start()

    async def stop(self) -> None:
        if self._watcher is not None:
            await self._watcher.stop()
            self._watcher = None
        if self._api is not None:
            await self._api.close()
            self._api = None
        if self._store is not None:
            self._store.close()
            self._store = None
        self._started = False

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            backend=self.name,
            kinds=tuple(k for k in KINDS if k in self.kinds),
            gpus=None,
            images=True,
            resource_limits=True,
            follow_logs=True,
            restart_policies=("Never", "OnFailure", "ExitCode"),
            max_replicas=None,
            survives_restart=True,
        )

    def unsupported_reason(self, kind: JobKind) -> str:
        return " (its operator is not enabled: c.KubernetesBackend.kinds)"

    # --- submit ---------------------------------------------------------------------

    def manifest(self, spec: JobSpec, job_id: str, owner: str) -> dict[str, Any]:
        """The object that runs ``spec``, checked against the operator's rules."""
        obj = job_manifest(
            spec=spec,
            name=job_id,
            namespace=self.namespace,
            # On the cluster a job is the server's user's, whoever of the server's users
            # submitted it (the store keeps who): it runs with that user's storage and
            # service account, and this server's watch follows that user's objects only.
            owner=self._plan.user if self._plan is not None else owner,
            plan=self._plan,
            settings=self.settings,
        )
        problems = operator_violations(obj)
        if problems:
            raise InvalidRequestError("The job cannot run on the cluster: " + "; ".join(problems))
        return obj

    def describe(self, prepared: PreparedJob) -> builtins.list[dict[str, Any]]:
        owner = self._plan.user if self._plan is not None else "<you>"
        return [self.manifest(prepared.spec, new_job_id(prepared.spec.name), owner)]

    async def submit(self, owner: str, prepared: PreparedJob) -> SubmitResult:
        await self.start()
        spec = prepared.spec
        async with self._owner_locks.setdefault(owner, asyncio.Lock()):
            earlier = self._earlier_submission(owner, spec)
            if earlier is not None:
                return earlier
            self.check_supported(spec)
            if self._plan is None:
                raise PolicyError(
                    "This server was not started by a Mofang hub, so there is no plan saying "
                    "which storage holds your files: a job's pods could not read its folder. "
                    "Start your server from the hub (a dry run still shows the objects)."
                )
            job_id = self._fresh_id(spec.name)
            obj = self.manifest(spec, job_id, owner)  # refuses before anything is stored
            await self._check_queue()
            record = self._cluster_record(owner, job_id, spec)
            # The folder is written by a worker thread while the record is stored
            # here: both are done before the object exists, neither waits for the other.
            folder = self.folder(job_id)
            writing = asyncio.get_running_loop().run_in_executor(
                None, folder.write, spec, prepared.snapshot
            )
            try:
                self.store.insert(record, network={"created": False}, devices={})
            except BaseException:
                await _discard(writing, folder.path)
                raise
            self._changed_now()
            try:
                await writing
            except OSError as exc:
                self._fail(job_id, "StorageError", f"The job folder could not be written: {exc}")
                raise
            await self._create_object(record, obj, defer_mark=True)
            return SubmitResult(job=record, created=True)

    async def _check_queue(self) -> None:
        """Refuse a job whose group's Volcano queue does not exist (it would never start)."""
        plan = self._plan
        policy = plan.jobs if plan is not None else None
        if plan is None or policy is None or not policy.queue or self.gang_scheduler is None:
            return
        now = time.monotonic()
        if self._queue_seen > now - _QUEUE_CHECK_SECONDS:
            return
        if await self.cluster.queue(policy.queue) is None:
            raise PolicyError(
                f"The Volcano queue '{policy.queue}' of group '{plan.group.name}' does "
                "not exist on the cluster (or Volcano is not installed), so the job could "
                "never start. Ask an administrator to create the queue."
            )
        self._queue_seen = now

    async def _create_object(
        self, record: JobRecord, obj: dict[str, Any] | None = None, *, defer_mark: bool = False
    ) -> None:
        """Create ``record``'s object, then mark the record as created.

        With ``defer_mark`` the mark is written right after the caller has its
        answer: the object exists, which is what the user waits for. Until the
        mark is written a restart finds the object itself, which is all the
        mark is for (telling a job never created from one deleted since).
        """
        info = JOB_KINDS[record.kind]
        obj = obj or self.manifest(record.spec, record.id, record.owner)
        try:
            created = await self.cluster.create(info, obj)
        except ConflictError:
            # A create that timed out but happened: the object is ours if it says so.
            created = await self.cluster.read(info, record.id) or {}
            labels = (created.get("metadata") or {}).get("labels") or {}
            if labels.get("mofang.io/job-id") != record.id:
                self._fail(record.id, "NameTaken", f"An object named {record.id} exists.")
                raise
        except MofangError as exc:
            self._fail(record.id, "CreateFailed", str(exc))
            raise
        uid = (created.get("metadata") or {}).get("uid", "")
        network = {"created": True, "uid": uid, "kind": info.kind}
        if defer_mark:
            asyncio.get_running_loop().call_soon(self._mark_created, record.id, network)
        else:
            self._mark_created(record.id, network)

    def _mark_created(self, job_id: str, network: dict[str, Any]) -> None:
        if self._store is not None:  # not stopped meanwhile
            self.store.set_network(job_id, network)

    def _fail(self, job_id: str, reason: str, message: str) -> None:
        self.store.set_job_state(job_id, JobState.FAILED, reason=reason, message=message)
        for replica in self.store.record(job_id).replicas:
            self.store.set_replica(job_id, replica.name, state=ReplicaState.STOPPED)
        self._changed_now()

    def _cluster_record(self, owner: str, job_id: str, spec: JobSpec) -> JobRecord:
        return self._new_record(
            owner, job_id, spec, lambda role, index: f"pod log of {replica_name(role, index)}"
        )

    async def cancel(self, owner: str, job_id: str) -> JobRecord:
        record = await self._to_cancel(owner, job_id)
        if record.state == JobState.CANCELLED:
            return record
        assert self._watcher is not None
        self._watcher.cancelling.add(job_id)
        try:
            await self.cluster.delete(JOB_KINDS[record.kind], job_id)
        except MofangError:
            self._watcher.cancelling.discard(job_id)
            raise
        self.store.set_job_state(job_id, JobState.CANCELLED, reason="Cancelled")
        for replica in self.store.record(job_id).replicas:
            if not replica.state.finished:
                self.store.set_replica(job_id, replica.name, state=ReplicaState.STOPPED)
        self._changed_now()
        return self.store.record(job_id)

    async def logs(
        self, owner: str, job_id: str, replica: str | None, *, follow: bool
    ) -> AsyncIterator[str]:
        record = await self.get(owner, job_id)
        name = self._replica(record, replica).name
        pod = await self._pod_of(record, name, wait=follow)
        if pod is None:
            if record.state.terminal:
                raise NotFoundError(
                    f"The pod of {name} of job {job_id} is gone from the cluster (deleted "
                    "after the job finished), and its log with it."
                )
            return _nothing()
        return self.cluster.pod_log(pod, CONTAINER_NAMES[record.kind], follow=follow)

    async def _pod_of(self, record: JobRecord, name: str, *, wait: bool) -> str | None:
        assert self._watcher is not None
        while True:
            known = self._watcher.pods.get(record.id) or {}
            if not known:
                # This server's pods of the job only: anyone may label a pod with its id.
                selector = f"{self._watcher.selector},{job_selector(record.id)}"
                for pod in await self.cluster.pods(selector):
                    known[pod["metadata"]["name"]] = pod
            for pod_name, pod in known.items():
                labels = pod["metadata"].get("labels") or {}
                kind = str(labels.get("mofang.io/replica-type", "worker")).capitalize()
                index = int(labels.get("training.kubeflow.org/replica-index", 0) or 0)
                if (
                    replica_name(_role(kind), index) == name
                    and (pod.get("status") or {}).get("phase", "Pending") != "Pending"
                ):
                    return pod_name
            if not wait or self.store.record(record.id).state.terminal:
                return None
            await self._watcher.changed(timeout=1.0)


def _role(name: str) -> Any:
    return {"Ps": "PS"}.get(name, name)


async def _nothing() -> AsyncIterator[str]:
    return
    yield  # an empty async generator


async def _discard(writing: asyncio.Future[None], path: Path) -> None:
    """Remove a job folder written for a record that could not be stored."""
    try:
        await writing
    except FileExistsError:
        return  # the folder was there before: not this submission's to remove
    except Exception:  # noqa: S110 - written in part: removed below all the same
        pass
    shutil.rmtree(path, ignore_errors=True)
