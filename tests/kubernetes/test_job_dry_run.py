"""``mofang submit --backend kubernetes --dry-run``: the objects as YAML, no server, no cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mofang_spawner.planning import PLAN_ENV
from tests.jobs.notebooks import DDP_TRAINING, write_notebook
from tests.kubernetes.jobs_cluster import vision_plan
from tests.kubernetes.schemas import validate

MOFANG = str(Path(sys.executable).with_name("mofang"))


def dry_run(cwd: Path, *args: str, plan: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (PLAN_ENV, "MOFANG_STORAGE")}
    # No server anywhere: a dry run must not need one.
    env["JUPYTER_RUNTIME_DIR"] = str(cwd / "no-runtime")
    if plan:
        env["MOFANG_WORKSPACE"] = str(cwd)
        env[PLAN_ENV] = vision_plan("ann").to_json()
        env["MOFANG_STORAGE"] = '{"home_mount_path": "/home/jovyan", "user_claim_name": "homes"}'
    return subprocess.run(
        [MOFANG, "submit", *args, "--backend", "kubernetes", "--dry-run"],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


def test_a_distributed_job_prints_its_pytorchjob(tmp_path: Path) -> None:
    write_notebook(tmp_path / "train.ipynb", DDP_TRAINING)
    done = dry_run(tmp_path, "train.ipynb", "--kind", "pytorch", "--workers", "3", "--gpus", "1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# What this job would create on the cluster")
    [job] = list(yaml.safe_load_all(done.stdout))
    assert job["kind"] == "PyTorchJob" and job["apiVersion"] == "kubeflow.org/v1"
    specs = job["spec"]["pytorchReplicaSpecs"]
    assert specs["Master"]["replicas"] == 1 and specs["Worker"]["replicas"] == 2
    assert job["spec"]["runPolicy"]["schedulingPolicy"] == {
        "minAvailable": 3,
        "queue": "vision",
        "priorityClass": "team-normal",
    }
    pod = specs["Worker"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    # The storage the spawner handed over: the user's directory in the 'homes' claim.
    claims = {v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]}
    assert "homes" in claims
    assert job["metadata"]["labels"]["mofang.io/user"] == "ann"
    validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": pod})


def test_a_python_job_prints_a_batch_job(tmp_path: Path) -> None:
    write_notebook(tmp_path / "nb" / "hello.ipynb", ["print('hi')"])
    done = dry_run(tmp_path, "nb/hello.ipynb", "--timeout", "90")
    assert done.returncode == 0, done.stderr
    [job] = list(yaml.safe_load_all(done.stdout))
    assert job["kind"] == "Job" and job["spec"]["activeDeadlineSeconds"] == 90
    validate(job)


def test_a_job_beyond_the_group_is_refused_and_nothing_printed(tmp_path: Path) -> None:
    write_notebook(tmp_path / "train.ipynb", DDP_TRAINING)
    done = dry_run(tmp_path, "train.ipynb", "--kind", "pytorch", "--gpus", "5")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "allows at most 2 GPUs per replica" in done.stderr


def test_outside_a_server_the_image_must_be_named(tmp_path: Path) -> None:
    write_notebook(tmp_path / "hello.ipynb", ["print('hi')"])
    done = dry_run(tmp_path, "hello.ipynb", plan=False)
    assert done.returncode == 2 and "--image IMAGE" in done.stderr
    named = dry_run(tmp_path, "hello.ipynb", "--image", "python:3.11", plan=False)
    assert named.returncode == 0, named.stderr
    [job] = list(yaml.safe_load_all(named.stdout))
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "python:3.11"


@pytest.mark.parametrize("path", ["../outside.ipynb", "/etc/passwd"])
def test_in_a_server_a_notebook_outside_the_users_files_is_refused(
    tmp_path: Path, path: str
) -> None:
    (tmp_path / "work").mkdir()
    write_notebook(tmp_path / "outside.ipynb", ["print('hi')"])
    done = dry_run(tmp_path / "work", path)
    assert done.returncode == 2 and done.stdout == ""
    assert "outside your files" in done.stderr
