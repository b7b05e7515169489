"""Fake Training Operator, mpi-operator, Job controller and Volcano, as emulator hooks.

What the real controllers do, in miniature, so the Kubernetes job backend can
be driven from submit to the end without a cluster:

* a PyTorchJob, TFJob, MPIJob or batch Job gets a ``Created`` condition, a
  Volcano PodGroup when its pods are scheduled by Volcano, and one pod per
  replica, labelled as the operators label them and given the environment
  contract (``MASTER_ADDR``/``RANK``/``WORLD_SIZE`` or ``PET_*`` for PyTorch,
  ``TF_CONFIG``, the MPI launcher's ``mpirun`` running the ranks locally);
* the fake kubelet (``run_pods=True``) runs each pod's command as a local
  process, so the replicas really train; MPI workers, which would run an SSH
  daemon, run a stand-in that waits;
* pod phases become the job's conditions: ``Running`` when every pod runs,
  ``Succeeded`` when the main replica (Master, Chief, Launcher, the Workers of
  a TFJob without Chief, the Job's pod) succeeded, ``Failed`` when a pod
  failed; then pods are deleted as the job's ``cleanPodPolicy`` says.

``hold=True`` plays a cluster without room: the PodGroup is marked
``Unschedulable`` and no pod is created.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import socket
import sys
from typing import Any

from tests.kube_emulator import KubeEmulator

Obj = dict[str, Any]

#: kind -> (plural, replica specs field, main role)
KINDS: dict[str, tuple[str, str | None, str | None]] = {
    "PyTorchJob": ("pytorchjobs", "pytorchReplicaSpecs", "Master"),
    "TFJob": ("tfjobs", "tfReplicaSpecs", "Chief"),
    "MPIJob": ("mpijobs", "mpiReplicaSpecs", "Launcher"),
    "Job": ("jobs", None, None),
}
ROLE_ORDER = ("Master", "Chief", "PS", "Launcher", "Worker")
JOB_NAME = "training.kubeflow.org/job-name"
REPLICA_TYPE = "training.kubeflow.org/replica-type"
REPLICA_INDEX = "training.kubeflow.org/replica-index"
BATCH_JOB_NAME = "batch.kubernetes.io/job-name"
_clock = itertools.count(1)


def install_operator_crds(kube: KubeEmulator) -> None:
    kube.register_crd(group="kubeflow.org", version="v1", plural="pytorchjobs", kind="PyTorchJob")
    kube.register_crd(group="kubeflow.org", version="v1", plural="tfjobs", kind="TFJob")
    kube.register_crd(group="kubeflow.org", version="v2beta1", plural="mpijobs", kind="MPIJob")
    kube.register_crd(
        group="scheduling.volcano.sh", version="v1beta1", plural="podgroups", kind="PodGroup"
    )
    kube.register_crd(
        group="scheduling.volcano.sh",
        version="v1beta1",
        plural="queues",
        kind="Queue",
        namespaced=False,
    )


class FakeOperators:
    """Install with :meth:`install`; ``hold`` keeps new jobs unschedulable."""

    def __init__(self, kube: KubeEmulator, *, hold: bool = False) -> None:
        self.kube = kube
        self.hold = hold

    def install(self) -> None:
        install_operator_crds(self.kube)
        for kind in KINDS:
            self.kube.on(kind=kind, handler=self._on_job)
        self.kube.on(kind="Pod", handler=self._on_pod)

    # --- jobs ---------------------------------------------------------------------

    def _on_job(self, kube: KubeEmulator, event_type: str, obj: Obj) -> None:
        if event_type != "ADDED" or (obj.get("status") or {}).get("conditions"):
            return
        plural, field, _ = KINDS[obj["kind"]]
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        replicas = _replicas(obj, field)
        if not replicas:
            return  # nothing to run (the real operator would report the spec invalid)
        if obj["kind"] != "Job":
            self._condition(obj, "Created", f"{obj['kind']}Created", f"{name} is created.")
        template_spec = replicas[0][2]["spec"]
        if template_spec.get("schedulerName") == "volcano":
            group = {
                "apiVersion": "scheduling.volcano.sh/v1beta1",
                "kind": "PodGroup",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "ownerReferences": [_owner(obj)],
                },
                "spec": {
                    "minMember": len(replicas),
                    "queue": (
                        (obj["spec"].get("runPolicy") or {}).get("schedulingPolicy") or {}
                    ).get("queue", "default"),
                },
            }
            kube.create(group)
            if self.hold:
                kube.patch_status(
                    "podgroups",
                    namespace,
                    name,
                    {
                        "phase": "Pending",
                        "conditions": [
                            {
                                "type": "Unschedulable",
                                "status": "True",
                                "reason": "NotEnoughResources",
                                "message": f"{len(replicas)}/{len(replicas)} tasks in gang "
                                "unschedulable: pod group is not ready, "
                                f"{len(replicas)} minAvailable",
                            }
                        ],
                    },
                )
                return
        ports = _free_ports(len(replicas) + 1)
        for position, (role, index, template) in enumerate(replicas):
            kube.create(self._pod(obj, role, index, template, replicas, ports, position))
        if obj["kind"] == "Job":
            kube.patch_status(plural, namespace, name, {"active": 1, "startTime": _now()})

    def _pod(
        self,
        job: Obj,
        role: str,
        index: int,
        template: Obj,
        replicas: list[tuple[str, int, Obj]],
        ports: list[int],
        position: int,
    ) -> Obj:
        name = job["metadata"]["name"]
        metadata = copy.deepcopy(template.get("metadata") or {})
        labels = metadata.setdefault("labels", {})
        if job["kind"] == "Job":
            labels[BATCH_JOB_NAME] = name
            pod_name = f"{name}-{next(_clock):05d}"
        else:
            labels.update({JOB_NAME: name, REPLICA_TYPE: role.lower(), REPLICA_INDEX: str(index)})
            pod_name = f"{name}-{role.lower()}-{index}"
        spec = copy.deepcopy(template["spec"])
        container = spec["containers"][0]
        env = container.setdefault("env", [])
        env.extend({"name": k, "value": v} for k, v in _contract(job, role, index, replicas, ports))
        if job["kind"] == "MPIJob" and role == "Worker":
            # The real worker runs sshd for mpirun; here the launcher runs every rank.
            container["command"] = [sys.executable, "-c", "import time; time.sleep(600)"]
        elif job["kind"] == "MPIJob":
            container["command"] = [
                container["command"][0],
                "--oversubscribe",
                *container["command"][1:],
            ]
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                **metadata,
                "name": pod_name,
                "namespace": job["metadata"]["namespace"],
                "ownerReferences": [_owner(job)],
            },
            "spec": spec,
        }

    # --- pods to conditions ---------------------------------------------------------

    def _on_pod(self, kube: KubeEmulator, event_type: str, obj: Obj) -> None:
        labels = obj["metadata"].get("labels") or {}
        name = labels.get(JOB_NAME) or labels.get(BATCH_JOB_NAME)
        if not name or event_type == "DELETED":
            return
        kind = next(
            (k for k in KINDS if kube.find(KINDS[k][0], obj["metadata"]["namespace"], name)), None
        )
        if kind is None:
            return
        job = kube.get(KINDS[kind][0], obj["metadata"]["namespace"], name)
        self._update(job)

    def _update(self, job: Obj) -> None:
        status = job.get("status") or {}
        conditions = status.get("conditions") or []
        if any(
            c["type"] in ("Succeeded", "Failed", "Complete") and c["status"] == "True"
            for c in conditions
        ):
            return
        namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
        selector = f"{BATCH_JOB_NAME}={name}" if job["kind"] == "Job" else f"{JOB_NAME}={name}"
        pods = self.kube.list("pods", namespace, label_selector=selector)
        phases = {
            p["metadata"]["name"]: (p.get("status") or {}).get("phase", "Pending") for p in pods
        }
        failed = [p for p in pods if phases[p["metadata"]["name"]] == "Failed"]
        main = _main_pods(job, pods)
        if failed:
            pod = failed[0]
            code = _exit_code(pod)
            self._finish(job, pods, "Failed", f"{pod['metadata']['name']} exited with code {code}")
        elif main and all(phases[p["metadata"]["name"]] == "Succeeded" for p in main):
            self._finish(job, pods, "Succeeded", f"{job['kind']} {name} is successfully completed.")
        elif (
            pods
            and all(ph in ("Running", "Succeeded") for ph in phases.values())
            and not any(c["type"] == "Running" for c in conditions)
            and job["kind"] != "Job"
        ):
            self._condition(job, "Running", f"{job['kind']}Running", f"{name} is running.")
            self.kube.patch_status(KINDS[job["kind"]][0], namespace, name, {"startTime": _now()})

    def _finish(self, job: Obj, pods: list[Obj], outcome: str, message: str) -> None:
        plural = KINDS[job["kind"]][0]
        namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
        if job["kind"] == "Job":
            kind = "Complete" if outcome == "Succeeded" else "Failed"
            self._condition(
                job, kind, "Completed" if kind == "Complete" else "BackoffLimitExceeded", message
            )
            self.kube.patch_status(plural, namespace, name, {"active": 0, "completionTime": _now()})
        else:
            self._condition(job, outcome, f"{job['kind']}{outcome}", message)
            self.kube.patch_status(plural, namespace, name, {"completionTime": _now()})
        policy = ((job["spec"].get("runPolicy") or {}).get("cleanPodPolicy")) or "None"
        for pod in pods:
            phase = (pod.get("status") or {}).get("phase")
            if policy == "All" or (policy == "Running" and phase in ("Pending", "Running")):
                self.kube.delete("pods", namespace, pod["metadata"]["name"])

    def _condition(self, job: Obj, kind: str, reason: str, message: str) -> None:
        plural = KINDS[job["kind"]][0]
        namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
        current = self.kube.get(plural, namespace, name)
        conditions = [
            {**c, "status": "False"}
            if c["type"] == "Running" and kind in ("Succeeded", "Failed")
            else c
            for c in (current.get("status") or {}).get("conditions") or []
        ]
        conditions.append(
            {
                "type": kind,
                "status": "True",
                "reason": reason,
                "message": message,
                "lastTransitionTime": _now(),
            }
        )
        self.kube.patch_status(plural, namespace, name, {"conditions": conditions})


def _replicas(job: Obj, field: str | None) -> list[tuple[str, int, Obj]]:
    if field is None:
        return [("Worker", 0, job["spec"]["template"])]
    specs = job["spec"][field]
    return [
        (role, index, specs[role]["template"])
        for role in ROLE_ORDER
        if role in specs
        for index in range(int(specs[role].get("replicas", 1)))
    ]


def _contract(
    job: Obj, role: str, index: int, replicas: list[tuple[str, int, Obj]], ports: list[int]
) -> list[tuple[str, str]]:
    kind = job["kind"]
    if kind == "PyTorchJob":
        rank = 0 if role == "Master" else index + 1
        env = [
            ("MASTER_ADDR", "127.0.0.1"),
            ("MASTER_PORT", str(ports[0])),
            ("WORLD_SIZE", str(len(replicas))),
            ("RANK", str(rank)),
        ]
        nproc = job["spec"].get("nprocPerNode")
        if nproc:
            env = [
                ("PET_MASTER_ADDR", "127.0.0.1"),
                ("PET_MASTER_PORT", str(ports[0])),
                ("PET_NNODES", str(len(replicas))),
                ("PET_NODE_RANK", str(rank)),
                ("PET_NPROC_PER_NODE", str(nproc)),
            ]
        return env
    if kind == "TFJob":
        cluster: dict[str, list[str]] = {}
        for position, (r, _, _) in enumerate(replicas):
            cluster.setdefault(r.lower(), []).append(f"127.0.0.1:{ports[position + 1]}")
        config = {
            "cluster": cluster,
            "task": {"type": role.lower(), "index": index},
            "environment": "cloud",
        }
        return [("TF_CONFIG", json.dumps(config))]
    if kind == "MPIJob" and role == "Launcher" and os.geteuid() == 0:
        return [("OMPI_ALLOW_RUN_AS_ROOT", "1"), ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")]
    return []


def _main_pods(job: Obj, pods: list[Obj]) -> list[Obj]:
    if job["kind"] == "Job":
        return pods
    main = KINDS[job["kind"]][2]
    roles = {(p["metadata"]["labels"] or {}).get(REPLICA_TYPE) for p in pods}
    if job["kind"] == "TFJob" and "chief" not in roles:
        main = "Worker"
    return [p for p in pods if p["metadata"]["labels"].get(REPLICA_TYPE) == (main or "").lower()]


def _exit_code(pod: Obj) -> Any:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (status.get("state") or {}).get("terminated")
        if terminated:
            return terminated.get("exitCode")
    return "?"


def _owner(job: Obj) -> Obj:
    return {
        "apiVersion": job["apiVersion"],
        "kind": job["kind"],
        "name": job["metadata"]["name"],
        "uid": job["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
