"""The job model without a server: specs, parameters, snapshots, ids, the contract, GPUs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from mofang_lab.backends.local.contract import hostfile_text, launches, ports_needed
from mofang_lab.backends.local.gpus import devices_from_env, split_devices
from mofang_lab.jobs.ids import JOB_ID_PATTERN, new_job_id
from mofang_lab.jobs.parameters import parse_assignments
from mofang_lab.jobs.request import SubmitRequest, build_spec, parse_model
from mofang_lab.jobs.snapshot import snapshot_notebook
from mofang_lab.jobs.spec import JobSpec
from mofang_spawner.errors import ConflictError, InvalidRequestError, PolicyError
from mofang_spawner.planning import Choices, plan_server
from tests.jobs.notebooks import write_notebook
from tests.policies import demo_policy


def spec(kind: str = "pytorch", **fields: object) -> JobSpec:
    request = parse_model(SubmitRequest, {"notebook": "n.ipynb", "kind": kind, **fields}, what="r")
    return build_spec(request, notebook="dir/n.ipynb", plan=None, backend="local")


# --- the spec -------------------------------------------------------------------------


def test_pytorch_gets_its_master_with_the_workers_resources() -> None:
    job = spec("pytorch", roles={"worker": {"replicas": 2, "resources": {"gpus": 1}}})
    assert job.roles["Master"].replicas == 1
    assert job.roles["Master"].resources.gpus == 1
    assert job.replicas() == [("Master", 0), ("Worker", 0), ("Worker", 1)]
    assert job.total_gpus == 3
    assert job.main_replica == "master-0"
    assert job.name == "n"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "caffe"}, "kind: Input should be 'pytorch', 'tensorflow', 'mpi' or 'python'"),
        ({"roles": {"Worker": {"replicas": 0}}}, "replicas must be at least 1 (got 0)"),
        ({"roles": {"Worker": {"replicas": -2}}}, "replicas must be at least 1 (got -2)"),
        ({"roles": {"PS": {"replicas": 1}}}, "pytorch jobs have the roles Master, Worker; 'PS'"),
        ({"roles": {"Boss": {"replicas": 1}}}, "unknown role 'Boss'"),
        ({"roles": {"Master": {"replicas": 2}}}, "exactly 1 Master"),
        ({"env": {"RANK": "3"}}, "RANK is set by Mofang"),
        ({"env": {"1X": "3"}}, "'1X' is not a valid environment variable name"),
        ({"parameters": {"class": 1}}, "parameter 'class' is not a valid Python variable name"),
        ({"slots_per_worker": 2}, "slots_per_worker applies to mpi jobs only"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
    ],
)
def test_bad_specs_are_clear_errors(fields: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        spec(**fields)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_kind_rules() -> None:
    with pytest.raises(InvalidRequestError, match="needs a Chief or at least 1 Worker"):
        spec("tensorflow", roles={"PS": {"replicas": 1}})
    with pytest.raises(InvalidRequestError, match="at most 1 Chief"):
        spec("tensorflow", roles={"Chief": {"replicas": 2}})
    with pytest.raises(InvalidRequestError, match="an mpi job needs at least 1 Worker"):
        spec("mpi")
    with pytest.raises(InvalidRequestError, match="exactly 1 Worker"):
        spec("python", roles={"Worker": {"replicas": 2}})
    with pytest.raises(InvalidRequestError, match="nproc_per_node applies to pytorch"):
        spec("python", nproc_per_node=2)
    assert spec("mpi", roles={"Worker": {"replicas": 2}}).roles["Launcher"].replicas == 1
    assert spec("python").replicas() == [("Worker", 0)]


def test_image_and_mounts_come_from_the_plan() -> None:
    plan = plan_server("carol", ["vision", "nlp"], Choices(template="pytorch"), demo_policy())
    request = SubmitRequest(notebook="n.ipynb", kind="python")
    job = build_spec(request, notebook="n.ipynb", plan=plan, backend="local")
    assert job.image == plan.template.image
    assert job.mounts == plan.mounts
    only = build_spec(
        request.model_copy(update={"mounts": ("projects/nlp",)}),
        notebook="n.ipynb",
        plan=plan,
        backend="local",
    )
    assert [m.path for m in only.mounts] == ["projects/nlp"]
    with pytest.raises(PolicyError, match="no storage mounted at 'projects/secret'"):
        build_spec(
            request.model_copy(update={"mounts": ("projects/secret",)}),
            notebook="n.ipynb",
            plan=plan,
            backend="local",
        )
    with pytest.raises(PolicyError, match="cannot choose another"):
        build_spec(
            request.model_copy(update={"image": "evil:latest"}),
            notebook="n.ipynb",
            plan=plan,
            backend="local",
        )
    with pytest.raises(InvalidRequestError, match="'local' backend, not 'kubernetes'"):
        build_spec(
            request.model_copy(update={"backend": "kubernetes"}),
            notebook="n.ipynb",
            plan=plan,
            backend="local",
        )


# --- parameters -----------------------------------------------------------------------


def test_parameters_parse_as_python_literals() -> None:
    assert parse_assignments(
        ["lr=0.01", "layers=[64, 128]", "opt=adam", "name='x y'", "on=True"]
    ) == {
        "lr": 0.01,
        "layers": [64, 128],
        "opt": "adam",
        "name": "x y",
        "on": True,
    }


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("lr", "has no '='"),
        ("1lr=3", "is not a Python variable name"),
        ("for=3", "is not a Python variable name"),
        ("lr=0.1.2", "does not parse"),
        ("sizes=[1, 2", "does not parse"),
        ("s={1, 2}", "is not a number, string"),
    ],
)
def test_bad_parameters_are_clear_errors(item: str, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        parse_assignments([item])


# --- the snapshot -----------------------------------------------------------------------


def _notebook(tmp_path: Path, cells: list[object]) -> str:
    return write_notebook(tmp_path / "n.ipynb", cells).read_text()  # type: ignore[arg-type]


def test_snapshot_skips_tagged_cells_and_mofang_magics(tmp_path: Path) -> None:
    text = _notebook(
        tmp_path,
        [
            "%load_ext mofang_lab\nx = 1",
            ("print('only in the notebook')", ["skip"]),
            "%mofang_submit --kind pytorch --workers 2\nprint(x)\n%mofang_logs job -f",
        ],
    )
    snapshot = snapshot_notebook(text, source_name="n.ipynb", parameters={})
    assert "only in the notebook" not in snapshot.program
    assert "mofang_submit" not in snapshot.program and "load_ext" not in snapshot.program
    assert "print(x)" in snapshot.program
    assert not snapshot.uses_ipython
    # The stored notebook is the one submitted: the skipped cell is still there.
    assert "only in the notebook" in snapshot.notebook


def test_parameters_are_injected_after_the_parameters_cell(tmp_path: Path) -> None:
    text = _notebook(
        tmp_path,
        [
            "import math",
            ("lr = 0.1\nepochs = 1", ["parameters"]),
            ("lr = 'stale'", ["injected-parameters"]),
            "print(lr, epochs)",
        ],
    )
    snapshot = snapshot_notebook(text, source_name="n.ipynb", parameters={"lr": 0.5})
    notebook = nbformat.reads(snapshot.notebook, as_version=4)
    tags = [cell.metadata.get("tags", []) for cell in notebook.cells]
    assert tags == [[], ["parameters"], ["injected-parameters"], []]
    assert notebook.cells[2].source == "# Parameters\nlr = 0.5\n"
    program = tmp_path / "program.py"
    program.write_text(snapshot.program)
    out = subprocess.run(
        [sys.executable, str(program)], capture_output=True, text=True, check=True
    ).stdout
    assert out == "0.5 1\n"


def test_without_a_parameters_cell_parameters_go_first(tmp_path: Path) -> None:
    text = _notebook(tmp_path, ["print(n)"])
    snapshot = snapshot_notebook(text, source_name="n.ipynb", parameters={"n": [1, 2]})
    assert snapshot.program.index("n = [1, 2]") < snapshot.program.index("print(n)")


def test_ipython_syntax_runs_with_plain_python(tmp_path: Path) -> None:
    text = _notebook(tmp_path, ["%time x = 6 * 7\n!echo shell-ok\nprint('x', x)"])
    snapshot = snapshot_notebook(text, source_name="n.ipynb", parameters={})
    assert snapshot.uses_ipython
    program = tmp_path / "program.py"
    program.write_text(snapshot.program)
    out = subprocess.run(
        [sys.executable, str(program)], capture_output=True, text=True, check=True
    ).stdout
    assert "shell-ok" in out and "x 42" in out


def test_a_notebook_that_does_not_parse_is_a_clear_error() -> None:
    with pytest.raises(InvalidRequestError, match="is not a notebook Jupyter can read"):
        snapshot_notebook("{not json", source_name="broken.ipynb", parameters={})


# --- ids --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["train", "Train DDP!", "Ålice's résumé", "123", "", "x" * 200])
def test_job_ids_are_safe_names(name: str) -> None:
    job_id = new_job_id(name)
    assert JOB_ID_PATTERN.match(job_id), job_id
    assert len(job_id) <= 40 and job_id[0].isalpha()
    assert len(f"{job_id}-launcher-99") <= 63


def test_job_ids_differ() -> None:
    assert len({new_job_id("same") for _ in range(200)}) == 200


# --- the environment contract -----------------------------------------------------------


def _launches(job: JobSpec, **kw: object) -> dict[str, dict[str, str]]:
    result = launches(
        job,
        job_id="j-abc",
        job_dir=Path("/u/jobs/j-abc"),
        notebook_dir=Path("/u/dir"),
        python="/py",
        mpirun=["/usr/bin/mpirun"],
        ports=kw.pop("ports", [29500, 29501, 29502, 29503]),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )
    return {launch.replica: {**launch.env, "argv": " ".join(launch.argv)} for launch in result}


def test_pytorch_contract_one_process_per_replica() -> None:
    env = _launches(spec("pytorch", roles={"Worker": {"replicas": 2}}))
    assert list(env) == ["master-0", "worker-0", "worker-1"]
    expected = {
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": "29500",
        "WORLD_SIZE": "3",
        "RANK": "2",
        "PET_MASTER_ADDR": "127.0.0.1",
        "PET_MASTER_PORT": "29500",
        "PET_NNODES": "3",
        "PET_NODE_RANK": "2",
        "PET_NPROC_PER_NODE": "1",
        "PYTHONUNBUFFERED": "1",
        "MOFANG_JOB_ID": "j-abc",
        "MOFANG_JOB_DIR": "/u/jobs/j-abc",
        "MOFANG_REPLICA_TYPE": "Worker",
        "MOFANG_REPLICA_INDEX": "1",
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHONPATH": "/u/dir",
        "argv": "/py /u/jobs/j-abc/program.py",
    }
    assert env["worker-1"] == expected
    assert env["master-0"]["RANK"] == "0"


def test_pytorch_contract_with_torchrun() -> None:
    env = _launches(spec("pytorch", roles={"Worker": {"replicas": 1}}, nproc_per_node=4))
    assert env["worker-0"]["argv"] == "/py -m torch.distributed.run /u/jobs/j-abc/program.py"
    assert env["worker-0"]["WORLD_SIZE"] == "8"
    assert env["worker-0"]["PET_NPROC_PER_NODE"] == "4"
    assert env["worker-0"]["PET_NODE_RANK"] == "1"


def test_tf_config_is_complete_and_consistent() -> None:
    job = spec(
        "tensorflow",
        roles={"Chief": {"replicas": 1}, "PS": {"replicas": 1}, "Worker": {"replicas": 2}},
    )
    assert ports_needed(job) == 4
    env = _launches(job)
    configs = {name: json.loads(e["TF_CONFIG"]) for name, e in env.items()}
    cluster = {
        "chief": ["127.0.0.1:29500"],
        "ps": ["127.0.0.1:29501"],
        "worker": ["127.0.0.1:29502", "127.0.0.1:29503"],
    }
    assert all(c["cluster"] == cluster and c["environment"] == "cloud" for c in configs.values())
    assert configs["worker-1"]["task"] == {"type": "worker", "index": 1}
    assert configs["ps-0"]["task"] == {"type": "ps", "index": 0}


def test_mpi_contract() -> None:
    job = spec(
        "mpi", roles={"Worker": {"replicas": 2, "resources": {"gpus": 1}}}, slots_per_worker=2
    )
    env = _launches(job, as_root=True, devices={"worker-0": ["0"], "worker-1": ["1"]})
    launcher = env["launcher-0"]
    assert launcher["argv"] == "/usr/bin/mpirun -np 4 /py /u/jobs/j-abc/program.py"
    assert launcher["OMPI_MCA_orte_default_hostfile"] == "/u/jobs/j-abc/hostfile"
    assert launcher["OMPI_ALLOW_RUN_AS_ROOT"] == "1"
    assert launcher["CUDA_VISIBLE_DEVICES"] == "0,1"  # the ranks' GPUs
    assert env["worker-0"]["argv"] == ""  # ranks are started by mpirun
    assert hostfile_text(job) == "localhost slots=4\n"


def test_gpus_are_split_between_replicas() -> None:
    job = spec("pytorch", roles={"Worker": {"replicas": 2, "resources": {"gpus": 1}}})
    assert devices_from_env({"CUDA_VISIBLE_DEVICES": "2, 5,7"}) == ("2", "5", "7")
    assert devices_from_env({}) == ()
    assert split_devices(job, ["2", "5", "7"], held=set()) == {
        "master-0": ("2",),
        "worker-0": ("5",),
        "worker-1": ("7",),
    }
    with pytest.raises(ConflictError, match="needs 3 GPUs; 2 of this server's 3 are free"):
        split_devices(job, ["2", "5", "7"], held={"5"})
