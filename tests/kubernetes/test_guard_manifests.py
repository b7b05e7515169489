"""hub-config/kubernetes/jobs: valid objects, the least rights, and a guard that fits the spawner.

These need no CEL evaluator (test_guard.py evaluates the rules themselves):
the RBAC and the policy are checked against the Kubernetes schemas of the
oldest release with ValidatingAdmissionPolicy v1 and of the pinned one, the
Role against the exact list of rights the job backend needs, and the
policy's names against the spawner's defaults.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from mofang_spawner.kubernetes.entitlements import ENTITLEMENTS_CONFIG_MAP
from mofang_spawner.kubernetes.identity import DEFAULT_SERVICE_ACCOUNT_PREFIX, JOBS_ROLE
from tests.kubernetes.schemas import KUBERNETES_VERSION
from tests.policies import ROOT

JOBS = ROOT / "hub-config" / "kubernetes" / "jobs"
HUB_RBAC = ROOT / "hub-config" / "kubernetes" / "rbac.yaml"
#: ValidatingAdmissionPolicy is admissionregistration.k8s.io/v1 from 1.30 on.
OLDEST = "1.30.0"


def objects(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def find(kind: str, name: str) -> dict[str, Any]:
    for path in sorted(JOBS.glob("*.yaml")):
        for doc in objects(path):
            if doc["kind"] == kind and doc["metadata"]["name"] == name:
                return doc
    raise AssertionError(f"no {kind} {name} in {JOBS}")


def rights(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


@pytest.mark.parametrize("version", [OLDEST, KUBERNETES_VERSION])
@pytest.mark.parametrize("path", sorted(JOBS.glob("*.yaml")), ids=lambda p: p.name)
def test_the_manifests_are_valid_kubernetes(path: Path, version: str) -> None:
    for doc in objects(path):
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_guard_needs_kubernetes_1_30() -> None:
    policy = find("ValidatingAdmissionPolicy", "mofang-jobs-guard")
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(policy, "1.29.0", strict=True)


def test_the_jobs_role_grants_exactly_what_the_job_backend_needs() -> None:
    role = find("Role", JOBS_ROLE)
    crud = ("create", "get", "list", "watch", "delete")
    expected = {("kubeflow.org", r, v) for r in ("pytorchjobs", "tfjobs", "mpijobs") for v in crud}
    expected |= {("batch", "jobs", v) for v in crud}
    expected |= {("kubeflow.org", "experiments", v) for v in crud}
    expected |= {("kubeflow.org", "trials", v) for v in ("get", "list", "watch")}
    expected |= {("", r, v) for r in ("pods", "pods/log") for v in ("get", "list", "watch")}
    expected |= {("", "events", "list")}
    expected |= {("scheduling.volcano.sh", "podgroups", v) for v in ("get", "list", "watch")}
    assert rights(role["rules"]) == expected
    assert not any("resourceNames" in rule for rule in role["rules"])


def test_queues_are_readable_cluster_wide_and_nothing_else() -> None:
    role = find("ClusterRole", "mofang-volcano-queues")
    assert rights(role["rules"]) == {
        ("scheduling.volcano.sh", "queues", "get"),
        ("scheduling.volcano.sh", "queues", "list"),
    }
    binding = find("ClusterRoleBinding", "mofang-volcano-queues-mofang")
    assert binding["roleRef"]["name"] == "mofang-volcano-queues"
    assert binding["subjects"] == [
        {
            "kind": "Group",
            "apiGroup": "rbac.authorization.k8s.io",
            "name": "system:serviceaccounts:mofang",
        }
    ]


@pytest.mark.parametrize(
    "role",
    [
        next(d for d in objects(HUB_RBAC) if d["kind"] == "Role"),
        find("Role", "mofang-hub-identity"),
    ],
    ids=["hub-role", "hub-identity-role"],
)
def test_the_hubs_roles_allow_the_identity_calls_of_a_spawn(role: dict[str, Any]) -> None:
    granted = {
        (group, resource, verb, name)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
        for name in rule.get("resourceNames", ["*"])
    }
    needed = {
        ("", "serviceaccounts", "create", "*"),
        ("rbac.authorization.k8s.io", "rolebindings", "create", "*"),
        # Granting a Role one does not hold takes "bind" on it.
        ("rbac.authorization.k8s.io", "roles", "bind", JOBS_ROLE),
        ("", "configmaps", "create", "*"),
        ("", "configmaps", "patch", ENTITLEMENTS_CONFIG_MAP),
    }
    assert needed <= granted
    # Not more than that on these kinds: no escalate, no roles of its own making.
    assert not {g for g in granted if g[1] in ("roles", "clusterroles") and g[2] != "bind"}


# --- the guard's shape ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def policy() -> dict[str, Any]:
    return find("ValidatingAdmissionPolicy", "mofang-jobs-guard")


def test_the_guard_watches_every_kind_the_role_lets_users_create(policy: dict[str, Any]) -> None:
    created = {
        (g, r)
        for g, r, v in rights(find("Role", JOBS_ROLE)["rules"])
        if v in ("create", "update", "patch", "delete")
    }
    guarded = {
        (group, resource)
        for rule in policy["spec"]["matchConstraints"]["resourceRules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        if {"CREATE", "DELETE"} <= set(rule["operations"])
    }
    assert created <= guarded
    assert policy["spec"]["failurePolicy"] == "Fail"


def test_the_guard_names_the_spawners_prefix_and_config_map(policy: dict[str, Any]) -> None:
    conditions = " ".join(c["expression"] for c in policy["spec"]["matchConditions"])
    assert f"'{DEFAULT_SERVICE_ACCOUNT_PREFIX}'" in conditions
    binding = find("ValidatingAdmissionPolicyBinding", "mofang-jobs-guard")
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["paramRef"] == {
        "name": ENTITLEMENTS_CONFIG_MAP,
        "parameterNotFoundAction": "Deny",
    }
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert policy["spec"]["paramKind"] == {"apiVersion": "v1", "kind": "ConfigMap"}


def test_every_rule_says_what_is_allowed(policy: dict[str, Any]) -> None:
    for validation in policy["spec"]["validations"]:
        assert validation.get("message"), validation["expression"]
        assert validation.get("reason") == "Forbidden"


#: Standard CEL plus the two Kubernetes string functions test_guard.py gives cel-python.
CEL_CALLS = {
    "has",
    "size",
    "all",
    "exists",
    "filter",
    "map",
    "startsWith",
    "contains",
    "matches",
    "split",
    "join",
}


def test_the_guard_uses_only_functions_both_cel_implementations_have(
    policy: dict[str, Any],
) -> None:
    spec = policy["spec"]
    texts = [c["expression"] for c in spec["matchConditions"]]
    texts += [v["expression"] for v in spec["variables"]]
    for validation in spec["validations"]:
        texts += [validation["expression"], validation.get("messageExpression", "")]
    called: set[str] = set()
    for text in texts:
        without_strings = re.sub(r"'[^']*'|\"[^\"]*\"", "''", text)
        called |= set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", without_strings))
    assert called <= CEL_CALLS, called - CEL_CALLS
