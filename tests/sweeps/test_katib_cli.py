"""`mofang sweep ... --backend kubernetes --dry-run`: the Experiment as YAML, no cluster."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from mofang_lab.cli import main
from mofang_lab.sweeps.katib import admission_problems
from mofang_spawner.planning import PLAN_ENV
from tests.jobs.notebooks import write_notebook

PARAMETERS = 'lr = 0.1\nopt = "sgd"\nlayers = 2\n'


@pytest.fixture
def notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(PLAN_ENV, raising=False)
    monkeypatch.chdir(tmp_path)

    def no_server(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a kubernetes dry run must not look for a server")

    monkeypatch.setattr("mofang_lab.cli.sweep.find_server", no_server)
    return write_notebook(
        tmp_path / "work" / "train.ipynb", [(PARAMETERS, ["parameters"]), "x = 1"]
    )


def sweep(notebook: Path, *extra: str) -> list[str]:
    return [
        "sweep",
        str(notebook),
        "--param",
        "lr=double:0.0001:0.1:log",
        "--param",
        "opt=categorical:adam,sgd",
        "--objective",
        "maximize:accuracy",
        "--backend",
        "kubernetes",
        "--dry-run",
        "--image",
        "registry.example/train:1",
        "--namespace",
        "alice",
        *extra,
    ]


def test_the_dry_run_prints_the_experiment_with_its_trial_job(
    notebook: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(sweep(notebook, "--set", "layers=3", "--max-trials", "6", "--early-stopping")) == 0
    out = capsys.readouterr().out
    assert out.startswith("# The Katib Experiment this sweep would create (nothing was created).")
    experiment = yaml.safe_load(out)
    assert admission_problems(experiment) == []
    assert (experiment["apiVersion"], experiment["kind"]) == ("kubeflow.org/v1beta1", "Experiment")
    metadata = experiment["metadata"]
    assert metadata["name"].startswith("train-") and metadata["namespace"] == "alice"
    assert metadata["annotations"]["mofang.io/notebook"] == "work/train.ipynb"
    spec = experiment["spec"]
    assert spec["maxTrialCount"] == 6 and spec["earlyStopping"]["algorithmName"] == "medianstop"
    assert [p["name"] for p in spec["parameters"]] == ["lr", "opt"]
    job = spec["trialTemplate"]["trialSpec"]
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/train:1"
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["MOFANG_PARAMETERS"] == (
        '{"lr": ${trialParameters.lr}, "opt": "${trialParameters.opt}"}'
    )
    # The fixed value is no trial parameter: it is in the snapshot every trial shares.
    assert "layers" not in json.dumps(spec["trialTemplate"]["trialParameters"])


def test_a_distributed_trial_is_shown_too(
    notebook: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(sweep(notebook, "--kind", "pytorch", "--workers", "3")) == 0
    template = yaml.safe_load(capsys.readouterr().out)["spec"]["trialTemplate"]
    assert template["trialSpec"]["kind"] == "PyTorchJob"
    replicas = template["trialSpec"]["spec"]["pytorchReplicaSpecs"]
    assert (replicas["Master"]["replicas"], replicas["Worker"]["replicas"]) == (1, 2)
    assert template["primaryPodLabels"] == {"training.kubeflow.org/job-role": "master"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--param", 'layers=categorical:plain,say"hi'],
            "Katib would refuse this sweep: .*may hold only letters, digits",
        ),
        (["--algorithm", "hyperband"], "needs the setting\\(s\\) r_l, resource_name"),
        (["--algorithm", "tpe", "--algorithm-setting", "n_startup_trials=5"], "hyperopt service"),
        (["--param", "momentum=double:0.1:0.9"], "does not assign momentum"),
        (["--parallel", "9", "--max-trials", "4"], "parallel_trials must be at most max_trials"),
    ],
)
def test_a_sweep_katib_would_refuse_is_refused_clearly(
    notebook: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(sweep(notebook, *extra)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("mofang sweep: ")
    assert re.search(message, captured.err), captured.err


def test_outside_a_server_the_image_must_be_named(
    notebook: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = sweep(notebook)
    del args[args.index("--image") : args.index("--image") + 2]
    assert main(args) == 2
    assert "--image IMAGE" in capsys.readouterr().err
