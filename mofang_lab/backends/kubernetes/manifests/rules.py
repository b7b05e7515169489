"""The operators' admission rules that a schema cannot express, checked before a create.

The CRD schemas say which fields exist; the operators' webhooks and
reconcilers say more, and a job that breaks one of those rules is refused by
the API server (or sits unreconciled) with a message a user cannot act on.
Each rule here is written down with its source, checked on every object the
builders make (in tests) and on every object the backend is about to create:

* names: the Training Operator and mpi-operator accept DNS-1035 labels (their
  pods and services are named ``<job>-<role>-<index>``); a batch Job's name
  must fit a label value (63 characters), since its pods carry it;
* PyTorchJob: replica types Master and Worker only, exactly 1 Master, and a
  container named ``pytorch`` in every replica;
* TFJob: replica types Chief, Master, PS, Worker, Evaluator; at most 1 Chief
  or Master, not both; a container named ``tensorflow`` in every replica;
* MPIJob (v2beta1): replica types Launcher and Worker, exactly 1 Launcher;
  ``slotsPerWorker`` at least 1; restart policies Never or OnFailure only; the
  last worker's pod name ``<job>-worker-<n-1>`` a DNS-1123 label;
* every kind: restart policies and ``cleanPodPolicy`` among the operators'
  values, ``minAvailable`` not above the replica count;
* ``runPolicy.schedulingPolicy.queue`` is immutable (a CEL rule of the
  Training Operator CRDs): :func:`update_violations` checks a changed object.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["operator_violations", "update_violations"]

_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?\Z")
_DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_RESTART_POLICIES = frozenset({"Always", "OnFailure", "Never", "ExitCode"})
#: mpi-operator v2beta1 validation: validRestartPolicies.
_MPI_RESTART_POLICIES = frozenset({"OnFailure", "Never"})
_CLEAN_POD_POLICIES = frozenset({"None", "Running", "All"})

_RULES: dict[str, tuple[str, frozenset[str], dict[str, tuple[int, int]], str | None]] = {
    # kind: (replica specs field, replica types, (min, max) replicas per type, container)
    "PyTorchJob": (
        "pytorchReplicaSpecs",
        frozenset({"Master", "Worker"}),
        {"Master": (1, 1)},
        "pytorch",
    ),
    "TFJob": (
        "tfReplicaSpecs",
        frozenset({"Chief", "Master", "PS", "Worker", "Evaluator"}),
        {"Chief": (0, 1), "Master": (0, 1)},
        "tensorflow",
    ),
    "MPIJob": ("mpiReplicaSpecs", frozenset({"Launcher", "Worker"}), {"Launcher": (1, 1)}, None),
}


def operator_violations(obj: Mapping[str, Any]) -> list[str]:
    """Every rule ``obj`` breaks, each as a sentence; empty when the operator accepts it."""
    kind = obj.get("kind", "")
    name = str((obj.get("metadata") or {}).get("name", ""))
    problems = _name_problems(kind, name)
    rules = _RULES.get(kind)
    spec = obj.get("spec") or {}
    if rules is None:
        if kind == "Job":
            template_spec = (spec.get("template") or {}).get("spec") or {}
            if template_spec.get("restartPolicy") not in ("Never", "OnFailure"):
                problems.append("a Job's pods must have restartPolicy Never or OnFailure")
        return problems
    field, types, counts, container = rules
    replicas: Mapping[str, Any] = spec.get(field) or {}
    if not replicas:
        problems.append(f"a {kind} needs {field}")
    for role, replica in replicas.items():
        if role not in types:
            problems.append(
                f"{kind} has no replica type {role!r} (only {', '.join(sorted(types))})"
            )
        allowed = _MPI_RESTART_POLICIES if kind == "MPIJob" else _RESTART_POLICIES
        if replica.get("restartPolicy", "Never") not in allowed:
            problems.append(f"{role}: restartPolicy {replica.get('restartPolicy')!r} is unknown")
        names = [c.get("name") for c in _containers(replica)]
        if container is not None and container not in names:
            problems.append(f"{role}: a {kind} replica needs a container named {container!r}")
    for role, (low, high) in counts.items():
        count = int((replicas.get(role) or {}).get("replicas", 1 if role in replicas else 0))
        if not low <= count <= high:
            want = f"exactly {low}" if low == high else f"at most {high}"
            problems.append(f"a {kind} has {want} {role} replica (got {count})")
    if kind == "TFJob" and "Chief" in replicas and "Master" in replicas:
        problems.append("a TFJob has a Chief or a Master replica, not both")
    if kind == "MPIJob" and not _name_problems(kind, name):
        # mpi-operator validateMPIJobName: pods are named up to <job>-worker-<replicas - 1>.
        workers = int((replicas.get("Worker") or {}).get("replicas", 1))
        last = f"{name}-worker-{max(workers, 1) - 1}"
        if len(last) > 63 or not _DNS_1123_LABEL.match(last):
            problems.append(
                f"the MPIJob's last worker would be named {last!r}, which is not a DNS-1123 "
                "label of at most 63 characters; choose a shorter name"
            )
    if kind == "MPIJob" and int(spec.get("slotsPerWorker", 1)) < 1:
        problems.append("an MPIJob needs slotsPerWorker of at least 1")
    run = spec.get("runPolicy") or {}
    if run.get("cleanPodPolicy", "None") not in _CLEAN_POD_POLICIES:
        problems.append(f"cleanPodPolicy {run.get('cleanPodPolicy')!r} is unknown")
    total = sum(int(r.get("replicas", 1)) for r in replicas.values())
    minimum = (run.get("schedulingPolicy") or {}).get("minAvailable")
    if minimum is not None and int(minimum) > total:
        problems.append(f"minAvailable {minimum} is more than the job's {total} replicas")
    return problems


def update_violations(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Rules a change from ``old`` to ``new`` breaks (the immutable queue)."""

    def queue(obj: Mapping[str, Any]) -> Any:
        run = (obj.get("spec") or {}).get("runPolicy") or {}
        return (run.get("schedulingPolicy") or {}).get("queue")

    if queue(old) != queue(new):
        return ["spec.runPolicy.schedulingPolicy.queue is immutable"]
    return []


def _name_problems(kind: str, name: str) -> list[str]:
    if kind == "Job":
        ok = len(name) <= 63 and bool(_DNS_1123_LABEL.match(name))
        rule = "a DNS-1123 label of at most 63 characters"
    else:
        ok = len(name) <= 63 and bool(_DNS_1035.match(name))
        rule = "a DNS-1035 label (a lower-case letter, then letters, digits, '-'), 63 at most"
    return [] if ok else [f"the name {name!r} of a {kind or 'job'} must be {rule}"]


def _containers(replica: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(((replica.get("template") or {}).get("spec") or {}).get("containers") or [])
