"""The pod template of one role: the notebook's image, mounts and paths, placed by the policy.

A replica must run exactly what the user submitted, where the user's notebook
would find it: the same image as the notebook server, the same storage
levels mounted at the same paths (the user's directory, each project group's,
the global one read-only), the job folder of the snapshot as working
directory and the notebook's folder on ``PYTHONPATH``, as the local backend
does. Placement follows the design: GPU replicas on the nodes of the job's
GPU type (packed onto few nodes by a preferred pod affinity), CPU-only
replicas on the CPU pool with CPU-only resources. Pods get no API token: a
replica has no business with the cluster.
"""

from __future__ import annotations

import posixpath
from typing import Any

from mofang_lab.backends.kubernetes.manifests.labels import (
    JOB_ID_LABEL,
    OPERATOR_REPLICA_INDEX_LABEL,
    ROLE_LABEL,
)
from mofang_lab.backends.kubernetes.manifests.resources import RoleResources
from mofang_lab.backends.kubernetes.manifests.settings import ClusterJobSettings
from mofang_lab.jobs.spec import ReplicaType
from mofang_spawner.kubernetes.placement import VOLCANO_QUEUE_ANNOTATION
from mofang_spawner.kubernetes.storage import volumes_and_mounts
from mofang_spawner.planning import JobPolicy, Mount, ServerPlan, Toleration

__all__ = ["PodInputs", "job_workdir", "pod_template"]

Obj = dict[str, Any]


class PodInputs:
    """What every pod template of one job shares."""

    def __init__(
        self,
        *,
        job_id: str,
        image: str,
        image_pull_policy: str,
        workdir: str,
        notebook_dir: str,
        env: dict[str, str],
        labels: dict[str, str],
        annotations: dict[str, str],
        plan: ServerPlan | None,
        mounts: tuple[Mount, ...],
        settings: ClusterJobSettings,
        gang: bool,
        indexed: bool,
    ) -> None:
        self.job_id = job_id
        self.image = image
        self.image_pull_policy = image_pull_policy
        self.workdir = workdir
        self.notebook_dir = notebook_dir
        self.env = env
        self.labels = labels
        self.annotations = annotations
        self.plan = plan
        #: The storage levels the job mounts (the plan's, or the subset the job chose).
        self.mounts = mounts
        self.settings = settings
        self.gang = gang
        #: The operator labels each pod with its replica index (not so for a plain Job).
        self.indexed = indexed


def pod_template(
    *,
    inputs: PodInputs,
    role: ReplicaType,
    container: str,
    command: list[str],
    resources: RoleResources,
    restart_policy: str,
) -> Obj:
    """The ``template`` of one replica spec (or of a batch Job)."""
    settings = inputs.settings
    policy = inputs.plan.jobs if inputs.plan is not None else None
    volumes: list[Obj] = []
    mounts: list[Obj] = []
    if inputs.plan is not None:
        volumes, mounts = volumes_and_mounts(
            plan=inputs.plan.model_copy(update={"mounts": inputs.mounts}),
            storage=settings.storage,
        )
    main: Obj = {
        "name": container,
        "image": inputs.image,
        "imagePullPolicy": inputs.image_pull_policy,
        "command": command,
        "workingDir": inputs.workdir,
        "env": _env(inputs, role),
        "resources": resources.container_resources(),
    }
    if mounts:
        main["volumeMounts"] = mounts
    spec: Obj = {
        "restartPolicy": restart_policy,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "containers": [main],
    }
    if volumes:
        spec["volumes"] = volumes
    if settings.service_account:
        spec["serviceAccountName"] = settings.service_account
    annotations = dict(inputs.annotations)
    spec.update(_placement(inputs, policy, resources, annotations))
    return {
        "metadata": {
            "labels": {**inputs.labels, ROLE_LABEL: role.lower()},
            "annotations": annotations,
        },
        "spec": spec,
    }


def _env(inputs: PodInputs, role: ReplicaType) -> list[Obj]:
    paths = [inputs.notebook_dir, inputs.env.get("PYTHONPATH", "")]
    fixed = {
        **inputs.env,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": ":".join(p for p in paths if p),
        "MOFANG_JOB_ID": inputs.job_id,
        "MOFANG_JOB_DIR": inputs.workdir,
        "MOFANG_REPLICA_TYPE": role,
    }
    # The kubelet expands $(NAME) in a value and turns $$ into $: every $ is doubled so
    # that the process sees the value exactly as given, as it does on the local backend.
    env: list[Obj] = [{"name": k, "value": v.replace("$", "$$")} for k, v in sorted(fixed.items())]
    # The operators label each pod with its index; a plain Job has one replica, index 0.
    env.append(
        {
            "name": "MOFANG_REPLICA_INDEX",
            "valueFrom": {
                "fieldRef": {"fieldPath": f"metadata.labels['{OPERATOR_REPLICA_INDEX_LABEL}']"}
            },
        }
        if inputs.indexed
        else {"name": "MOFANG_REPLICA_INDEX", "value": "0"}
    )
    return env


def _placement(
    inputs: PodInputs,
    policy: JobPolicy | None,
    resources: RoleResources,
    annotations: dict[str, str],
) -> Obj:
    settings = inputs.settings
    fields: Obj = {}
    gpu_type = resources.gpu_type if resources.gpus else None
    node_selector: dict[str, str] = {}
    tolerations: list[Toleration] = []
    if gpu_type is not None:
        node_selector.update(policy.node_selector if policy else {})
        node_selector.update(gpu_type.node_selector)
        tolerations = [*(policy.tolerations if policy else ()), *gpu_type.tolerations]
        # Pack a job's GPU replicas onto few nodes: fewer, faster links between them.
        fields["affinity"] = {
            "podAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "labelSelector": {"matchLabels": {JOB_ID_LABEL: inputs.job_id}},
                            "topologyKey": "kubernetes.io/hostname",
                        },
                    }
                ]
            }
        }
    elif settings.cpu_node_selector:
        node_selector.update(settings.cpu_node_selector)
    elif policy is not None:
        node_selector.update(policy.node_selector)
        tolerations = list(policy.tolerations)
    if node_selector:
        fields["nodeSelector"] = node_selector
    unique = [t for i, t in enumerate(tolerations) if t not in tolerations[:i]]
    if unique:
        fields["tolerations"] = [
            {k: v for k, v in t.model_dump().items() if v is not None} for t in unique
        ]
    scheduler = _scheduler(inputs, policy, gpu_type.scheduler_name if gpu_type else None)
    if scheduler is not None:
        fields["schedulerName"] = scheduler
        if scheduler == settings.gang_scheduler and policy is not None and policy.queue:
            annotations[VOLCANO_QUEUE_ANNOTATION] = policy.queue
    if policy is not None and policy.priority_class_name:
        fields["priorityClassName"] = policy.priority_class_name
    return fields


def _scheduler(
    inputs: PodInputs, policy: JobPolicy | None, gpu_scheduler: str | None
) -> str | None:
    if gpu_scheduler is not None:
        return gpu_scheduler
    if inputs.settings.gang_scheduler is not None and (inputs.gang or (policy and policy.queue)):
        return inputs.settings.gang_scheduler
    return policy.scheduler_name if policy is not None else None


def job_workdir(*, settings: ClusterJobSettings, job_id: str) -> str:
    """The job folder inside the pod: below the workspace root, where the server wrote it."""
    return posixpath.join(settings.storage.home_mount_path, settings.jobs_dir, job_id)
