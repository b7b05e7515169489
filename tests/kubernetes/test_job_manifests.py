"""Job objects: a job spec and a plan in, the exact PyTorchJob, TFJob, MPIJob or Job out.

Every kind with and without GPUs, with one and many replicas, is compared with a
golden file in ``golden_jobs/`` (``MOFANG_UPDATE_GOLDEN=1`` rewrites them after a
deliberate change; review the diff, the files are the spec), validated against
the upstream CRD schemas (when ``MOFANG_CRDS_DIR`` has them) and, always, against
the Kubernetes schemas: batch Jobs as they are, and each pod template of the
operators' kinds as the Pod the operator will make of it. The invariants every
job object keeps (labels, gang scheduling, no API token, argv commands, verbatim
variables, mounts) are checked over all cases and over generated names and
values; requests beyond the group's policy are refused with what is allowed.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mofang_lab.backends.kubernetes.manifests import (
    JOB_KINDS,
    ClusterJobSettings,
    job_manifest,
)
from mofang_lab.jobs.spec import CONTRACT_VARIABLES, JobSpec
from mofang_spawner.errors import InvalidRequestError, PolicyError
from mofang_spawner.planning import Choices, Policy, Resources, ServerPlan, plan_server, safe_name
from tests.crds import validate_custom
from tests.kube_emulator.container_env import container_env
from tests.kubernetes.schemas import validate
from tests.policies import cluster_policy

GOLDEN = Path(__file__).with_name("golden_jobs")
NAMESPACE = "team-ns"
JOB_ID = "train-abc123"
#: A job id as long as ``new_job_id`` makes them (a 30-character stem, '-', 6 characters).
LONG_JOB_ID = "a-very-long-job-name-for-train-k3x9qa"
LONG_JOB_NAME = "A very long job name, Überlang: " + "x" * 50 + " ends (v2)"
ESCAPED_OWNER = "Zoë O'Neil"
DEFAULT_IMAGE = "registry.example.org/mofang/job-runtime:1.0"

LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
MANAGED_BY = "app.kubernetes.io/managed-by"
USER = "mofang.io/user"
GROUP = "mofang.io/group"
JOB = "mofang.io/job-id"
POD_RESTART_POLICIES = {"Always", "OnFailure", "Never"}
SHELLS = {"sh", "bash", "/bin/sh", "/bin/bash", "/usr/bin/bash", "/usr/bin/env"}

POLICY = cluster_policy()
GPU_PLAN: dict[str, Any] = {"template": "pytorch", "gpus": 1, "gpu_type": "a100"}


def make_plan(
    user: str = "alice", group: str = "vision", policy: Policy = POLICY, **choices: Any
) -> ServerPlan:
    return plan_server(user, [group], Choices.model_validate(choices), policy)


@dataclass(frozen=True)
class Case:
    """One job to build: the spec, the server it was submitted from, and the settings."""

    spec: dict[str, Any]
    plan: dict[str, Any] | None = field(default_factory=lambda: {"template": "python"})
    owner: str = "alice"
    name: str = JOB_ID
    settings: dict[str, Any] = field(default_factory=dict)

    def job_spec(self) -> JobSpec:
        return JobSpec.model_validate(
            {"name": "train", "notebook": "work/train.ipynb", **self.spec}
        )

    def server_plan(self) -> ServerPlan | None:
        if self.plan is None:
            return None
        plan = dict(self.plan)
        return make_plan(self.owner, plan.pop("group", "vision"), **plan)

    def cluster_settings(self) -> ClusterJobSettings:
        return ClusterJobSettings.model_validate(self.settings)

    def build(self) -> dict[str, Any]:
        return job_manifest(
            spec=self.job_spec(),
            name=self.name,
            namespace=NAMESPACE,
            owner=self.owner,
            plan=self.server_plan(),
            settings=self.cluster_settings(),
        )


CASES: dict[str, Case] = {
    "python-cpu": Case({"kind": "python", "roles": {"Worker": {}}}),
    "python-gpu-a100": Case(
        {"kind": "python", "roles": {"Worker": {"resources": {"gpus": 1}}}}, plan=GPU_PLAN
    ),
    "pytorch-master-cpu": Case(
        {"kind": "pytorch", "roles": {"Master": {}}}, plan={"template": "pytorch"}
    ),
    "pytorch-ddp-gpu": Case(
        {
            "kind": "pytorch",
            "roles": {
                "Master": {"resources": {"gpus": 2}},
                "Worker": {"replicas": 3, "resources": {"gpus": 2}},
            },
            "nproc_per_node": 2,
        },
        plan=GPU_PLAN,
    ),
    "tensorflow-ps-gpu-workers": Case(
        {
            "kind": "tensorflow",
            "roles": {
                "Chief": {},
                "PS": {"replicas": 2, "resources": {"cpu": 4, "memory_gib": 16}},
                "Worker": {"replicas": 4, "resources": {"gpus": 2}},
            },
        },
        plan={"template": "tensorflow", "gpus": 1, "gpu_type": "a100"},
    ),
    "mpi-gpu": Case(
        {
            "kind": "mpi",
            "roles": {"Launcher": {}, "Worker": {"replicas": 2, "resources": {"gpus": 2}}},
            "slots_per_worker": 4,
            "env": {"NCCL_DEBUG": "INFO"},
        },
        plan=GPU_PLAN,
    ),
    "pytorch-mig": Case(
        {
            "kind": "pytorch",
            "roles": {
                "Master": {"resources": {"gpus": 1}},
                "Worker": {"replicas": 1, "resources": {"gpus": 1}},
            },
        },
        plan={"template": "pytorch", "gpus": 1, "gpu_type": "a100-1g"},
    ),
    "pytorch-volcano-vgpu": Case(
        {
            "kind": "pytorch",
            "roles": {
                "Master": {"resources": {"gpus": 1}},
                "Worker": {"replicas": 2, "resources": {"gpus": 1}},
            },
        },
        plan={"template": "pytorch", "gpus": 1, "gpu_type": "vc-4g"},
    ),
    "python-timeout-exitcode-cpu-pool": Case(
        {
            "kind": "python",
            "roles": {"Worker": {"resources": {"cpu": 0.5, "memory_gib": 1.5}}},
            "timeout_seconds": 3600.5,
            "restart_policy": "ExitCode",
            "backoff_limit": 5,
            "env": {"GREETING": "hello; rm -rf / `id` 'quoted' \"double\"\nsecond line"},
        },
        settings={"cpu_node_selector": {"mofang.io/pool": "cpu"}},
    ),
    "python-onfailure": Case(
        {"kind": "python", "roles": {"Worker": {}}, "restart_policy": "OnFailure"},
    ),
    "pytorch-onfailure-timeout-cpu-pool": Case(
        {
            "kind": "pytorch",
            "roles": {"Master": {}, "Worker": {"replicas": 2}},
            "restart_policy": "OnFailure",
            "timeout_seconds": 7200,
        },
        plan={"template": "pytorch"},
        settings={"cpu_node_selector": {"mofang.io/pool": "cpu"}},
    ),
    "pytorch-exitcode": Case(
        {
            "kind": "pytorch",
            "roles": {"Master": {}, "Worker": {"replicas": 1}},
            "restart_policy": "ExitCode",
        },
        plan={"template": "pytorch"},
    ),
    "tensorflow-escaped-owner-long-name": Case(
        {
            "kind": "tensorflow",
            "name": LONG_JOB_NAME,
            "notebook": "Zoë's work/notebook (final).ipynb",
            "roles": {"Worker": {"replicas": 2}},
        },
        plan={"group": "nlp", "template": "python"},
        owner=ESCAPED_OWNER,
        name=LONG_JOB_ID,
    ),
    "python-no-plan": Case(
        {"kind": "python", "roles": {"Worker": {}}},
        plan=None,
        settings={"default_image": DEFAULT_IMAGE},
    ),
    "pytorch-no-plan": Case(
        {"kind": "pytorch", "roles": {"Master": {}, "Worker": {"replicas": 1}}},
        plan=None,
        settings={"default_image": DEFAULT_IMAGE},
    ),
}

CUSTOM_CASES = sorted(name for name, case in CASES.items() if case.spec["kind"] != "python")


def build(case: str) -> dict[str, Any]:
    return CASES[case].build()


def replica_specs(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Role -> replica spec; a batch Job is one ``Worker`` replica."""
    if obj["kind"] == "Job":
        return {"Worker": {"replicas": 1, "template": obj["spec"]["template"]}}
    field_name = next(k for k in obj["spec"] if k.endswith("ReplicaSpecs"))
    specs: dict[str, dict[str, Any]] = obj["spec"][field_name]
    return specs


def templates(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for role, replica in replica_specs(obj).items():
        yield role, replica["template"]


def container(template: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = template["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def as_pod(obj: dict[str, Any], role: str, template: dict[str, Any]) -> dict[str, Any]:
    """The Pod the operator makes of a replica's template (its name and namespace added)."""
    metadata = {
        **copy.deepcopy(template["metadata"]),
        "name": f"{obj['metadata']['name']}-{role.lower()}-0",
        "namespace": obj["metadata"]["namespace"],
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}


def env_seen(template: dict[str, Any]) -> dict[str, str]:
    """The environment the container's process gets, ``$(VAR)`` expansion included."""
    pod = {"metadata": template["metadata"], "spec": template["spec"]}
    return container_env(container(template), pod, lambda *_: None, "0.0.0.0")


# --- golden files and schemas ---------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_built_object_matches_the_golden_file(case: str) -> None:
    got = build(case)
    path = GOLDEN / f"{case}.yaml"
    if os.environ.get("MOFANG_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(got, sort_keys=False, width=100, allow_unicode=True))
    assert path.is_file(), f"no golden file {path}; run with MOFANG_UPDATE_GOLDEN=1"
    assert got == yaml.safe_load(path.read_text())


def test_every_golden_file_belongs_to_a_case() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.yaml")) == sorted(CASES)


@pytest.mark.parametrize("case", CUSTOM_CASES)
def test_operator_kinds_match_their_crd_schema(case: str) -> None:
    validate_custom(build(case))


@pytest.mark.parametrize("case", sorted(CASES))
def test_batch_jobs_and_every_replicas_pod_are_valid_kubernetes(case: str) -> None:
    obj = build(case)
    if obj["kind"] == "Job":
        validate(obj)
    for role, template in templates(obj):
        validate(as_pod(obj, role, template))


def test_the_kinds_are_the_operators_objects() -> None:
    kinds = {case.spec["kind"]: build(name) for name, case in CASES.items()}
    assert {k: (o["apiVersion"], o["kind"]) for k, o in kinds.items()} == {
        "python": ("batch/v1", "Job"),
        "pytorch": ("kubeflow.org/v1", "PyTorchJob"),
        "tensorflow": ("kubeflow.org/v1", "TFJob"),
        "mpi": ("kubeflow.org/v2beta1", "MPIJob"),
    }
    assert {k: (i.api_version, i.kind) for k, i in JOB_KINDS.items()} == {
        k: (o["apiVersion"], o["kind"]) for k, o in kinds.items()
    }


# --- invariants over every case --------------------------------------------------------


def check_invariants(case: Case, obj: dict[str, Any]) -> None:
    spec = case.job_spec()
    plan = case.server_plan()
    job_settings = case.cluster_settings()
    home = job_settings.storage.home_mount_path
    workdir = f"{home}/{job_settings.jobs_dir}/{case.name}"

    labelled = [obj["metadata"], *(t["metadata"] for _, t in templates(obj))]
    for metadata in labelled:
        labels = metadata["labels"]
        assert labels[MANAGED_BY] == "mofang"
        assert labels[USER] == safe_name(case.owner)
        assert labels[JOB] == case.name
        if plan is not None:
            assert labels[GROUP] == safe_name(plan.group.name)
        for key, value in labels.items():
            assert len(value) <= 63 and LABEL_VALUE.match(value), (key, value)
        annotations = metadata["annotations"]
        assert annotations[USER] == case.owner
        assert annotations["mofang.io/job-name"] == spec.name
        assert annotations["mofang.io/notebook"] == spec.notebook
        if plan is not None:
            assert annotations[GROUP] == plan.group.name

    if obj["kind"] != "Job":
        run = obj["spec"]["runPolicy"]
        scheduling = run["schedulingPolicy"]
        total = sum(r["replicas"] for r in replica_specs(obj).values())
        assert scheduling["minAvailable"] == total == spec.total_replicas
        jobs = plan.jobs if plan is not None else None
        assert scheduling.get("queue") == (jobs.queue if jobs else None)
        assert scheduling.get("priorityClass") == (jobs.priority_class_name if jobs else None)
        for _, template in templates(obj):
            assert template["spec"]["schedulerName"] == job_settings.gang_scheduler

    for role, template in templates(obj):
        pod = template["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["restartPolicy"] in POD_RESTART_POLICIES, (role, pod["restartPolicy"])
        for volume in pod.get("volumes", []):
            assert set(volume) == {"name", "persistentVolumeClaim"}, volume
        main = container(template)
        command = main["command"]
        assert isinstance(command, list) and command
        assert all(isinstance(arg, str) for arg in command)
        assert command[0] not in SHELLS and "-c" not in command
        assert "args" not in main
        assert main["workingDir"] == workdir
        assert main["workingDir"].startswith(home + "/")
        seen = env_seen(template)
        for name, value in spec.env.items():
            if name != "PYTHONPATH":
                assert seen[name] == value, name
        assert seen["MOFANG_JOB_DIR"] == workdir
        assert seen["MOFANG_JOB_ID"] == case.name
        assert seen["MOFANG_REPLICA_TYPE"] == role
        mounts = {m["mountPath"]: m for m in main.get("volumeMounts", [])}
        if plan is None:
            assert not mounts and "volumes" not in pod
            continue
        assert home in mounts, "the user's own storage, which holds the job folder"
        assert not mounts[home].get("readOnly")
        global_path = f"{home}/{POLICY.storage.global_dir}"
        assert mounts[global_path]["readOnly"] is True
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes[mounts[global_path]["name"]]["persistentVolumeClaim"]["readOnly"] is True


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_object_keeps_the_invariants(case: str) -> None:
    check_invariants(CASES[case], build(case))


ENV_NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True).filter(
    lambda n: n not in CONTRACT_VARIABLES and not n.startswith("PET_") and n != "PYTHONPATH"
)
#: Pieces of shell, of Kubernetes' ``$(VAR)`` syntax and of Unicode, in any order.
NASTY = st.lists(
    st.sampled_from(
        [
            "$",
            "$$",
            "$(",
            ")",
            "MOFANG_JOB_ID",
            "HOME",
            "`id`",
            ";",
            "'",
            '"',
            "\\",
            "\n",
            "é数",
            " ",
        ]
    ),
    max_size=8,
).map("".join)
VALUE = st.one_of(NASTY, st.text(max_size=30)).filter(lambda v: "\x00" not in v)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(["python-cpu", "pytorch-ddp-gpu", "mpi-gpu", "tensorflow-ps-gpu-workers"]),
    owner=st.one_of(st.text(min_size=1, max_size=80), st.just(ESCAPED_OWNER)),
    job_name=st.text(min_size=1, max_size=100),
    env=st.dictionaries(ENV_NAME, VALUE, max_size=4),
)
def test_generated_owners_names_and_values_keep_the_invariants(
    base: str, owner: str, job_name: str, env: dict[str, str]
) -> None:
    template = CASES[base]
    try:
        spec = {**template.spec, "name": job_name, "env": {**template.spec.get("env", {}), **env}}
        case = Case(spec, plan=template.plan, owner=owner, name=JOB_ID)
        case.job_spec()
    except ValidationError:
        return  # not a job anyone can submit (a name that is only spaces, say)
    check_invariants(case, case.build())


def test_a_variable_reaches_the_process_exactly_as_given() -> None:
    values = {
        "A_DOLLAR": "price: 5$$, ref $(MOFANG_JOB_ID) and $(HOME)",
        "SHELL_TEXT": "$(touch /tmp/x); `id` && echo 'hi' | cat > out",
    }
    case = Case({"kind": "python", "roles": {"Worker": {}}, "env": values})
    (_, template), *_ = templates(case.build())
    seen = env_seen(template)
    assert {k: seen[k] for k in values} == values


# --- what each kind looks like ---------------------------------------------------------


def test_a_python_job_is_one_plain_pod_running_the_program() -> None:
    job = build("python-cpu")
    assert job["spec"]["parallelism"] == job["spec"]["completions"] == 1
    assert job["spec"]["backoffLimit"] == 0  # restart policy Never: no retries
    main = container(job["spec"]["template"])
    assert main["name"] == "python"
    assert main["command"] == ["python", "program.py"]
    assert "nvidia.com/gpu" not in main["resources"]["limits"]
    assert job["spec"]["template"]["spec"]["schedulerName"] == "volcano"  # the group's queue
    assert "runPolicy" not in job["spec"]


def test_a_gpu_python_job_gets_its_gpu_type_nodes() -> None:
    template = build("python-gpu-a100")["spec"]["template"]
    assert container(template)["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert template["spec"]["nodeSelector"]["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in template[
        "spec"
    ]["tolerations"]


def test_several_processes_per_replica_run_under_torchrun() -> None:
    job = build("pytorch-ddp-gpu")
    assert job["spec"]["nprocPerNode"] == "2"
    for role, template in templates(job):
        main = container(template)
        assert main["name"] == "pytorch"
        assert main["command"] == ["python", "-m", "torch.distributed.run", "program.py"]
        assert main["resources"]["limits"]["nvidia.com/gpu"] == "2", role
    assert job["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 3
    assert job["spec"]["runPolicy"]["schedulingPolicy"]["minAvailable"] == 4


def test_a_pytorch_master_alone_runs_the_program_directly() -> None:
    job = build("pytorch-master-cpu")
    assert list(job["spec"]["pytorchReplicaSpecs"]) == ["Master"]
    assert "nprocPerNode" not in job["spec"]
    main = container(job["spec"]["pytorchReplicaSpecs"]["Master"]["template"])
    assert main["command"] == ["python", "program.py"]


def test_tensorflow_ps_and_chief_stay_on_cpu_nodes_and_workers_get_the_gpus() -> None:
    job = build("tensorflow-ps-gpu-workers")
    specs = job["spec"]["tfReplicaSpecs"]
    assert {role: r["replicas"] for role, r in specs.items()} == {"Chief": 1, "PS": 2, "Worker": 4}
    for role in ("Chief", "PS"):
        pod = specs[role]["template"]["spec"]
        limits = container(specs[role]["template"])["resources"]["limits"]
        assert set(limits) == {"cpu", "memory"}, role
        assert pod["nodeSelector"] == {"mofang.io/pool": "vision"}, role
        assert pod["tolerations"] == [
            {"key": "pool", "operator": "Equal", "value": "vision", "effect": "NoSchedule"}
        ]
        assert "affinity" not in pod
    assert container(specs["PS"]["template"])["resources"]["limits"] == {
        "cpu": "4",
        "memory": "16Gi",
    }
    worker = specs["Worker"]["template"]["spec"]
    assert container(specs["Worker"]["template"])["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert worker["nodeSelector"]["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in worker[
        "tolerations"
    ]
    term = worker["affinity"]["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["podAffinityTerm"]["labelSelector"] == {"matchLabels": {JOB: JOB_ID}}
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert all(container(t)["name"] == "tensorflow" for _, t in templates(job))


def test_an_mpi_launcher_is_cpu_only_and_starts_every_rank() -> None:
    job = build("mpi-gpu")
    assert job["spec"]["slotsPerWorker"] == 4
    launcher = job["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]
    assert set(container(launcher)["resources"]["limits"]) == {"cpu", "memory"}
    assert "affinity" not in launcher["spec"]
    command = container(launcher)["command"]
    assert command[:3] == ["mpirun", "-np", "8"]
    assert command[-2:] == ["python", "program.py"]
    assert command[command.index("-wdir") + 1] == f"/home/jovyan/jobs/{JOB_ID}"
    forwarded = {command[i + 1] for i, arg in enumerate(command) if arg == "-x"}
    assert {"NCCL_DEBUG", "MOFANG_JOB_ID", "MOFANG_JOB_DIR", "PYTHONPATH"} <= forwarded
    worker = job["spec"]["mpiReplicaSpecs"]["Worker"]["template"]
    assert container(worker)["command"] == ["/usr/sbin/sshd", "-De"]
    assert container(worker)["resources"]["limits"]["nvidia.com/gpu"] == "2"


def test_mig_and_volcano_vgpu_jobs_ask_for_their_types_resources() -> None:
    mig = build("pytorch-mig")["spec"]["pytorchReplicaSpecs"]
    for replica in mig.values():
        limits = container(replica["template"])["resources"]["limits"]
        assert limits["nvidia.com/mig-1g.10gb"] == "1" and "nvidia.com/gpu" not in limits
        assert replica["template"]["spec"]["nodeSelector"]["nvidia.com/mig.config"] == (
            "all-1g.10gb"
        )
    vgpu = build("pytorch-volcano-vgpu")["spec"]["pytorchReplicaSpecs"]
    for replica in vgpu.values():
        limits = container(replica["template"])["resources"]["limits"]
        assert limits["volcano.sh/vgpu-number"] == "1"
        assert limits["volcano.sh/vgpu-memory"] == "4096"
        assert replica["template"]["spec"]["schedulerName"] == "volcano"


def test_timeout_exit_code_policy_and_cpu_pool_of_a_batch_job() -> None:
    job = build("python-timeout-exitcode-cpu-pool")["spec"]
    assert job["activeDeadlineSeconds"] == 3601
    assert job["backoffLimit"] == 5
    assert job["template"]["spec"]["restartPolicy"] == "Never"  # podFailurePolicy needs it
    (rule,) = job["podFailurePolicy"]["rules"]
    assert rule["action"] == "FailJob"
    assert rule["onExitCodes"]["containerName"] == "python"
    assert rule["onExitCodes"]["values"] == list(range(1, 128))
    assert job["template"]["spec"]["nodeSelector"] == {"mofang.io/pool": "cpu"}
    assert "tolerations" not in job["template"]["spec"]
    limits = container(job["template"])["resources"]["limits"]
    assert limits == {"cpu": "500m", "memory": "1536Mi"}
    on_failure = build("python-onfailure")["spec"]
    assert on_failure["template"]["spec"]["restartPolicy"] == "OnFailure"
    assert "podFailurePolicy" not in on_failure and on_failure["backoffLimit"] == 3


def test_operator_restart_policies_timeouts_and_cpu_pool() -> None:
    job = build("pytorch-onfailure-timeout-cpu-pool")["spec"]
    assert job["runPolicy"]["activeDeadlineSeconds"] == 7200
    for replica in job["pytorchReplicaSpecs"].values():
        assert replica["restartPolicy"] == "OnFailure"
        assert replica["template"]["spec"]["nodeSelector"] == {"mofang.io/pool": "cpu"}
    exit_code = build("pytorch-exitcode")["spec"]["pytorchReplicaSpecs"]
    for replica in exit_code.values():
        assert replica["restartPolicy"] == "ExitCode"
        # The operator runs ExitCode replicas' pods with Never and restarts them itself.
        assert replica["template"]["spec"]["restartPolicy"] == "Never"


def test_an_owner_with_any_name_gets_escaped_labels_and_raw_annotations() -> None:
    job = build("tensorflow-escaped-owner-long-name")
    labels = job["metadata"]["labels"]
    assert labels[USER] == safe_name(ESCAPED_OWNER) != ESCAPED_OWNER
    assert labels[USER].startswith("zoe-o-neil-")
    assert job["metadata"]["annotations"][USER] == ESCAPED_OWNER
    assert job["metadata"]["annotations"]["mofang.io/job-name"] == LONG_JOB_NAME
    assert job["metadata"]["name"] == LONG_JOB_ID
    # The nlp group: its queue, no priority class, the user's storage under the escaped name.
    assert job["spec"]["runPolicy"]["schedulingPolicy"] == {"minAvailable": 2, "queue": "nlp"}
    main = container(job["spec"]["tfReplicaSpecs"]["Worker"]["template"])
    home = next(m for m in main["volumeMounts"] if m["mountPath"] == "/home/jovyan")
    assert home["subPath"] == safe_name(ESCAPED_OWNER)
    assert env_seen(job["spec"]["tfReplicaSpecs"]["Worker"]["template"])["PYTHONPATH"] == (
        "/home/jovyan/Zoë's work"
    )


def test_without_a_plan_the_default_image_runs_with_the_default_resources() -> None:
    job = build("python-no-plan")
    main = container(job["spec"]["template"])
    assert main["image"] == DEFAULT_IMAGE
    assert main["resources"]["limits"] == {"cpu": "1", "memory": "4Gi"}
    assert GROUP not in job["metadata"]["labels"]
    gang = build("pytorch-no-plan")["spec"]["runPolicy"]["schedulingPolicy"]
    assert gang == {"minAvailable": 2}


def test_the_jobs_own_image_wins_over_the_servers() -> None:
    case = CASES["python-cpu"]
    spec = case.job_spec().model_copy(update={"image": "example.org/mine:2"})
    job = job_manifest(
        spec=spec,
        name=JOB_ID,
        namespace=NAMESPACE,
        owner="alice",
        plan=case.server_plan(),
        settings=ClusterJobSettings(),
    )
    assert container(job["spec"]["template"])["image"] == "example.org/mine:2"


def test_a_job_with_chosen_mounts_still_mounts_the_users_own_storage() -> None:
    plan = make_plan(template="python")
    project = next(m for m in plan.mounts if m.level == "project")
    spec = CASES["python-cpu"].job_spec().model_copy(update={"mounts": (project,)})
    job = job_manifest(
        spec=spec,
        name=JOB_ID,
        namespace=NAMESPACE,
        owner="alice",
        plan=plan,
        settings=ClusterJobSettings(),
    )
    paths = [m["mountPath"] for m in container(job["spec"]["template"])["volumeMounts"]]
    assert paths == ["/home/jovyan", "/home/jovyan/projects/vision"]


# --- refusals --------------------------------------------------------------------------


def refused(
    error: type[Exception], spec: dict[str, Any], plan: ServerPlan | None, **job_settings: Any
) -> str:
    with pytest.raises(error) as caught:
        job_manifest(
            spec=JobSpec.model_validate({"name": "train", "notebook": "train.ipynb", **spec}),
            name=JOB_ID,
            namespace=NAMESPACE,
            owner="alice",
            plan=plan,
            settings=ClusterJobSettings(**job_settings),
        )
    return str(caught.value)


def gpus(count: int, workers: int = 1) -> dict[str, Any]:
    return {
        "kind": "pytorch",
        "roles": {
            "Master": {"resources": {"gpus": count}},
            "Worker": {"replicas": workers, "resources": {"gpus": count}},
        },
    }


def test_more_gpus_per_replica_than_the_group_allows_is_refused() -> None:
    message = refused(PolicyError, gpus(4), make_plan(**GPU_PLAN))
    assert "4 GPUs" in message and "at most 2 GPUs per replica" in message


def test_gpus_in_a_group_without_gpu_types_are_refused() -> None:
    message = refused(PolicyError, gpus(1), make_plan(group="nlp", template="pytorch"))
    assert "has no GPUs for jobs" in message and "ask for 0 GPUs" in message


def test_without_a_plan_gpus_are_whole_gpus_placed_by_the_cluster() -> None:
    job = job_manifest(
        spec=JobSpec.model_validate({"name": "t", "notebook": "t.ipynb", **gpus(1)}),
        name=JOB_ID,
        namespace=NAMESPACE,
        owner="alice",
        plan=None,
        settings=ClusterJobSettings(default_image=DEFAULT_IMAGE),
    )
    for _, template in templates(job):
        assert container(template)["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert "nodeSelector" not in template["spec"] and "tolerations" not in template["spec"]


def test_more_gpus_than_the_groups_quota_is_refused() -> None:
    vision, nlp = POLICY.groups
    quota = Resources(cpu=64, memory_gib=256, gpus=4)
    policy = POLICY.model_copy(update={"groups": (vision.model_copy(update={"quota": quota}), nlp)})
    plan = make_plan(policy=policy, **GPU_PLAN)
    message = refused(PolicyError, gpus(2, workers=2), plan)
    assert "6 GPUs" in message and "4 GPUs in its quota" in message
    # Exactly the quota is allowed.
    assert job_manifest(
        spec=JobSpec.model_validate({"name": "t", "notebook": "t.ipynb", **gpus(2)}),
        name=JOB_ID,
        namespace=NAMESPACE,
        owner="alice",
        plan=plan,
        settings=ClusterJobSettings(),
    )


def test_a_gpu_type_with_its_own_scheduler_cannot_run_a_distributed_job() -> None:
    plan = make_plan(template="pytorch", gpus=1, gpu_type="hami-8g")
    message = refused(PolicyError, gpus(1), plan)
    assert "hami-scheduler" in message and "Volcano" in message
    assert "single-process job" in message
    # A single process on that GPU type is fine: its own scheduler places it.
    job = job_manifest(
        spec=JobSpec.model_validate(
            {
                "name": "t",
                "kind": "python",
                "notebook": "t.ipynb",
                "roles": {"Worker": {"resources": {"gpus": 1}}},
            }
        ),
        name=JOB_ID,
        namespace=NAMESPACE,
        owner="alice",
        plan=plan,
        settings=ClusterJobSettings(),
    )
    pod = job["spec"]["template"]["spec"]
    assert pod["schedulerName"] == "hami-scheduler"
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpumem"] == "8192"


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({"cpu": 8}, "8 cores of CPU; group 'Vision team' allows at most 6 cores"),
        ({"memory_gib": 32}, "32 GiB of memory; group 'Vision team' allows at most 24 GiB"),
    ],
)
def test_cpu_or_memory_above_the_replica_limit_is_refused(
    resources: dict[str, Any], expected: str
) -> None:
    spec = {"kind": "python", "roles": {"Worker": {"resources": resources}}}
    assert expected in refused(PolicyError, spec, make_plan(template="python"))


def test_a_job_without_any_image_is_refused() -> None:
    spec = {"kind": "python", "roles": {"Worker": {}}}
    message = refused(InvalidRequestError, spec, None)
    assert "default_image" in message and "from the hub" in message


def test_an_mpi_job_restarting_on_exit_codes_is_refused() -> None:
    # mpi-operator v2beta1 accepts restartPolicy Never and OnFailure only.
    spec = {
        "kind": "mpi",
        "roles": {"Launcher": {}, "Worker": {"replicas": 1}},
        "restart_policy": "ExitCode",
    }
    message = refused(InvalidRequestError, spec, make_plan(template="python"))
    assert "Never" in message and "OnFailure" in message
