"""A sweep's Experiment through a real client, a fake Katib and the snapshot's real program.

The Experiment is built exactly as a cluster sweep builds it (the job
backend's builder for the trial, the Katib builder around it), created with
``kubernetes_asyncio`` against the emulator, and run by
:mod:`tests.kubernetes.fake_katib`: each trial's job is Katib's text
substitution of the template, and the trial runs the snapshot's
``program.py`` as a local process with that job's ``MOFANG_PARAMETERS``; its
stdout is read as Katib's StdOut collector reads it. The status mapping then
has to find the trial that really did best.
"""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio.client import CustomObjectsApi

from mofang_lab.backends.kubernetes.manifests import ClusterJobSettings
from mofang_lab.jobs.snapshot import snapshot_notebook
from mofang_lab.jobs.spec import JobSpec
from mofang_lab.sweeps.katib import sweep_record
from mofang_lab.sweeps.katib.trial_job import sweep_experiment
from mofang_lab.sweeps.metrics import parse_metrics
from mofang_lab.sweeps.records import SweepState, TrialState
from mofang_lab.sweeps.spec import SweepSettings
from tests.jobs.notebooks import write_notebook
from tests.kube_emulator import KubeEmulator
from tests.kube_emulator.clients import kubernetes_client
from tests.kubernetes.fake_katib import EXPERIMENT_LABEL, register, sample

EXPERIMENTS = ("kubeflow.org", "v1beta1", "default", "experiments")
TRIALS = ("kubeflow.org", "v1beta1", "default", "trials")

PARAMETERS = 'lr = 0.1\nopt = "sgd"\nepochs = 3\n'
TRAINING = """\
import math

print("trial of", lr, opt, flush=True)
for epoch in range(epochs):
    score = 1 - abs(math.log10(lr) + 2) / 10 - (0.05 if opt == "sgd" else 0.0)
    print(f"accuracy={score * (epoch + 1) / epochs} loss={1 - score}", flush=True)
"""


def expected_accuracy(lr: float, opt: str) -> float:
    """What the notebook above reports last (its best) for these values."""
    return 1 - abs(math.log10(lr) + 2) / 10 - (0.05 if opt == "sgd" else 0.0)


def settings(**overrides: Any) -> SweepSettings:
    return SweepSettings.model_validate(
        {
            "parameters": [
                {
                    "type": "double",
                    "name": "lr",
                    "min": 1e-4,
                    "max": 1.0,
                    "distribution": "logUniform",
                },
                {"type": "categorical", "name": "opt", "values": ["adam", "sgd"]},
            ],
            "objective": {
                "type": "maximize",
                "metric": "accuracy",
                "additional_metrics": ["loss"],
            },
            "algorithm": {"name": "random"},
            "parallel_trials": 2,
            "max_trials": 5,
            **overrides,
        }
    )


def program(tmp_path: Path, cells: list[Any]) -> Path:
    notebook = write_notebook(tmp_path / "train.ipynb", cells)
    snapshot = snapshot_notebook(notebook.read_text(), source_name="train.ipynb", parameters={})
    path = tmp_path / "program.py"
    path.write_text(snapshot.program)
    return path


def runner(path: Path, metrics: list[str]) -> Any:
    """Run ``path`` as the trial's primary container would, with its job's environment."""

    def run_trial(job: dict[str, Any]) -> dict[str, list[float]] | None:
        container = job["spec"]["template"]["spec"]["containers"][0]
        env = {item["name"]: item["value"] for item in container["env"] if "value" in item}
        done = subprocess.run(
            [sys.executable, str(path)],
            env={**os.environ, "MOFANG_PARAMETERS": env["MOFANG_PARAMETERS"]},
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            return None
        reports: dict[str, list[float]] = {}
        for report in parse_metrics(done.stdout.splitlines(), metrics):
            reports.setdefault(report.name, []).append(report.value)
        return reports

    return run_trial


def experiment_for(sweep: SweepSettings, sweep_id: str) -> dict[str, Any]:
    spec = JobSpec(name="train", kind="python", notebook="train.ipynb", roles={"Worker": {}})
    return sweep_experiment(
        sweep=sweep,
        spec=spec,
        sweep_id=sweep_id,
        namespace="default",
        owner="Ålice",
        plan=None,
        settings=ClusterJobSettings(default_image="registry.example/pytorch:2.4"),
    )


async def create_and_read(kube: KubeEmulator, experiment: dict[str, Any]) -> tuple[Any, Any]:
    """Create the Experiment, wait for Katib to end it, read it and its Trials back."""
    name = experiment["metadata"]["name"]
    async with kubernetes_client(kube) as api:
        custom = CustomObjectsApi(api)
        await custom.create_namespaced_custom_object(*EXPERIMENTS, experiment)

        def ended() -> bool:
            found = kube.get("experiments", "default", name)
            conditions = (found.get("status") or {}).get("conditions") or []
            return any(c["type"] in ("Succeeded", "Failed") for c in conditions)

        await asyncio.to_thread(kube.wait_for, ended, 60)
        await asyncio.to_thread(kube.wait_idle)
        read = await custom.get_namespaced_custom_object(*EXPERIMENTS, name)
        trials = await custom.list_namespaced_custom_object(
            *TRIALS, label_selector=f"{EXPERIMENT_LABEL}={name}"
        )
    return read, trials["items"]


def test_trials_get_their_values_and_the_best_trial_is_found(tmp_path: Path) -> None:
    path = program(tmp_path, [(PARAMETERS, ["parameters"]), TRAINING])
    sweep = settings()
    with KubeEmulator(kubelet=False) as kube:
        fake = register(kube, runner(path, ["accuracy", "loss"]))
        experiment = experiment_for(sweep, "train-k3x9qa")
        read, trials = asyncio.run(create_and_read(kube, experiment))
    record = sweep_record(
        experiment=read,
        trials=trials,
        sweep_id="train-k3x9qa",
        owner="Ålice",
        name="train",
        notebook="train.ipynb",
        settings=sweep,
        trial_template={"kind": "python"},
    )
    assert record.state == SweepState.SUCCEEDED and record.reason == "MaxTrialsReached"
    assert len(record.trials) == 5 and record.counts == {"Succeeded": 5}
    for trial in record.trials:
        lr, opt = trial.parameters["lr"], trial.parameters["opt"]
        assert isinstance(lr, float) and opt in ("adam", "sgd")
        # The program ran with this trial's values: its best report says so.
        assert trial.objective == pytest.approx(expected_accuracy(lr, str(opt)), rel=1e-12)
    best = max(record.trials, key=lambda t: t.objective or -1)
    assert record.best is not None and record.best.number == best.number
    assert record.best.parameters == best.parameters
    # Each trial's job is its own: named after the trial, in labels and environment too.
    names = {t.job_id for t in record.trials}
    assert {job["metadata"]["name"] for job in fake.jobs} == names
    for job in fake.jobs:
        name = job["metadata"]["name"]
        assert job["metadata"]["labels"]["mofang.io/job-id"] == name
        env = job["spec"]["template"]["spec"]["containers"][0]["env"]
        assert {"name": "MOFANG_JOB_ID", "value": name} in env
        assert job["metadata"]["labels"]["mofang.io/sweep-id"] == "train-k3x9qa"


def test_trials_that_never_report_fail_the_sweep(tmp_path: Path) -> None:
    path = program(tmp_path, [(PARAMETERS, ["parameters"]), "print('no metrics here')"])
    sweep = settings(max_failed_trials=0)
    with KubeEmulator(kubelet=False) as kube:
        register(kube, runner(path, ["accuracy", "loss"]))
        read, trials = asyncio.run(create_and_read(kube, experiment_for(sweep, "quiet-a1b2c3")))
    record = sweep_record(
        experiment=read,
        trials=trials,
        sweep_id="quiet-a1b2c3",
        owner="Ålice",
        name="quiet",
        notebook="train.ipynb",
        settings=sweep,
        trial_template={},
    )
    # max_failed_trials=0 is maxFailedTrialCount=1: the first failure ends the sweep.
    assert record.state == SweepState.FAILED and record.reason == "MaxFailedTrialsExceeded"
    failed = [t for t in record.trials if t.state == TrialState.FAILED]
    assert failed and "never reported accuracy" in failed[0].message
    assert record.best is None


def test_the_fake_draws_values_inside_the_search_space() -> None:
    grid = experiment_for(
        settings(
            parameters=[
                {"type": "int", "name": "layers", "min": 1, "max": 3},
                {"type": "categorical", "name": "opt", "values": ["adam", "sgd"]},
            ],
            algorithm={"name": "grid"},
            max_trials=6,
        ),
        "grid-a1b2c3",
    )
    points = {tuple(a["value"] for a in sample(grid, i)) for i in range(6)}
    assert points == {(str(n), o) for n in (1, 2, 3) for o in ("adam", "sgd")}
    drawn = [sample(experiment_for(settings(), "train-k3x9qa"), i) for i in range(20)]
    for lr, opt in ((float(a[0]["value"]), a[1]["value"]) for a in drawn):
        assert 1e-4 <= lr <= 1.0 and opt in ("adam", "sgd")
