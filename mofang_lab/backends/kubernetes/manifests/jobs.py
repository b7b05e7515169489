"""``job_manifest``: a job spec and the user's plan as the object an operator runs.

============  ==========================  =================  ==================
kind          object                      replica specs      container
============  ==========================  =================  ==================
``pytorch``   PyTorchJob (kubeflow v1)    Master, Worker     ``pytorch``
``tensorflow`` TFJob (kubeflow v1)        Chief, PS, Worker  ``tensorflow``
``mpi``       MPIJob (mpi-operator v2beta1) Launcher, Worker ``mpi``
``python``    Job (batch/v1)              (one pod)          ``python``
============  ==========================  =================  ==================

The operators set the environment contract of the design (``MASTER_ADDR``,
``PET_*``, ``TF_CONFIG``, the MPI hostfile); the builder only says what each
replica runs: the snapshot's ``program.py``, under ``torchrun`` when a
PyTorch replica runs several processes (``nprocPerNode``, whose ``PET_*``
variables torchrun reads), under ``mpirun`` on an MPI launcher. Every job of
the operators' kinds is gang-scheduled (``runPolicy.schedulingPolicy`` with
``minAvailable`` = all replicas, the group's queue and priority class), so a
job never holds GPUs while half of it waits.
"""

from __future__ import annotations

import math
from typing import Any

from mofang_lab.backends.kubernetes.manifests.labels import job_annotations, job_labels
from mofang_lab.backends.kubernetes.manifests.pods import PodInputs, job_workdir, pod_template
from mofang_lab.backends.kubernetes.manifests.resources import check_quota, role_resources
from mofang_lab.backends.kubernetes.manifests.settings import ClusterJobSettings
from mofang_lab.jobs.spec import ROLES, JobKind, JobSpec, ReplicaType
from mofang_spawner.errors import InvalidRequestError, PolicyError
from mofang_spawner.planning import Mount, ServerPlan

__all__ = ["CONTAINER_NAMES", "JOB_KINDS", "KindInfo", "job_manifest", "primary_container"]

Obj = dict[str, Any]

PROGRAM = "program.py"


class KindInfo:
    """How one job kind appears on the cluster."""

    def __init__(self, api_version: str, kind: str, plural: str, replica_specs: str | None) -> None:
        self.api_version = api_version
        self.kind = kind
        self.plural = plural
        self.replica_specs = replica_specs

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]


JOB_KINDS: dict[JobKind, KindInfo] = {
    "pytorch": KindInfo("kubeflow.org/v1", "PyTorchJob", "pytorchjobs", "pytorchReplicaSpecs"),
    "tensorflow": KindInfo("kubeflow.org/v1", "TFJob", "tfjobs", "tfReplicaSpecs"),
    "mpi": KindInfo("kubeflow.org/v2beta1", "MPIJob", "mpijobs", "mpiReplicaSpecs"),
    "python": KindInfo("batch/v1", "Job", "jobs", None),
}

#: The container each operator expects (the Training Operator requires the first two).
CONTAINER_NAMES: dict[JobKind, str] = {
    "pytorch": "pytorch",
    "tensorflow": "tensorflow",
    "mpi": "mpi",
    "python": "python",
}

#: Mofang's variables an MPI launcher hands on to the ranks it starts.
_FORWARDED = ("MOFANG_JOB_ID", "MOFANG_JOB_DIR")

#: Exit codes that fail a plain Job at once under the ``ExitCode`` restart policy (the
#: operators' meaning: 1-127 are the program's own failures, 128+ signals and evictions).
_PERMANENT_EXIT_CODES = list(range(1, 128))


def primary_container(kind: JobKind) -> str:
    """The container whose output is the job's (Katib's ``primaryContainerName``)."""
    return CONTAINER_NAMES[kind]


def job_manifest(
    *,
    spec: JobSpec,
    name: str,
    namespace: str,
    owner: str,
    plan: ServerPlan | None,
    settings: ClusterJobSettings,
    workdir: str | None = None,
) -> Obj:
    """The custom resource (or batch Job) that runs ``spec`` as ``name`` in ``namespace``.

    ``workdir`` is the job folder inside the pods (default: the job folder of
    ``name`` below the workspace root). Raises :class:`PolicyError` when the
    job asks for more than the user's group allows.
    """
    info = JOB_KINDS[spec.kind]
    group = plan.group.name if plan is not None else None
    labels = job_labels(owner=owner, group=group, job_id=name)
    annotations = job_annotations(owner=owner, group=group, notebook=spec.notebook, name=spec.name)
    gang = settings.gang_scheduler is not None and info.replica_specs is not None
    check_quota(spec=spec, plan=plan)
    if spec.kind == "mpi" and spec.restart_policy == "ExitCode":
        raise InvalidRequestError(
            "mpi jobs restart with Never or OnFailure only (the MPI operator has no ExitCode "
            "policy); choose one of them."
        )
    inputs = PodInputs(
        job_id=name,
        image=_image(spec, plan, settings),
        image_pull_policy=plan.template.image_pull_policy if plan else "IfNotPresent",
        workdir=workdir or job_workdir(settings=settings, job_id=name),
        notebook_dir=_notebook_dir(spec, settings),
        env=dict(spec.env),
        labels=labels,
        annotations=annotations,
        plan=plan,
        mounts=_mounts(spec, plan),
        settings=settings,
        gang=gang,
        indexed=info.replica_specs is not None,
    )
    metadata = {
        "name": name,
        "namespace": namespace,
        "labels": dict(labels),
        "annotations": dict(annotations),
    }
    templates = {
        role: _template(spec, role, inputs, gang=gang)
        for role in ROLES[spec.kind]
        if role in spec.roles
    }
    if info.replica_specs is None:
        return _batch_job(spec, metadata, templates["Worker"], settings)
    body: Obj = {
        info.replica_specs: {
            role: {
                "replicas": spec.roles[role].replicas,
                "restartPolicy": spec.restart_policy,
                "template": template,
            }
            for role, template in templates.items()
        },
        "runPolicy": _run_policy(spec, plan, settings, gang=gang),
    }
    if spec.kind == "pytorch" and spec.nproc_per_node is not None:
        body["nprocPerNode"] = str(spec.nproc_per_node)
    if spec.kind == "mpi":
        body["slotsPerWorker"] = spec.slots_per_worker
        body["mpiImplementation"] = "OpenMPI"
    return {"apiVersion": info.api_version, "kind": info.kind, "metadata": metadata, "spec": body}


def _template(spec: JobSpec, role: ReplicaType, inputs: PodInputs, *, gang: bool) -> Obj:
    resources = role_resources(spec=spec, role=role, plan=inputs.plan, settings=inputs.settings)
    if (
        gang
        and resources.gpu_type is not None
        and resources.gpu_type.scheduler_name not in (None, inputs.settings.gang_scheduler)
    ):
        raise PolicyError(
            f"GPU type '{resources.gpu_type.name}' is scheduled by "
            f"{resources.gpu_type.scheduler_name}, which cannot gang-schedule a distributed "
            f"job with {inputs.settings.gang_scheduler}. Submit it with a GPU type scheduled "
            "by Volcano, or as a single-process job."
        )
    # ExitCode is the operators' policy, not a Pod's: the operators run such pods with
    # Never and restart them themselves (a batch Job through its podFailurePolicy).
    restart = "Never" if spec.restart_policy == "ExitCode" else spec.restart_policy
    return pod_template(
        inputs=inputs,
        role=role,
        container=CONTAINER_NAMES[spec.kind],
        command=_command(spec, role, inputs.settings, inputs.workdir),
        resources=resources,
        restart_policy=restart,
    )


def _command(
    spec: JobSpec, role: ReplicaType, settings: ClusterJobSettings, workdir: str
) -> list[str]:
    python = settings.python
    if spec.kind == "pytorch" and spec.nproc_per_node is not None:
        # torchrun takes --nnodes, --node-rank, --nproc-per-node and the rendezvous
        # address from the operator's PET_* variables.
        return [python, "-m", "torch.distributed.run", PROGRAM]
    if spec.kind == "mpi":
        if role == "Worker":
            return list(settings.mpi_worker_command)
        ranks = spec.roles["Worker"].replicas * spec.slots_per_worker
        # Ranks started over ssh see the worker's environment, not the launcher's: the
        # job's own variables travel with -x, and each rank starts in the job folder.
        forward = [
            arg
            for name in ("PYTHONUNBUFFERED", "PYTHONPATH", *_FORWARDED, *sorted(spec.env))
            for arg in ("-x", name)
        ]
        return [
            "mpirun",
            "-np",
            str(ranks),
            "--bind-to",
            "none",
            "-wdir",
            workdir,
            *forward,
            python,
            PROGRAM,
        ]
    return [python, PROGRAM]


def _run_policy(
    spec: JobSpec, plan: ServerPlan | None, settings: ClusterJobSettings, *, gang: bool
) -> Obj:
    policy: Obj = {"cleanPodPolicy": settings.clean_pod_policy, "backoffLimit": spec.backoff_limit}
    if settings.ttl_seconds_after_finished is not None:
        policy["ttlSecondsAfterFinished"] = settings.ttl_seconds_after_finished
    if spec.timeout_seconds is not None:
        policy["activeDeadlineSeconds"] = math.ceil(spec.timeout_seconds)
    if gang:
        scheduling: Obj = {"minAvailable": spec.total_replicas}
        jobs = plan.jobs if plan is not None else None
        if jobs is not None and jobs.queue:
            scheduling["queue"] = jobs.queue
        if jobs is not None and jobs.priority_class_name:
            scheduling["priorityClass"] = jobs.priority_class_name
        policy["schedulingPolicy"] = scheduling
    return policy


def _batch_job(spec: JobSpec, metadata: Obj, template: Obj, settings: ClusterJobSettings) -> Obj:
    body: Obj = {
        "parallelism": 1,
        "completions": 1,
        "backoffLimit": 0 if spec.restart_policy == "Never" else spec.backoff_limit,
        "template": template,
    }
    if spec.restart_policy == "ExitCode":
        body["podFailurePolicy"] = {
            "rules": [
                {
                    "action": "FailJob",
                    "onExitCodes": {
                        "containerName": CONTAINER_NAMES["python"],
                        "operator": "In",
                        "values": _PERMANENT_EXIT_CODES,
                    },
                }
            ]
        }
    if settings.ttl_seconds_after_finished is not None:
        body["ttlSecondsAfterFinished"] = settings.ttl_seconds_after_finished
    if spec.timeout_seconds is not None:
        body["activeDeadlineSeconds"] = math.ceil(spec.timeout_seconds)
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": body}


def _image(spec: JobSpec, plan: ServerPlan | None, settings: ClusterJobSettings) -> str:
    image = spec.image or (plan.template.image if plan is not None else settings.default_image)
    if not image:
        raise InvalidRequestError(
            "This server was not started from the hub, so jobs have no image to run in; "
            "set c.KubernetesBackend.default_image or restart the server from the hub."
        )
    return image


def _mounts(spec: JobSpec, plan: ServerPlan | None) -> tuple[Mount, ...]:
    """The job's storage levels; always the user's own, which holds the job folder."""
    if plan is None:
        return ()
    chosen = spec.mounts or plan.mounts
    own = tuple(m for m in plan.mounts if m.level == "user" and m not in chosen)
    return own + tuple(chosen)


def _notebook_dir(spec: JobSpec, settings: ClusterJobSettings) -> str:
    home = settings.storage.home_mount_path
    parent = spec.notebook.rpartition("/")[0]
    return f"{home}/{parent}" if parent else home
