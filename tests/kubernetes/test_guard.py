"""The guard's rules, evaluated: allowed and refused job objects of every kind.

No API server runs here, so the CEL of ``hub-config/kubernetes/jobs/guard.yaml``
is evaluated with cel-python (``celpy``) the way the API server evaluates a
``ValidatingAdmissionPolicy``: match conditions first (an error refuses),
then the variables (an error counts only where a rule uses the variable),
then every validation (false or an error refuses, with its
``messageExpression``, or its ``message`` when that fails). Kubernetes' CEL
adds string and list functions to standard CEL; the two the guard uses,
``split`` and ``join``, are given to cel-python here with the same meaning.

The entitlements are the real ones: the hub's builder
(:func:`~mofang_spawner.kubernetes.entitlements.user_entitlements`) applied to
the policy in ``hub-config/kubernetes/values.yaml``. The job objects are
built by hand after the job backend's conventions, and, where the backend's
builder is importable, taken from it as well.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from mofang_lab.cli.plan import load_config
from mofang_spawner.config import MofangPolicy
from mofang_spawner.kubernetes.config import MofangStorage
from mofang_spawner.kubernetes.entitlements import namespace_entitlements, user_entitlements
from mofang_spawner.kubernetes.identity import service_account_name
from mofang_spawner.planning import Choices, member_groups, plan_server
from tests.policies import ROOT

try:
    import celpy
    from celpy import celtypes
except ImportError:  # pragma: no cover - the sibling tests in test_guard_manifests.py still run
    celpy = None

GUARD = ROOT / "hub-config" / "kubernetes" / "jobs" / "guard.yaml"
VALUES = ROOT / "hub-config" / "kubernetes" / "values.yaml"
NAMESPACE = "mofang"
NO_CEL = (
    "cel-python is not installed (pip install cel-python==0.5.0): the guard's CEL is not evaluated"
)


# --- the evaluator -------------------------------------------------------------------


def _split(text: Any, separator: Any) -> Any:
    return celtypes.ListType([celtypes.StringType(p) for p in str(text).split(str(separator))])


def _join(items: Any, separator: Any = "") -> Any:
    return celtypes.StringType(str(separator).join(str(item) for item in items))


@dataclass
class Decision:
    matched: bool
    allowed: bool
    messages: list[str]
    failed: list[int]  # indexes of the validations that refused


class Guard:
    """The policy of guard.yaml, compiled once, judging admission requests."""

    def __init__(self, policy: dict[str, Any]) -> None:
        spec = policy["spec"]
        self.env = celpy.Environment()
        self.functions = {"split": _split, "join": _join}
        self.conditions = [self._compile(c["expression"]) for c in spec["matchConditions"]]
        self.variables = [(v["name"], self._compile(v["expression"])) for v in spec["variables"]]
        self.validations = [
            (
                self._compile(v["expression"]),
                self._compile(v["messageExpression"]) if "messageExpression" in v else None,
                v.get("message", ""),
                set(re.findall(r"variables\.(\w+)", v["expression"])),
            )
            for v in spec["validations"]
        ]

    def _compile(self, expression: str) -> Any:
        return self.env.program(self.env.compile(expression), functions=self.functions)

    def admit(
        self,
        *,
        params: dict[str, Any],
        username: str,
        obj: dict[str, Any] | None,
        old: dict[str, Any] | None = None,
        operation: str = "CREATE",
        namespace: str = NAMESPACE,
    ) -> Decision:
        request = {
            "operation": operation,
            "namespace": namespace,
            "userInfo": {"username": username, "groups": ["system:authenticated"]},
        }
        activation: dict[str, Any] = {
            "request": celpy.json_to_cel(request),
            "object": celpy.json_to_cel(obj),
            "oldObject": celpy.json_to_cel(old),
            "params": celpy.json_to_cel(params),
        }
        for condition in self.conditions:
            try:
                result = condition.evaluate(activation)
            except celpy.CELEvalError as exc:
                return Decision(True, False, [f"match condition error: {exc}"], [-1])
            if isinstance(result, celpy.CELEvalError):
                return Decision(True, False, [f"match condition error: {result}"], [-1])
            if not result:
                return Decision(False, True, [], [])
        values: dict[str, Any] = {}
        broken: dict[str, str] = {}
        for name, program in self.variables:
            activation["variables"] = celtypes.MapType(
                {celtypes.StringType(k): v for k, v in values.items()}
            )
            try:
                value = program.evaluate(activation)
            except celpy.CELEvalError as exc:
                value = exc
            if isinstance(value, celpy.CELEvalError):
                broken[name] = str(value)
                continue
            values[name] = value
        activation["variables"] = celtypes.MapType(
            {celtypes.StringType(k): v for k, v in values.items()}
        )
        messages: list[str] = []
        failed: list[int] = []
        for index, (program, message_program, message, uses) in enumerate(self.validations):
            errors = [f"variable {n}: {broken[n]}" for n in uses if n in broken]
            result: Any = None
            if not errors:
                try:
                    result = program.evaluate(activation)
                except celpy.CELEvalError as exc:
                    errors.append(str(exc))
                if isinstance(result, celpy.CELEvalError):
                    errors.append(str(result))
            if not errors and isinstance(result, celtypes.BoolType) and bool(result):
                continue
            failed.append(index)
            if errors:
                messages.append(f"expression error: {errors}")
                continue
            text = message
            if message_program is not None:
                try:
                    evaluated = message_program.evaluate(activation)
                    if isinstance(evaluated, str | celtypes.StringType):
                        text = str(evaluated)
                except celpy.CELEvalError:
                    pass
            messages.append(" ".join(text.split()))
        return Decision(True, not failed, messages, failed)


@pytest.fixture(scope="module")
def guard() -> Guard:
    if celpy is None:
        pytest.skip(NO_CEL)
    policy = next(d for d in yaml.safe_load_all(GUARD.read_text()) if d["kind"].endswith("Policy"))
    return Guard(policy)


# --- the users and their entitlements ---------------------------------------------------


def _data(users: dict[str, list[str]]) -> dict[str, str]:
    config = load_config(VALUES)
    policy = MofangPolicy(config=config).policy()
    storage = MofangStorage(config=config).settings()
    data = namespace_entitlements(job_service_accounts=["default"], volcano_schedulers=["volcano"])
    for user, groups in users.items():
        plan = plan_server(user, groups, Choices(), policy)
        entitlements = user_entitlements(
            plan=plan,
            groups=member_groups(groups, policy),
            gpu_types=policy.gpu_types,
            storage=storage,
            schedulers=["volcano"],
        )
        data.update(entitlements.data(service_account_name(user=user)))
    return data


USERS = {"alice": ["vision"], "bob": ["nlp"], "Carol Smith": ["vision", "nlp"]}
PARAMS = {"apiVersion": "v1", "kind": "ConfigMap", "data": _data(USERS)}


def account(user: str, namespace: str = NAMESPACE) -> str:
    return f"system:serviceaccount:{namespace}:{service_account_name(user=user)}"


ALICE = account("alice")


# --- job objects after the backend's conventions -------------------------------------------


def labels(user: str = "alice", group: str = "vision") -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": "mofang",
        "mofang.io/user": user,
        "mofang.io/group": group,
        "mofang.io/job-id": "train-1a2b3c",
    }


def template(container: str = "pytorch") -> dict[str, Any]:
    """A pod template of alice's in group vision: her storage, vision's pool and queue."""
    return {
        "metadata": {
            "labels": labels(),
            "annotations": {
                "mofang.io/user": "alice",
                "scheduling.volcano.sh/queue-name": "vision",
            },
        },
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "schedulerName": "volcano",
            "priorityClassName": "mofang-team",
            "nodeSelector": {"mofang.io/pool": "vision"},
            "tolerations": [
                {
                    "key": "mofang.io/pool",
                    "operator": "Equal",
                    "value": "vision",
                    "effect": "NoSchedule",
                }
            ],
            "containers": [
                {
                    "name": container,
                    "image": "quay.io/jupyter/pytorch-notebook:cuda12-2025-01-06",
                    "command": ["python", "program.py"],
                    "volumeMounts": [
                        {"name": "mofang-user", "mountPath": "/home/jovyan", "subPath": "alice"},
                        {
                            "name": "mofang-project-vision",
                            "mountPath": "/home/jovyan/projects/vision",
                        },
                        {
                            "name": "mofang-global",
                            "mountPath": "/home/jovyan/global",
                            "readOnly": True,
                        },
                    ],
                }
            ],
            "volumes": [
                {"name": "mofang-user", "persistentVolumeClaim": {"claimName": "mofang-users"}},
                {
                    "name": "mofang-project-vision",
                    "persistentVolumeClaim": {"claimName": "mofang-project-vision"},
                },
                {
                    "name": "mofang-global",
                    "persistentVolumeClaim": {"claimName": "mofang-global", "readOnly": True},
                },
                {"name": "shm", "emptyDir": {"medium": "Memory"}},
            ],
        },
    }


def _operator_job(api_version: str, kind: str, key: str, roles: list[str], container: str) -> Any:
    def build() -> dict[str, Any]:
        return {
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"name": "train-1a2b3c", "namespace": NAMESPACE, "labels": labels()},
            "spec": {
                key: {
                    role: {"replicas": 1, "restartPolicy": "Never", "template": template(container)}
                    for role in roles
                },
                "runPolicy": {
                    "cleanPodPolicy": "Running",
                    "schedulingPolicy": {
                        "minAvailable": len(roles),
                        "queue": "vision",
                        "priorityClass": "mofang-team",
                    },
                },
            },
        }

    return build


def batch_job() -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "train-1a2b3c", "namespace": NAMESPACE, "labels": labels()},
        "spec": {"backoffLimit": 0, "template": template("python")},
    }


JOBS: dict[str, Callable[[], dict[str, Any]]] = {
    "PyTorchJob": _operator_job(
        "kubeflow.org/v1", "PyTorchJob", "pytorchReplicaSpecs", ["Master", "Worker"], "pytorch"
    ),
    "TFJob": _operator_job(
        "kubeflow.org/v1", "TFJob", "tfReplicaSpecs", ["Chief", "PS", "Worker"], "tensorflow"
    ),
    "MPIJob": _operator_job(
        "kubeflow.org/v2beta1", "MPIJob", "mpiReplicaSpecs", ["Launcher", "Worker"], "mpi"
    ),
    "Job": batch_job,
}


def experiment(trial: dict[str, Any]) -> dict[str, Any]:
    trial = copy.deepcopy(trial)
    metadata = trial.pop("metadata", {})
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {
            "name": "sweep-1a2b3c",
            "namespace": NAMESPACE,
            "labels": dict(metadata.get("labels") or labels()),
        },
        "spec": {
            "objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
            "algorithm": {"algorithmName": "random"},
            "parallelTrialCount": 2,
            "maxTrialCount": 4,
            "parameters": [
                {
                    "name": "lr",
                    "parameterType": "double",
                    "feasibleSpace": {"min": "0.0001", "max": "1e-1"},
                },
                {
                    "name": "optimizer",
                    "parameterType": "categorical",
                    "feasibleSpace": {"list": ["adam", "sgd"]},
                },
            ],
            "metricsCollectorSpec": {"collector": {"kind": "StdOut"}},
            "trialTemplate": {
                "primaryContainerName": "pytorch",
                "trialParameters": [
                    {"name": "lr", "reference": "lr"},
                    {"name": "optimizer", "reference": "optimizer"},
                    {"name": "trialName", "reference": "${trialSpec.Name}"},
                ],
                "trialSpec": trial,
            },
        },
    }


ALL_KINDS = [*JOBS, *(f"Experiment/{k}" for k in JOBS)]


def build(kind: str) -> dict[str, Any]:
    if kind.startswith("Experiment/"):
        return experiment(JOBS[kind.split("/", 1)[1]]())
    return JOBS[kind]()


def job_of(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "Experiment":
        trial: dict[str, Any] = obj["spec"]["trialTemplate"]["trialSpec"]
        return trial
    return obj


def templates_of(obj: dict[str, Any]) -> list[dict[str, Any]]:
    job = job_of(obj)
    if job["kind"] == "Job":
        return [job["spec"]["template"]]
    key = next(k for k in job["spec"] if k.endswith("ReplicaSpecs"))
    return [spec["template"] for spec in job["spec"][key].values()]


def last_template(obj: dict[str, Any]) -> dict[str, Any]:
    """The last role's template: a rule must hold in every role, not only the first."""
    return templates_of(obj)[-1]


def admit(guard: Guard, obj: dict[str, Any] | None, **kwargs: Any) -> Decision:
    kwargs.setdefault("username", ALICE)
    kwargs.setdefault("params", PARAMS)
    return guard.admit(obj=obj, **kwargs)


# --- what is allowed --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_a_job_that_follows_the_conventions_is_allowed(guard: Guard, kind: str) -> None:
    decision = admit(guard, build(kind))
    assert decision.matched
    assert decision.allowed, decision.messages


def test_a_user_may_delete_their_own_job(guard: Guard) -> None:
    decision = admit(guard, None, old=build("PyTorchJob"), operation="DELETE")
    assert decision.allowed, decision.messages


def test_a_user_in_two_groups_may_use_either(guard: Guard) -> None:
    carol = account("Carol Smith")
    user = service_account_name(user="Carol Smith").removeprefix("mofang-user-")
    for group, pool in (("vision", "vision"), ("nlp", "nlp")):
        job = build("Job")
        job["metadata"]["labels"].update({"mofang.io/user": user, "mofang.io/group": group})
        pod = last_template(job)
        pod["metadata"]["labels"].update({"mofang.io/user": user, "mofang.io/group": group})
        pod["metadata"]["annotations"]["scheduling.volcano.sh/queue-name"] = pool
        pod["spec"]["nodeSelector"] = {"mofang.io/pool": pool}
        pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] = "mofang-users"
        pod["spec"]["containers"][0]["volumeMounts"][0]["subPath"] = user
        pod["spec"]["containers"][0]["volumeMounts"] = pod["spec"]["containers"][0]["volumeMounts"][
            :1
        ]
        pod["spec"]["volumes"] = pod["spec"]["volumes"][:1]
        decision = admit(guard, job, username=carol)
        assert decision.allowed, (group, decision.messages)


def test_requests_of_other_accounts_are_not_the_guards_business(guard: Guard) -> None:
    job = build("PyTorchJob")
    job["metadata"]["labels"]["mofang.io/user"] = "someone-else"
    for username in (
        "system:serviceaccount:mofang:hub",
        "system:serviceaccount:kubeflow:katib-controller",
        "kubernetes-admin",
        "system:admin",
    ):
        decision = admit(guard, job, username=username)
        assert not decision.matched and decision.allowed, username


# --- what is refused, for every kind ----------------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        target = last_template(obj)
        *parents, leaf = path.split(".")
        for key in parents:
            target = target.setdefault(key, {})
        target[leaf] = value

    return change


def _mount(index: int, **changes: Any) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        mount = last_template(obj)["spec"]["containers"][0]["volumeMounts"][index]
        for key, value in changes.items():
            if value is None:
                mount.pop(key, None)
            else:
                mount[key] = value

    return change


def _add_volume(volume: dict[str, Any], mount: bool = True) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        spec = last_template(obj)["spec"]
        spec["volumes"].append(volume)
        if mount:
            spec["containers"][0]["volumeMounts"].append(
                {"name": volume["name"], "mountPath": "/mnt/x"}
            )

    return change


def _object_label(key: str, value: str) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        obj["metadata"]["labels"][key] = value

    return change


def _writable_global(init: bool = False) -> Callable[[dict[str, Any]], None]:
    """The global claim mounted writable: neither the volume nor the mount read-only.

    (A read-only volume makes every mount of it read-only: that one is allowed.)
    """

    def change(obj: dict[str, Any]) -> None:
        spec = last_template(obj)["spec"]
        spec["volumes"][2]["persistentVolumeClaim"].pop("readOnly")
        if init:
            spec["initContainers"] = [
                {
                    "name": "init",
                    "image": "busybox",
                    "volumeMounts": [{"name": "mofang-global", "mountPath": "/g"}],
                }
            ]
        else:
            spec["containers"][0]["volumeMounts"][2].pop("readOnly")

    return change


def _container(**changes: Any) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        last_template(obj)["spec"]["containers"][0].update(changes)

    return change


def _init_container(**fields: Any) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        last_template(obj)["spec"]["initContainers"] = [
            {"name": "init", "image": "busybox", **fields}
        ]

    return change


def _annotation(key: str, value: str) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        last_template(obj)["metadata"]["annotations"][key] = value

    return change


def _template_label(key: str, value: str) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        last_template(obj)["metadata"]["labels"][key] = value

    return change


def _no_template_labels(obj: dict[str, Any]) -> None:
    del last_template(obj)["metadata"]["labels"]


def _affinity(operator: str, values: list[str], key: str = "mofang.io/pool") -> Any:
    expression = {"key": key, "operator": operator, "values": values}
    return _set(
        "spec.affinity",
        {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [expression]}]
                }
            }
        },
    )


def _preferred_affinity(values: list[str]) -> Any:
    preference = {
        "matchExpressions": [{"key": "mofang.io/pool", "operator": "In", "values": values}]
    }
    return _set(
        "spec.affinity",
        {
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 1, "preference": preference}
                ]
            }
        },
    )


#: name -> (change, a word the refusal's message must contain)
REFUSALS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "object of another user": (_object_label("mofang.io/user", "bob"), "belongs to"),
    "object of another group": (_object_label("mofang.io/group", "nlp"), "mofang.io/group"),
    "pods of another user": (_template_label("mofang.io/user", "bob"), "pod template"),
    "pods of another group": (_template_label("mofang.io/group", "nlp"), "pod template"),
    "pods without labels": (_no_template_labels, "pod template"),
    "another group's claim": (
        _add_volume({"name": "p", "persistentVolumeClaim": {"claimName": "mofang-project-nlp"}}),
        "mofang-project-nlp",
    ),
    "another group's claim, not mounted": (
        _add_volume(
            {"name": "p", "persistentVolumeClaim": {"claimName": "mofang-project-nlp"}},
            mount=False,
        ),
        "mofang-project-nlp",
    ),
    "another user's directory": (_mount(0, subPath="bob"), "subPath"),
    "the whole users' claim": (_mount(0, subPath=None), "subPath"),
    "below one's directory (symlinks)": (_mount(0, subPath="alice/data"), "subPath"),
    "a path escape": (_mount(0, subPath="alice/../bob"), "subPath"),
    "subPathExpr": (_mount(0, subPath=None, subPathExpr="$(USER)"), "subPath"),
    "the global claim writable": (_writable_global(), "readOnly"),
    "the global claim in an init container, writable": (_writable_global(init=True), "readOnly"),
    "a hostPath volume": (_add_volume({"name": "h", "hostPath": {"path": "/"}}), "hostPath"),
    "a secret volume": (_add_volume({"name": "s", "secret": {"secretName": "hub"}}), "secrets"),
    "a CSI volume": (
        _add_volume({"name": "c", "csi": {"driver": "cephfs.csi.ceph.com"}}),
        "CSI",
    ),
    "a secret in an environment variable": (
        _container(env=[{"name": "K", "valueFrom": {"secretKeyRef": {"name": "hub", "key": "k"}}}]),
        "Secrets",
    ),
    "all of a secret in the environment": (
        _init_container(envFrom=[{"secretRef": {"name": "mofang-cephfs"}}]),
        "Secrets",
    ),
    "a privileged container": (_container(securityContext={"privileged": True}), "Privileged"),
    "a privileged init container": (
        _init_container(securityContext={"privileged": True}),
        "Privileged",
    ),
    "SYS_ADMIN": (
        _container(securityContext={"capabilities": {"add": ["SYS_ADMIN"]}}),
        "capabilities",
    ),
    "hostNetwork": (_set("spec.hostNetwork", True), "host's network"),
    "hostPID": (_set("spec.hostPID", True), "host's network"),
    "hostIPC": (_set("spec.hostIPC", True), "host's network"),
    "a host port": (_container(ports=[{"containerPort": 22, "hostPort": 2222}]), "host ports"),
    "a node name": (_set("spec.nodeName", "nlp-1"), "nodeName"),
    "the hub's service account": (_set("spec.serviceAccountName", "hub"), "service accounts"),
    "another pool's node selector": (
        _set("spec.nodeSelector", {"mofang.io/pool": "nlp"}),
        "mofang.io/pool=vision",
    ),
    "a node by host name": (
        _set("spec.nodeSelector", {"kubernetes.io/hostname": "nlp-1"}),
        "node pool",
    ),
    "affinity to another pool": (_affinity("In", ["nlp"]), "affinity"),
    "affinity NotIn": (_affinity("NotIn", ["vision"]), "affinity"),
    "preferred affinity to another pool": (_preferred_affinity(["nlp"]), "affinity"),
    "tolerating every taint": (_set("spec.tolerations", [{"operator": "Exists"}]), "toleration"),
    "tolerating another pool": (
        _set(
            "spec.tolerations",
            [{"key": "mofang.io/pool", "operator": "Equal", "value": "nlp"}],
        ),
        "mofang.io/pool=vision",
    ),
    "tolerating every pool": (
        _set("spec.tolerations", [{"key": "mofang.io/pool", "operator": "Exists"}]),
        "toleration",
    ),
    "the default scheduler": (_set("spec.schedulerName", "default-scheduler"), "schedulers"),
    "no scheduler (the default one)": (
        lambda obj: last_template(obj)["spec"].pop("schedulerName"),
        "schedulers",
    ),
    "another priority class": (
        _set("spec.priorityClassName", "system-cluster-critical"),
        "Priority",
    ),
    "another queue by annotation": (
        _annotation("scheduling.volcano.sh/queue-name", "nlp"),
        "queue",
    ),
    "another pod group": (_annotation("scheduling.k8s.io/group-name", "bobs-job"), "pod group"),
}


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_job_breaking_a_rule_is_refused_with_a_message(
    guard: Guard, kind: str, case: str
) -> None:
    change, word = REFUSALS[case]
    obj = build(kind)
    change(obj)
    decision = admit(guard, obj)
    assert not decision.allowed, f"{case} was allowed for {kind}"
    assert any(word in m for m in decision.messages), decision.messages
    assert not any("expression error" in m for m in decision.messages), decision.messages


@pytest.mark.parametrize("kind", ["PyTorchJob", "TFJob", "MPIJob", "Experiment/PyTorchJob"])
@pytest.mark.parametrize(
    ("field", "value", "word"),
    [
        ("queue", "nlp", "Queue nlp"),
        ("queue", None, "Queue default"),
        ("priorityClass", "system-node-critical", "Priority"),
    ],
)
def test_an_operator_jobs_queue_and_priority_class_are_checked(
    guard: Guard, kind: str, field: str, value: str | None, word: str
) -> None:
    obj = build(kind)
    scheduling = job_of(obj)["spec"]["runPolicy"]["schedulingPolicy"]
    if value is None:
        del scheduling[field]
    else:
        scheduling[field] = value
    decision = admit(guard, obj)
    assert not decision.allowed
    assert any(word in m for m in decision.messages), decision.messages


def test_a_batch_job_without_a_queue_annotation_is_in_the_default_queue(guard: Guard) -> None:
    obj = build("Job")
    del last_template(obj)["metadata"]["annotations"]["scheduling.volcano.sh/queue-name"]
    decision = admit(guard, obj)
    assert not decision.allowed
    assert any("default queue" in m for m in decision.messages)


def test_a_user_without_a_queue_may_use_the_default_one() -> None:
    data = _data({"dave": []})
    sa = service_account_name(user="dave")
    assert data[f"{sa}.queues"] == "default"
    assert "default-scheduler" in data[f"{sa}.schedulers"].split(",")
    assert data[f"{sa}.claims"] == "mofang-users/dave,mofang-global:ro"


# --- who -------------------------------------------------------------------------------------


def test_an_account_without_entitlements_is_refused(guard: Guard) -> None:
    decision = admit(guard, build("Job"), username=account("mallory"))
    assert not decision.allowed
    assert "No Mofang entitlements" in decision.messages[0]


def test_an_empty_or_foreign_configmap_refuses_everyone(guard: Guard) -> None:
    for params in ({"apiVersion": "v1", "kind": "ConfigMap"}, {"data": {"x": "y"}}):
        decision = admit(guard, build("Job"), params=params)
        assert not decision.allowed
        assert not any("expression error" in m for m in decision.messages), decision.messages


def test_an_account_of_another_namespace_is_refused(guard: Guard) -> None:
    decision = admit(guard, build("Job"), username=account("alice", namespace="elsewhere"))
    assert not decision.allowed
    assert "No Mofang entitlements" in decision.messages[0]


def test_bob_cannot_create_delete_or_take_over_alices_jobs(guard: Guard) -> None:
    bob = account("bob")
    alices = build("PyTorchJob")
    assert not admit(guard, alices, username=bob).allowed
    assert not admit(guard, None, old=alices, operation="DELETE", username=bob).allowed
    relabelled = copy.deepcopy(alices)
    relabelled["metadata"]["labels"].update({"mofang.io/user": "bob", "mofang.io/group": "nlp"})
    decision = admit(guard, relabelled, old=alices, operation="UPDATE", username=bob)
    assert not decision.allowed
    assert any("belongs to" in m for m in decision.messages)


def test_an_unlabelled_object_is_refused(guard: Guard) -> None:
    obj = build("MPIJob")
    del obj["metadata"]["labels"]
    decision = admit(guard, obj)
    assert not decision.allowed
    assert any("no user" in m for m in decision.messages), decision.messages


# --- Experiments -----------------------------------------------------------------------------


def _experiment_change(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    obj = build("Experiment/PyTorchJob")
    change(obj["spec"])
    return obj


EXPERIMENT_REFUSALS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "a trial from a ConfigMap": (
        lambda spec: (
            spec["trialTemplate"].update(
                {"trialSpec": None, "configMap": {"configMapName": "t", "templatePath": "p"}}
            )
            or spec["trialTemplate"].pop("trialSpec")
        ),
        "inline",
    ),
    "a Pod as trial": (
        lambda spec: spec["trialTemplate"]["trialSpec"].update({"apiVersion": "v1", "kind": "Pod"}),
        "inline",
    ),
    "an MPIJob of another version": (
        lambda spec: spec["trialTemplate"].update(
            {"trialSpec": {**JOBS["MPIJob"](), "apiVersion": "kubeflow.org/v1"}}
        ),
        "inline",
    ),
    "a value that breaks out of the JSON text": (
        lambda spec: spec["parameters"][1]["feasibleSpace"]["list"].append(
            'x", "hostNetwork": true, "y": "'
        ),
        "letters, digits",
    ),
    "a bare value that adds fields": (
        lambda spec: spec["parameters"][0]["feasibleSpace"].update({"max": '1, "a": 2'}),
        "letters, digits",
    ),
    "a NAS experiment": (lambda spec: spec.update({"nasConfig": {"graphConfig": {}}}), "NAS"),
    "a reference to the trial's annotations": (
        lambda spec: spec["trialTemplate"]["trialParameters"].append(
            {"name": "a", "reference": "${trialSpec.Annotations[x]}"}
        ),
        "trial parameter",
    ),
    "its own metrics collector": (
        lambda spec: spec.update(
            {
                "metricsCollectorSpec": {
                    "collector": {
                        "kind": "Custom",
                        "customCollector": {"name": "c", "image": "x", "securityContext": {}},
                    }
                }
            }
        ),
        "metrics collector",
    ),
}


@pytest.mark.parametrize("case", sorted(EXPERIMENT_REFUSALS))
def test_an_experiment_breaking_a_rule_is_refused(guard: Guard, case: str) -> None:
    change, word = EXPERIMENT_REFUSALS[case]
    decision = admit(guard, _experiment_change(change))
    assert not decision.allowed, case
    assert any(word in m for m in decision.messages), decision.messages


# --- every rule can refuse --------------------------------------------------------------------


def test_every_validation_is_the_one_that_refuses_some_case(guard: Guard) -> None:
    refusing: set[int] = set()
    for change, _ in REFUSALS.values():
        for kind in ("PyTorchJob", "Job"):
            obj = build(kind)
            change(obj)
            refusing.update(admit(guard, obj).failed)
    for change, _ in EXPERIMENT_REFUSALS.values():
        refusing.update(admit(guard, _experiment_change(change)).failed)
    obj = build("TFJob")
    job_of(obj)["spec"]["runPolicy"]["schedulingPolicy"]["queue"] = "nlp"
    refusing.update(admit(guard, obj).failed)
    refusing.update(admit(guard, build("Job"), username=account("mallory")).failed)
    assert refusing == set(range(len(guard.validations)))


# --- the job backend's own objects --------------------------------------------------------------


def _backend() -> Any:
    try:
        from mofang_lab.backends.kubernetes import manifests
        from mofang_lab.jobs.spec import JobSpec
    except ImportError as exc:  # pragma: no cover - the hand-built objects above still run
        pytest.skip(f"the job backend's builder is not importable here: {exc}")
    return manifests, JobSpec


ROLES = {
    "pytorch": {"Master": {}, "Worker": {"replicas": 2}},
    "tensorflow": {"Chief": {}, "PS": {}, "Worker": {"replicas": 2}},
    "mpi": {"Launcher": {}, "Worker": {"replicas": 2}},
    "python": {"Worker": {}},
}


@pytest.mark.parametrize("kind", sorted(ROLES))
@pytest.mark.parametrize(
    ("user", "groups", "options", "gpus"),
    [
        ("alice", ["vision"], {"template": "pytorch"}, 0),
        ("alice", ["vision"], {"template": "pytorch", "gpus": "1", "gpu_type": "a100"}, 1),
        ("bob", ["nlp"], {"template": "pytorch"}, 1),
        ("dave", [], {}, 0),
    ],
    ids=["vision-cpu", "vision-a100", "nlp-volcano-vgpu", "default-group"],
)
def test_the_job_backends_objects_are_allowed(
    guard: Guard, kind: str, user: str, groups: list[str], options: dict[str, str], gpus: int
) -> None:
    manifests, job_spec = _backend()
    from mofang_spawner.planning import choices_from_options

    config = load_config(VALUES)
    policy = MofangPolicy(config=config).policy()
    storage = MofangStorage(config=config).settings()
    plan = plan_server(user, groups, choices_from_options(options), policy).model_copy(
        update={"backend": "kubernetes"}
    )
    roles = {
        role: {**value, "resources": {"gpus": gpus}} if role in ("Worker", "Master") else value
        for role, value in ROLES[kind].items()
    }
    if user == "dave" and kind in ("pytorch", "tensorflow", "mpi"):
        roles = ROLES[kind]
    spec = job_spec(name="train", kind=kind, notebook="train.ipynb", roles=roles)
    try:
        job = manifests.job_manifest(
            spec=spec,
            name="train-1a2b3c",
            namespace=NAMESPACE,
            owner=user,
            plan=plan,
            settings=manifests.ClusterJobSettings(storage=storage),
        )
    except Exception as exc:  # the builder refused before the guard could (policy errors)
        pytest.skip(f"the job backend refuses this job itself: {exc}")
    params = {"apiVersion": "v1", "kind": "ConfigMap", "data": _data({user: groups})}
    for obj in (job, experiment(job)):
        decision = guard.admit(obj=obj, username=account(user), params=params)
        assert decision.allowed, (obj["kind"], decision.messages)
