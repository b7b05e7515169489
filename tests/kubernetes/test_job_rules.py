"""The operators' admission rules that no schema states, each broken on a valid built object.

Every rule of :func:`operator_violations` is checked the same way: take an
object the builders made (which breaks none), break exactly that rule, and the
violation names it. The sources are the operators' own checks: the Training
Operator's webhooks (``pkg/webhooks/{pytorch,tensorflow}``, ``utils``), the
mpi-operator's ``pkg/apis/kubeflow/validation`` (v2beta1), the batch Job's name
rule, and the CEL rule on the Training Operator CRDs that makes the queue
immutable. Job ids made from any text are names every kind accepts.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mofang_lab.backends.kubernetes.manifests import operator_violations, update_violations
from mofang_lab.jobs.ids import JOB_ID_PATTERN, new_job_id
from tests.kubernetes.test_job_manifests import CASES, build

Obj = dict[str, Any]

#: A valid object of each kind, as the builders make it.
BASES = {
    "PyTorchJob": "pytorch-ddp-gpu",
    "TFJob": "tensorflow-ps-gpu-workers",
    "MPIJob": "mpi-gpu",
    "Job": "python-cpu",
}
CUSTOM_KINDS = ("PyTorchJob", "TFJob", "MPIJob")
REPLICA_SPECS = {
    "PyTorchJob": "pytorchReplicaSpecs",
    "TFJob": "tfReplicaSpecs",
    "MPIJob": "mpiReplicaSpecs",
}


def base(kind: str) -> Obj:
    obj = build(BASES[kind])
    assert obj["kind"] == kind
    return obj


def broken(kind: str, breaking: Callable[[Obj], object]) -> list[str]:
    """The violations of a valid ``kind`` object after ``breaking`` changed it."""
    obj = copy.deepcopy(base(kind))
    assert operator_violations(obj) == []
    breaking(obj)
    return operator_violations(obj)


def replicas(obj: Obj) -> dict[str, Obj]:
    specs: dict[str, Obj] = obj["spec"][REPLICA_SPECS[obj["kind"]]]
    return specs


def one(problems: list[str], *words: str) -> None:
    """Exactly one violation, and it says ``words``."""
    assert len(problems) == 1, problems
    assert all(word in problems[0] for word in words), problems[0]


def rename(obj: Obj, name: str) -> None:
    obj["metadata"]["name"] = name


# --- every builder output passes ------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_built_object_breaks_no_rule(case: str) -> None:
    assert operator_violations(build(case)) == []


# --- PyTorchJob ------------------------------------------------------------------------


def test_a_pytorch_replica_needs_a_container_named_pytorch() -> None:
    def rename_container(obj: Obj) -> None:
        replicas(obj)["Worker"]["template"]["spec"]["containers"][0]["name"] = "main"

    one(broken("PyTorchJob", rename_container), "Worker", "'pytorch'")


def test_a_pytorch_job_has_exactly_one_master() -> None:
    def two(obj: Obj) -> None:
        replicas(obj)["Master"]["replicas"] = 2

    def none(obj: Obj) -> None:
        replicas(obj).pop("Master")
        obj["spec"]["runPolicy"]["schedulingPolicy"]["minAvailable"] = 3

    one(broken("PyTorchJob", two), "exactly 1 Master", "got 2")
    one(broken("PyTorchJob", none), "exactly 1 Master", "got 0")


def test_a_pytorch_job_has_only_master_and_worker_replicas() -> None:
    def add_ps(obj: Obj) -> None:
        replicas(obj)["PS"] = copy.deepcopy(replicas(obj)["Worker"])

    one(broken("PyTorchJob", add_ps), "no replica type 'PS'", "Master, Worker")


# --- TFJob -----------------------------------------------------------------------------


def test_a_tensorflow_replica_needs_a_container_named_tensorflow() -> None:
    def rename_container(obj: Obj) -> None:
        replicas(obj)["PS"]["template"]["spec"]["containers"][0]["name"] = "pytorch"

    one(broken("TFJob", rename_container), "PS", "'tensorflow'")


def test_a_tensorflow_job_has_at_most_one_chief() -> None:
    def two(obj: Obj) -> None:
        replicas(obj)["Chief"]["replicas"] = 2

    one(broken("TFJob", two), "at most 1 Chief", "got 2")


def test_a_tensorflow_job_has_a_chief_or_a_master_not_both() -> None:
    # The TFJob webhook: "must not have more than 1 Chief or Master role".
    def add_master(obj: Obj) -> None:
        replicas(obj)["Master"] = copy.deepcopy(replicas(obj)["Chief"])

    one(broken("TFJob", add_master), "Chief", "Master")


def test_a_tensorflow_job_has_no_launcher() -> None:
    def add_launcher(obj: Obj) -> None:
        replicas(obj)["Launcher"] = copy.deepcopy(replicas(obj)["PS"])

    one(broken("TFJob", add_launcher), "no replica type 'Launcher'")


# --- MPIJob ----------------------------------------------------------------------------


def test_an_mpi_job_has_exactly_one_launcher() -> None:
    def two(obj: Obj) -> None:
        replicas(obj)["Launcher"]["replicas"] = 2

    def none(obj: Obj) -> None:
        replicas(obj).pop("Launcher")
        obj["spec"]["runPolicy"]["schedulingPolicy"]["minAvailable"] = 2

    one(broken("MPIJob", two), "exactly 1 Launcher", "got 2")
    one(broken("MPIJob", none), "exactly 1 Launcher", "got 0")


def test_an_mpi_job_has_at_least_one_slot_per_worker() -> None:
    def no_slots(obj: Obj) -> None:
        obj["spec"]["slotsPerWorker"] = 0

    one(broken("MPIJob", no_slots), "slotsPerWorker")


def test_an_mpi_replica_restarts_never_or_on_failure_only() -> None:
    # mpi-operator v2beta1 validation: validRestartPolicies = Never, OnFailure.
    def exit_code(obj: Obj) -> None:
        replicas(obj)["Worker"]["restartPolicy"] = "ExitCode"

    one(broken("MPIJob", exit_code), "Worker", "'ExitCode'")

    def on_failure(obj: Obj) -> None:
        replicas(obj)["Worker"]["restartPolicy"] = "OnFailure"

    assert broken("MPIJob", on_failure) == []


def test_an_mpi_jobs_last_worker_hostname_is_a_dns_label() -> None:
    # mpi-operator names the last worker "<job>-worker-<replicas - 1>": a DNS-1123 label.
    def long_name(obj: Obj) -> None:
        rename(obj, "a" * 54)  # a-...-worker-1 is 63 characters: still fine
        replicas(obj)["Worker"]["replicas"] = 2

    assert broken("MPIJob", long_name) == []

    def longer(obj: Obj) -> None:
        rename(obj, "a" * 54)
        replicas(obj)["Worker"]["replicas"] = 10  # a...-worker-9: fine; -worker-10 is not

    assert broken("MPIJob", longer) == []

    def too_long(obj: Obj) -> None:
        rename(obj, "a" * 54)
        replicas(obj)["Worker"]["replicas"] = 11

    one(broken("MPIJob", too_long), "worker-10")


# --- every kind ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(BASES))
@pytest.mark.parametrize("name", ["Train-abc123", "a" * 64, "train_abc123", "-train", "train-"])
def test_a_name_that_is_no_dns_label_is_refused(kind: str, name: str) -> None:
    one(broken(kind, lambda o: rename(o, name)), repr(name), kind)


@pytest.mark.parametrize("kind", sorted(BASES))
def test_a_63_character_name_is_accepted(kind: str) -> None:
    def at_most(obj: Obj) -> None:
        rename(obj, "t" * 63)
        if kind == "MPIJob":
            rename(obj, "t" * 54)  # the worker's hostname must fit too

    assert broken(kind, at_most) == []


@pytest.mark.parametrize("kind", CUSTOM_KINDS)
def test_an_operators_job_name_starts_with_a_letter(kind: str) -> None:
    # DNS-1035: the operators name Services after the job.
    one(broken(kind, lambda o: rename(o, "1train")), "'1train'", "DNS-1035")


def test_a_batch_job_name_may_start_with_a_digit_but_has_no_dots() -> None:
    # A batch Job's name is a DNS-1123 label: its pods carry it as a label value.
    assert broken("Job", lambda o: rename(o, "1train")) == []
    one(broken("Job", lambda o: rename(o, "train.v2")), "'train.v2'", "DNS-1123")


@pytest.mark.parametrize("policy", ["Always", "ExitCode", "Sometimes"])
def test_a_batch_jobs_pods_restart_never_or_on_failure(policy: str) -> None:
    def restart(obj: Obj) -> None:
        obj["spec"]["template"]["spec"]["restartPolicy"] = policy

    one(broken("Job", restart), "Never or OnFailure")


@pytest.mark.parametrize("kind", CUSTOM_KINDS)
def test_an_unknown_restart_policy_is_refused(kind: str) -> None:
    def restart(obj: Obj) -> None:
        next(iter(replicas(obj).values()))["restartPolicy"] = "Sometimes"

    one(broken(kind, restart), "restartPolicy 'Sometimes' is unknown")


@pytest.mark.parametrize("kind", CUSTOM_KINDS)
def test_an_unknown_clean_pod_policy_is_refused(kind: str) -> None:
    def clean(obj: Obj) -> None:
        obj["spec"]["runPolicy"]["cleanPodPolicy"] = "Some"

    one(broken(kind, clean), "cleanPodPolicy 'Some' is unknown")


@pytest.mark.parametrize("kind", CUSTOM_KINDS)
def test_min_available_above_the_replica_count_is_refused(kind: str) -> None:
    total = sum(r["replicas"] for r in replicas(base(kind)).values())

    def more(obj: Obj) -> None:
        obj["spec"]["runPolicy"]["schedulingPolicy"]["minAvailable"] = total + 1

    one(broken(kind, more), f"minAvailable {total + 1}", f"{total} replicas")

    def fewer(obj: Obj) -> None:
        obj["spec"]["runPolicy"]["schedulingPolicy"]["minAvailable"] = total - 1

    assert broken(kind, fewer) == []


@pytest.mark.parametrize("kind", CUSTOM_KINDS)
def test_no_replica_specs_is_refused(kind: str) -> None:
    def empty(obj: Obj) -> None:
        obj["spec"][REPLICA_SPECS[kind]] = {}

    problems = broken(kind, empty)
    assert any(f"needs {REPLICA_SPECS[kind]}" in p for p in problems), problems


# --- updates ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", CUSTOM_KINDS)
def test_the_queue_of_a_job_cannot_change(kind: str) -> None:
    old = base(kind)
    new = copy.deepcopy(old)
    new["spec"]["runPolicy"]["schedulingPolicy"]["queue"] = "another-queue"
    (problem,) = update_violations(old, new)
    assert "queue is immutable" in problem


@pytest.mark.parametrize("kind", CUSTOM_KINDS)
def test_other_changes_keep_the_queue(kind: str) -> None:
    old = base(kind)
    new = copy.deepcopy(old)
    new["spec"]["runPolicy"]["backoffLimit"] = 7
    new["metadata"]["labels"]["extra"] = "yes"
    assert update_violations(old, new) == []
    assert update_violations(old, copy.deepcopy(old)) == []


# --- job ids ---------------------------------------------------------------------------

BUILT = {kind: base(kind) for kind in BASES}


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_a_job_id_from_any_name_is_a_name_every_kind_accepts(name: str) -> None:
    job_id = new_job_id(name)
    assert JOB_ID_PATTERN.match(job_id)
    assert len(f"{job_id}-worker-999") <= 63
    assert len(f"{job_id}-launcher-0") <= 63
    for kind in BASES:
        obj = copy.deepcopy(BUILT[kind])
        rename(obj, job_id)
        replicas_of = obj["spec"].get(REPLICA_SPECS.get(kind, ""), {})
        if "Worker" in replicas_of:
            replicas_of["Worker"]["replicas"] = 1000  # the most a spec may ask for
        assert operator_violations(obj) == [], (kind, job_id)
