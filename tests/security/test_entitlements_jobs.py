"""Entitlements of jobs and sweeps: what a job gets comes from the server's plan, not the request.

The server runs with the plan a Mofang spawner gives Alice in group vision
(PyTorch, 4 CPU, 8 GiB, 1 GPU; her storage, projects/vision, a read-only
global area). Through the job API, the sweep API and the ``mofang`` command
she asks for another group's project directory, a host path, a writable
global area, another image, a queue or node pool, more CPU or GPUs than her
server has. Each is refused with a message that says what is allowed, and
leaves nothing: no record, no job folder, no replica.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mofang_spawner.planning import PLAN_ENV, Choices, ServerPlan, plan_server
from tests.jobs.conftest import Fetch, api
from tests.jobs.notebooks import write_notebook
from tests.policies import demo_policy
from tests.security.conftest import backend_config, footprint, refusal, tally
from tests.security.notebooks import quick_sweep_notebook, sweep_request
from tests.security.servers import mofang, users_server
from tests.security.users import auth

ALICE = auth("alice")
IMAGE = "quay.io/jupyter/pytorch-notebook:cuda12-2025-01-06"
MOUNTS = "Your mounts are: '', 'projects/vision', 'global'."


def alices_plan() -> ServerPlan:
    choices = Choices(template="pytorch", cpu=4, memory_gib=8, gpus=1)
    return plan_server("alice", ["vision"], choices, demo_policy())


@pytest.fixture
def jp_server_config(backend_name: str) -> dict[str, Any]:
    config = backend_config(backend_name)
    config["LocalBackend"]["gpu_devices"] = ["0"]  # the plan's one GPU
    return config


@pytest.fixture(autouse=True)
def _planned_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PLAN_ENV, alices_plan().to_json())


def worker(**resources: Any) -> dict[str, Any]:
    return {"Worker": {"replicas": 1, "resources": resources}}


#: (what is asked, the request fields, the status, words of the message that say what is allowed)
JOB_REFUSALS: list[tuple[str, dict[str, Any], int, str]] = [
    ("another group's project", {"mounts": ["projects/nlp"]}, 403, MOUNTS),
    ("a host path", {"mounts": ["/etc"]}, 403, MOUNTS),
    ("a host path, relative", {"mounts": ["../../../etc"]}, 403, MOUNTS),
    (
        "the global area writable",
        {"mounts": [{"path": "global", "read_only": False}]},
        400,
        "mounts.0: Input should be a valid string",
    ),
    (
        "a volume",
        {"volumes": [{"hostPath": {"path": "/"}}]},
        400,
        "volumes: Extra inputs are not permitted (the fields are: notebook, name, kind",
    ),
    (
        "an image outside the catalog",
        {"image": "docker.io/evil/miner:latest"},
        403,
        f"Jobs run in your server's image ({IMAGE})",
    ),
    ("another group's queue", {"queue": "nlp"}, 400, "queue: Extra inputs are not permitted"),
    (
        "another group's node pool",
        {"node_selector": {"mofang.io/pool": "nlp"}},
        400,
        "node_selector: Extra inputs are not permitted (the fields are:",
    ),
    ("a scheduler", {"scheduler_name": "default-scheduler"}, 400, "Extra inputs"),
    (
        "more GPUs per replica",
        {"roles": worker(gpus=2)},
        403,
        "asks for 2 GPUs, but local jobs run inside your server, which has 1 GPUs",
    ),
    (
        "more GPUs in all",
        {"kind": "pytorch", "roles": {"Worker": {"replicas": 2, "resources": {"gpus": 1}}}},
        403,
        "this server has 1. Ask for fewer GPUs",
    ),
    ("more CPU", {"roles": worker(cpu=16)}, 403, "ask for at most 4 CPU cores"),
    ("more memory", {"roles": worker(memory_gib=64)}, 403, "ask for at most 8 GiB of memory"),
    (
        "another's GPUs by variable",
        {"env": {"CUDA_VISIBLE_DEVICES": "0,1,2,3"}},
        400,
        "CUDA_VISIBLE_DEVICES is set by Mofang for every replica",
    ),
    (
        "another backend",
        {"backend": "kubernetes"},
        400,
        "leave --backend out or use --backend local",
    ),
]


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [case[1:] for case in JOB_REFUSALS],
    ids=[case[0] for case in JOB_REFUSALS],
)
async def test_a_job_gets_no_more_than_the_plan(
    jp_fetch: Fetch, jp_root_dir: Path, fields: dict[str, Any], status: int, words: str
) -> None:
    write_notebook(jp_root_dir / "train.ipynb", ["print('training')"])
    before = footprint(jp_root_dir)
    for dry_run in (False, True):
        body = {"notebook": "train.ipynb", "dry_run": dry_run, **fields}
        code, answer = await refusal(jp_fetch, "jobs", method="POST", body=body, headers=ALICE)
        assert (code, answer["reason"]) == (
            status,
            "PolicyError" if status == 403 else "InvalidRequestError",
        )
        assert words in answer["message"], answer
        tally("entitlements")
    assert footprint(jp_root_dir) == before
    assert (await api(jp_fetch, "jobs", headers=ALICE))["jobs"] == []


async def test_what_a_job_gets_is_the_plans(jp_fetch: Fetch, jp_root_dir: Path) -> None:
    write_notebook(jp_root_dir / "train.ipynb", ["print('training')"])
    dry = await api(
        jp_fetch,
        "jobs",
        method="POST",
        body={"notebook": "train.ipynb", "dry_run": True, "roles": worker(cpu=4, gpus=1)},
        headers=ALICE,
    )
    spec = dry["spec"]
    assert spec["image"] == IMAGE
    assert [(m["source"], m["path"], m["read_only"]) for m in spec["mounts"]] == [
        ("users/alice", "", False),
        ("projects/vision", "projects/vision", False),
        ("global", "global", True),  # read-only, whatever the request
    ]
    chosen = await api(
        jp_fetch,
        "jobs",
        method="POST",
        body={"notebook": "train.ipynb", "dry_run": True, "mounts": ["/global/"]},
        headers=ALICE,
    )
    assert chosen["spec"]["mounts"] == [spec["mounts"][2]]


SWEEP_REFUSALS: list[tuple[str, dict[str, Any], int, str]] = [
    ("another group's project", {"mounts": ["projects/nlp"]}, 403, MOUNTS),
    ("a host path", {"mounts": ["/var/run/docker.sock"]}, 403, MOUNTS),
    (
        "an image outside the catalog",
        {"image": "evil:1"},
        403,
        "a job cannot choose another (evil:1)",
    ),
    ("another group's queue", {"queue": "nlp"}, 400, "trial template: queue: Extra inputs"),
    ("more GPUs", {"roles": worker(gpus=3)}, 403, "ask for at most 1 GPUs"),
    ("more CPU", {"roles": worker(cpu=5)}, 403, "ask for at most 4 CPU cores"),
]


@pytest.mark.parametrize(
    ("trial", "status", "words"),
    [case[1:] for case in SWEEP_REFUSALS],
    ids=[case[0] for case in SWEEP_REFUSALS],
)
async def test_a_sweeps_trials_get_no_more_than_the_plan(
    jp_fetch: Fetch, jp_root_dir: Path, trial: dict[str, Any], status: int, words: str
) -> None:
    quick_sweep_notebook(jp_root_dir / "tune.ipynb")
    before = footprint(jp_root_dir)
    body = sweep_request("tune.ipynb")
    body["trial"].update(trial)
    code, answer = await refusal(jp_fetch, "sweeps", method="POST", body=body, headers=ALICE)
    assert code == status and words in answer["message"], answer
    tally("entitlements")
    assert footprint(jp_root_dir) == before
    assert (await api(jp_fetch, "sweeps", headers=ALICE))["sweeps"] == []


@pytest.mark.e2e
def test_the_mofang_command_gets_no_more_than_the_plan(tmp_path: Path) -> None:
    with users_server(
        tmp_path / "home",
        tmp_path / "state",
        plan=alices_plan(),
        local_backend={"gpu_devices": ["0"]},
    ) as server:
        notebook = str(quick_sweep_notebook(server.root / "tune.ipynb"))
        before = footprint(server.root)
        sweep = (
            "sweep",
            notebook,
            "--param",
            "lr=double:0.1:0.2",
            "--objective",
            "maximize:accuracy",
        )
        cases = [
            (("submit", notebook, "--gpus", "2"), "ask for at most 1 GPUs"),
            (
                ("submit", notebook, "--kind", "pytorch", "--workers", "2", "--gpus", "1"),
                "this server has 1",
            ),
            (("submit", notebook, "--cpu", "32"), "ask for at most 4 CPU cores"),
            (("submit", notebook, "--env", "CUDA_VISIBLE_DEVICES=3"), "set by Mofang"),
            ((*sweep, "--image", "evil:1"), "a job cannot choose another (evil:1)"),
            (("submit", notebook, "--queue", "nlp"), "unrecognized arguments: --queue"),
            (("submit", notebook, "--backend", "kubernetes"), "use --backend local"),
            ((*sweep, "--gpus", "2"), "ask for at most 1 GPUs"),
            ((*sweep, "--memory", "100"), "ask for at most 8 GiB of memory"),
        ]
        for args, words in cases:
            result = mofang(server, "alice-token", *args)
            assert result.returncode == 2 and words in result.stderr, (args, result.stderr)
            tally("entitlements")
        assert footprint(server.root) == before
        assert mofang(server, "alice-token", "jobs", "--json").stdout.strip() == "[]"
        # `mofang submit --image` is sent, and the server refuses another image than its own.
        submitted = mofang(server, "alice-token", "submit", notebook, "--image", "evil:1")
        assert submitted.returncode == 2
        assert "a job cannot choose another (evil:1)" in submitted.stderr
        assert footprint(server.root) == before
        tally("entitlements")
