"""Every job kind as a trial template, built with the Kubernetes job backend's own builder.

Golden facts of each kind's template (primary container and pod, success and
failure conditions, placeholders) and the run-time contract: substituted as
Katib substitutes it, every container of every replica gets the trial's
values in ``MOFANG_PARAMETERS``, and the job is named after the trial
wherever it names itself.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from mofang_lab.backends.kubernetes.manifests import ClusterJobSettings, job_manifest
from mofang_lab.jobs.spec import JobSpec
from mofang_lab.sweeps.katib import admission_problems
from mofang_lab.sweeps.katib.trial_job import sweep_experiment, trial_job
from mofang_lab.sweeps.katib.trials import containers
from mofang_spawner.errors import InvalidRequestError
from tests.kubernetes.fake_katib import substitute
from tests.sweeps.test_katib_experiment import LAYERS, LR, OPT, sweep

SETTINGS = ClusterJobSettings(default_image="registry.example/train:1")
KUBEFLOW_SUCCESS = 'status.conditions.#(type=="Succeeded")#|#(status=="True")#'
JOB_SUCCESS = 'status.conditions.#(type=="Complete")#|#(status=="True")#'
FAILURE = 'status.conditions.#(type=="Failed")#|#(status=="True")#'

#: kind -> (roles, apiVersion, Kind, primary container, primary pod labels, success condition)
KINDS: dict[str, tuple[dict[str, Any], str, str, str, dict[str, str] | None, str]] = {
    "python": ({"Worker": {}}, "batch/v1", "Job", "python", None, JOB_SUCCESS),
    "pytorch": (
        {"Master": {}, "Worker": {"replicas": 2}},
        "kubeflow.org/v1",
        "PyTorchJob",
        "pytorch",
        {"training.kubeflow.org/job-role": "master"},
        KUBEFLOW_SUCCESS,
    ),
    "tensorflow": (
        {"Chief": {}, "PS": {}, "Worker": {"replicas": 2}},
        "kubeflow.org/v1",
        "TFJob",
        "tensorflow",
        {"training.kubeflow.org/replica-type": "chief", "training.kubeflow.org/replica-index": "0"},
        KUBEFLOW_SUCCESS,
    ),
    "mpi": (
        {"Launcher": {}, "Worker": {"replicas": 2}},
        "kubeflow.org/v2beta1",
        "MPIJob",
        "mpi",
        {"training.kubeflow.org/job-role": "launcher"},
        KUBEFLOW_SUCCESS,
    ),
}

ASSIGNMENTS = [
    {"name": "lr", "value": "0.003"},
    {"name": "opt", "value": "adam"},
    {"name": "layers", "value": "3"},
]


def job_spec(kind: str, roles: dict[str, Any] | None = None) -> JobSpec:
    return JobSpec(
        name="train",
        kind=kind,
        notebook="work/train.ipynb",
        roles=roles if roles is not None else KINDS[kind][0],
    )


def experiment(kind: str, roles: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    return sweep_experiment(
        sweep=kw.pop("sweep", sweep(parameters=[LR, OPT, LAYERS])),
        spec=job_spec(kind, roles),
        sweep_id="train-k3x9qa",
        namespace="alice",
        owner="alice",
        plan=None,
        settings=SETTINGS,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_golden_trial_template_of_every_job_kind(kind: str) -> None:
    _roles, api_version, kind_name, container, labels, success = KINDS[kind]
    template = experiment(kind)["spec"]["trialTemplate"]
    assert template["primaryContainerName"] == container
    assert template.get("primaryPodLabels") == labels
    assert (template["successCondition"], template["failureCondition"]) == (success, FAILURE)
    assert [p["name"] for p in template["trialParameters"]] == ["lr", "opt", "layers", "trial-name"]
    job = template["trialSpec"]
    assert (job["apiVersion"], job["kind"]) == (api_version, kind_name)
    assert "name" not in job["metadata"] and "namespace" not in job["metadata"]
    assert job["metadata"]["labels"]["mofang.io/sweep-id"] == "train-k3x9qa"
    value = (
        '{"lr": ${trialParameters.lr}, "opt": "${trialParameters.opt}", '
        '"layers": ${trialParameters.layers}}'
    )
    for item in containers(job):
        assert {"name": "MOFANG_PARAMETERS", "value": value} in item["env"]
        # Every trial shares the sweep's folder, where its snapshot is.
        assert item["workingDir"].endswith("/jobs/train-k3x9qa")


def test_a_tensorflow_job_without_a_chief_reports_from_worker_0() -> None:
    template = experiment("tensorflow", {"Worker": {"replicas": 2}})["spec"]["trialTemplate"]
    assert template["primaryPodLabels"] == {
        "training.kubeflow.org/replica-type": "worker",
        "training.kubeflow.org/replica-index": "0",
    }


def test_the_mpi_launcher_forwards_the_values_to_its_ranks() -> None:
    job = experiment("mpi")["spec"]["trialTemplate"]["trialSpec"]
    launcher = job["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]
    assert launcher["command"][:3] == ["mpirun", "-x", "MOFANG_PARAMETERS"]
    worker = job["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    assert "mpirun" not in worker["command"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_substituted_trial_is_the_job_with_the_trials_values_and_name(kind: str) -> None:
    built = experiment(kind)
    assert admission_problems(built) == []
    job = substitute(built, ASSIGNMENTS, "train-k3x9qa-5x7z9kqd")
    expected = job_manifest(
        spec=job_spec(kind),
        name="train-k3x9qa-5x7z9kqd",
        namespace="alice",
        owner="alice",
        plan=None,
        settings=SETTINGS,
        workdir="/home/jovyan/jobs/train-k3x9qa",
    )
    # What Katib creates differs from a job submitted under the trial's name only by
    # the sweep label, the values and (for MPI) their forwarding by mpirun.
    assert job["metadata"]["labels"].pop("mofang.io/sweep-id") == "train-k3x9qa"
    values = []
    for item in containers(job):
        values.append(json.loads(item["env"].pop()["value"]))
        if item["command"][:2] == ["mpirun", "-x"]:
            del item["command"][1:3]
    assert values and all(v == {"lr": 0.003, "opt": "adam", "layers": 3} for v in values)
    del expected["metadata"]["namespace"]
    assert job == expected


def test_trial_job_is_named_like_the_experiment_in_the_sweeps_folder() -> None:
    job = trial_job(
        spec=job_spec("python"),
        sweep_id="train-k3x9qa",
        namespace="alice",
        owner="alice",
        plan=None,
        settings=SETTINGS,
    )
    assert job["metadata"]["name"] == "train-k3x9qa"
    assert job["spec"]["template"]["spec"]["containers"][0]["workingDir"] == (
        "/home/jovyan/jobs/train-k3x9qa"
    )


def test_a_sweep_katib_would_refuse_is_refused_before_anything_exists() -> None:
    with pytest.raises(InvalidRequestError, match="may hold only letters, digits"):
        experiment("python", sweep=sweep(parameters=[{**OPT, "values": ['a"b']}]))
