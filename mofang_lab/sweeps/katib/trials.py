"""The trial template of a Katib ``Experiment``: a job manifest with placeholders.

Every trial runs the same job (from the Kubernetes job backend's builder) on
the same snapshot; only its parameter values differ. Katib fills them in by
replacing ``${trialParameters.<name>}`` in the JSON text of ``trialSpec``, so
each container of the job gets one environment variable, ``MOFANG_PARAMETERS``,
whose value is a JSON object of placeholders: numbers bare
(``{"lr": ${trialParameters.lr}}`` becomes ``{"lr": 0.01}``), strings quoted
(``"opt": "${trialParameters.opt}"``). The snapshot's program reads it after
the cell tagged ``parameters`` (:mod:`mofang_lab.jobs.parameters`).

Katib decides that a trial ended from its job's status with a gjson
expression, and collects metrics from the *primary* pod's primary container;
both depend on the job's kind:

=========================== ============================ ==================================
job (apiVersion, kind)      success / failure condition  primary pod (``primaryPodLabels``)
=========================== ============================ ==================================
kubeflow.org/v1 PyTorchJob  ``Succeeded`` / ``Failed``   ``job-role: master``
kubeflow.org/v1 TFJob       ``Succeeded`` / ``Failed``   ``replica-type: chief`` (or
                                                         ``worker``), ``replica-index: "0"``
kubeflow.org/v2beta1 MPIJob ``Succeeded`` / ``Failed``   ``job-role: launcher``
batch/v1 Job                ``Complete`` / ``Failed``    its only pod (no labels needed)
=========================== ============================ ==================================

(label keys under ``training.kubeflow.org/``, set by the operators on their pods.)
The primary pod is the one whose stdout carries the reports, the same replica
the local backend reads (:attr:`~mofang_lab.jobs.spec.JobSpec.main_replica`).

Each trial's job is its own job: Katib names it after the trial, and the
job's name, wherever the builder wrote it (the ``mofang.io/job-id`` label,
``MOFANG_JOB_ID``, the affinity that keeps a job's replicas together), becomes
``${trialParameters.trial-name}``, which Katib fills with the trial's name
(the reference ``${trialSpec.Name}``). An MPI launcher's ``mpirun`` forwards
``MOFANG_PARAMETERS`` to the ranks it starts (``-x``), which do not inherit
the launcher's environment otherwise.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

from mofang_lab.jobs.parameters import PARAMETERS_VARIABLE
from mofang_lab.sweeps.spec import CategoricalParameter, Parameter
from mofang_spawner.errors import InvalidRequestError

__all__ = [
    "TRIAL_KINDS",
    "TRIAL_NAME_PARAMETER",
    "containers",
    "failure_condition",
    "parameters_value",
    "placeholder",
    "primary_pod_labels",
    "primary_template",
    "success_condition",
    "trial_parameters",
    "trial_spec",
]

_KUBEFLOW_SUCCESS = 'status.conditions.#(type=="Succeeded")#|#(status=="True")#'
_JOB_SUCCESS = 'status.conditions.#(type=="Complete")#|#(status=="True")#'
_FAILURE = 'status.conditions.#(type=="Failed")#|#(status=="True")#'

#: (apiVersion, kind) of a trial job -> the key of its replica specs (None: a batch Job).
TRIAL_KINDS: dict[tuple[str, str], str | None] = {
    ("kubeflow.org/v1", "PyTorchJob"): "pytorchReplicaSpecs",
    ("kubeflow.org/v1", "TFJob"): "tfReplicaSpecs",
    ("kubeflow.org/v2beta1", "MPIJob"): "mpiReplicaSpecs",
    ("batch/v1", "Job"): None,
}

#: The trial parameter that carries the trial's (and its job's) name.
TRIAL_NAME_PARAMETER = "trial-name"

_REPLICA_TYPE = "training.kubeflow.org/replica-type"
_REPLICA_INDEX = "training.kubeflow.org/replica-index"
_JOB_ROLE = "training.kubeflow.org/job-role"


def _kind(manifest: dict[str, Any]) -> tuple[str, str]:
    key = (str(manifest.get("apiVersion", "")), str(manifest.get("kind", "")))
    if key not in TRIAL_KINDS:
        known = ", ".join(f"{a} {k}" for a, k in TRIAL_KINDS)
        raise InvalidRequestError(
            f"A sweep's trial cannot be a {key[0]} {key[1]}; Mofang runs trials as {known}."
        )
    return key


def placeholder(name: str) -> str:
    """Where Katib puts a trial's value of parameter ``name``."""
    return "${trialParameters." + name + "}"


def parameters_value(parameters: tuple[Parameter, ...]) -> str:
    """The value of ``MOFANG_PARAMETERS`` in the template: a JSON object of placeholders."""
    fields = []
    for p in parameters:
        value = placeholder(p.name)
        if isinstance(p, CategoricalParameter):
            value = f'"{value}"'
        fields.append(f"{json.dumps(p.name)}: {value}")
    return "{" + ", ".join(fields) + "}"


def trial_parameters(parameters: tuple[Parameter, ...], *, with_name: bool) -> list[dict[str, str]]:
    """``trialTemplate.trialParameters``: one per searched parameter, named after it.

    ``with_name``: also the trial's name (a name no Python variable can have).
    """
    declared = [
        {
            "name": p.name,
            "description": f"{p.type} parameter {p.name} of the notebook's parameters cell",
            "reference": p.name,
        }
        for p in parameters
    ]
    if with_name:
        declared.append(
            {
                "name": TRIAL_NAME_PARAMETER,
                "description": "the trial's name, which is its job's name",
                "reference": "${trialSpec.Name}",
            }
        )
    return declared


def _templates(manifest: dict[str, Any]) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """Every pod template of the job: (replica type or None, template)."""
    replicas_key = TRIAL_KINDS[_kind(manifest)]
    spec = manifest.get("spec") or {}
    if replicas_key is None:
        yield None, spec.get("template") or {}
        return
    for replica_type, replica in (spec.get(replicas_key) or {}).items():
        yield replica_type, (replica or {}).get("template") or {}


def containers(manifest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every container of every pod template of the job."""
    for _replica_type, template in _templates(manifest):
        yield from (template.get("spec") or {}).get("containers") or []


def _primary_type(manifest: dict[str, Any]) -> str | None:
    kind = _kind(manifest)[1]
    types = [t for t, _ in _templates(manifest)]
    if kind == "PyTorchJob":
        return "Master"
    if kind == "MPIJob":
        return "Launcher"
    if kind == "TFJob":
        return "Chief" if "Chief" in types else "Worker"
    return None


def primary_template(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The pod template of the replica whose stdout Katib reads (None if the job lacks it)."""
    primary = _primary_type(manifest)
    for replica_type, template in _templates(manifest):
        if replica_type == primary:
            return template
    return None


def primary_pod_labels(manifest: dict[str, Any]) -> dict[str, str] | None:
    """``trialTemplate.primaryPodLabels``: the labels of the pod that reports (None: any pod)."""
    kind = _kind(manifest)[1]
    if kind == "PyTorchJob":
        return {_JOB_ROLE: "master"}
    if kind == "MPIJob":
        return {_JOB_ROLE: "launcher"}
    if kind == "TFJob":
        primary = _primary_type(manifest)
        assert primary is not None
        return {_REPLICA_TYPE: primary.lower(), _REPLICA_INDEX: "0"}
    return None


def success_condition(manifest: dict[str, Any]) -> str:
    """``trialTemplate.successCondition``: gjson over the job's status, as Katib defaults it."""
    return _JOB_SUCCESS if _kind(manifest)[1] == "Job" else _KUBEFLOW_SUCCESS


def failure_condition(manifest: dict[str, Any]) -> str:
    """``trialTemplate.failureCondition``: the job's ``Failed`` condition is true."""
    _kind(manifest)
    return _FAILURE


def trial_spec(
    manifest: dict[str, Any],
    parameters: tuple[Parameter, ...],
    *,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``trialTemplate.trialSpec``: the job without name and namespace, values as placeholders.

    Katib names each trial's job after the trial and creates it in the
    Experiment's namespace, and refuses a template that sets either; the
    manifest's name, wherever else it appears as a whole value, becomes the
    trial's name. ``labels`` are added to the job's own labels.
    """
    name = (manifest.get("metadata") or {}).get("name")
    spec = _renamed(copy.deepcopy(manifest), name) if name else copy.deepcopy(manifest)
    metadata = spec.get("metadata") or {}
    if labels:
        metadata["labels"] = {**(metadata.get("labels") or {}), **labels}
    metadata.pop("name", None)
    metadata.pop("namespace", None)
    metadata.pop("generateName", None)
    if metadata:
        spec["metadata"] = metadata
    else:
        spec.pop("metadata", None)
    value = parameters_value(parameters)
    for container in containers(spec):
        env = container.setdefault("env", [])
        if any(item.get("name") == PARAMETERS_VARIABLE for item in env):
            raise InvalidRequestError(
                f"Container {container.get('name')!r} of the trial's job already sets "
                f"{PARAMETERS_VARIABLE}; the sweep sets it for every trial."
            )
        env.append({"name": PARAMETERS_VARIABLE, "value": value})
    if _kind(spec)[1] == "MPIJob":
        _forward_through_mpirun(spec)
    return spec


def _renamed(value: Any, name: str) -> Any:
    """``value`` with every string equal to ``name`` replaced by the trial-name placeholder."""
    if isinstance(value, dict):
        return {key: _renamed(item, name) for key, item in value.items()}
    if isinstance(value, list):
        return [_renamed(item, name) for item in value]
    return placeholder(TRIAL_NAME_PARAMETER) if value == name else value


def _forward_through_mpirun(spec: dict[str, Any]) -> None:
    template = primary_template(spec) or {}
    for container in (template.get("spec") or {}).get("containers") or []:
        command = container.get("command") or []
        if command[:1] == ["mpirun"] and PARAMETERS_VARIABLE not in command:
            container["command"] = [command[0], "-x", PARAMETERS_VARIABLE, *command[1:]]
