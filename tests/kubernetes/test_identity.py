"""Each user's identity on the cluster: names, the pure builders, and a spawn creating them.

The builders (``identity.py``, ``entitlements.py``) are checked against the
policy of ``hub-config/kubernetes/values.yaml`` and the Kubernetes schemas;
then a real hub spawns through the emulator and the service account, its
RoleBinding and the entitlements ConfigMap must be there, once, for each user.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from mofang_lab.cli.plan import load_config
from mofang_spawner.config import MofangPolicy
from mofang_spawner.errors import ConfigurationError
from mofang_spawner.kubernetes.cluster import Cluster
from mofang_spawner.kubernetes.config import MofangStorage
from mofang_spawner.kubernetes.entitlements import (
    entitlements_config_map,
    namespace_entitlements,
    toleration_entry,
    user_entitlements,
)
from mofang_spawner.kubernetes.identity import (
    role_binding_manifest,
    service_account_manifest,
    service_account_name,
)
from mofang_spawner.planning import Choices, member_groups, plan_server, safe_name
from tests.kubernetes.cluster import Cluster as Cluster_
from tests.kubernetes.cluster import EmulatedCluster, kube_hub
from tests.kubernetes.schemas import validate
from tests.kubernetes.test_cluster_calls import Reply, ScriptedApi, status
from tests.policies import ROOT

VALUES = ROOT / "hub-config" / "kubernetes" / "values.yaml"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


# --- names ------------------------------------------------------------------------------------


def test_a_plain_user_name_is_kept() -> None:
    assert service_account_name(user="alice") == "mofang-user-alice"


@pytest.mark.parametrize(
    "users",
    [
        ("alice", "Alice", "a.lice", "alice!", "ålice"),
        ("x" * 200, "x" * 201, "X" * 200, "y" + "x" * 199),
        ("Alice.Smith@Example.org", "alice.smith@example.org", "alice-smith-example-org"),
    ],
)
def test_names_are_dns_labels_and_never_collide(users: tuple[str, ...]) -> None:
    names = [service_account_name(user=u) for u in users]
    assert all(DNS_LABEL.match(n) for n in names), names
    assert len(set(names)) == len(names), names


def test_a_long_prefix_still_gives_a_dns_label() -> None:
    name = service_account_name(user="a" * 100, prefix="p" * 31)
    assert DNS_LABEL.match(name) and len(name) == 63


@pytest.mark.parametrize("prefix", ["", "Mofang-", "-x", "a" * 40, "a_b"])
def test_a_bad_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        service_account_name(user="alice", prefix=prefix)


# --- the builders -----------------------------------------------------------------------------


def test_the_account_and_its_binding_are_valid_objects() -> None:
    user = "Alice.Smith@Example.org"
    name = service_account_name(user=user)
    account = service_account_manifest(user=user, name=name, labels={"app": "jupyterhub"})
    binding = role_binding_manifest(user=user, service_account=name, namespace="mofang")
    for obj in (account, binding):
        validate(obj)
        assert obj["metadata"]["labels"]["mofang.io/user"] == safe_name(user)
        assert obj["metadata"]["annotations"]["mofang.io/user"] == user
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "mofang-jobs",
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": "mofang"}]


def entitlements_of(user: str, groups: list[str], **storage: Any) -> dict[str, str]:
    config = load_config(VALUES)
    config.MofangStorage.update(storage)
    policy = MofangPolicy(config=config).policy()
    settings = MofangStorage(config=config).settings()
    plan = plan_server(user, groups, Choices(), policy)
    entitlements = user_entitlements(
        plan=plan,
        groups=member_groups(groups, policy),
        gpu_types=policy.gpu_types,
        storage=settings,
        schedulers=["volcano"],
        node_selector={"mofang.io/pool": "cpu-jobs"},
        tolerations=[{"key": "hub.jupyter.org/dedicated", "operator": "Equal", "value": "user"}],
    )
    prefix = service_account_name(user=user) + "."
    return {k.removeprefix(prefix): v for k, v in entitlements.data(prefix[:-1]).items()}


def test_a_vision_users_entitlements_follow_the_policy() -> None:
    assert entitlements_of("alice", ["vision"]) == {
        "user": "alice",
        "groups": "vision",
        "claims": "mofang-users/alice,mofang-project-vision,mofang-global:ro",
        "queues": "vision",
        "priorityClasses": "mofang-team",
        # vision has a queue: its jobs go through Volcano (or the GPU type's scheduler).
        "schedulers": "volcano,hami-scheduler",
        "nodeSelectors": "mofang.io/pool=cpu-jobs,mofang.io/pool=vision,"
        "nvidia.com/gpu.product=NVIDIA-A100-SXM4-80GB,nvidia.com/mig.config=all-1g.10gb",
        "tolerations": "hub.jupyter.org/dedicated=user,mofang.io/pool=vision,nvidia.com/gpu",
    }


def test_a_member_of_two_groups_gets_both_and_shared_claims_by_directory() -> None:
    got = entitlements_of(
        "Carol Smith",
        ["vision", "nlp"],
        user_storage="claim-per-user",
        project_storage="shared-claim",
    )
    carol = safe_name("Carol Smith")
    assert got["user"] == carol
    assert got["groups"] == "vision,nlp"
    assert got["claims"] == (
        f"mofang-home-{carol},mofang-projects/vision,mofang-projects/nlp,mofang-global:ro"
    )
    assert got["queues"] == "vision,nlp"


def test_the_default_group_has_the_default_queue_and_scheduler() -> None:
    got = entitlements_of("dave", [])
    assert got["groups"] == "everyone"
    assert got["queues"] == "default"
    assert got["schedulers"] == "volcano,default-scheduler"
    assert got["priorityClasses"] == ""


def test_a_writable_global_claim_is_entitled_writable() -> None:
    config = load_config(VALUES)
    config.MofangPolicy.global_read_only = False
    policy = MofangPolicy(config=config).policy()
    plan = plan_server("alice", ["vision"], Choices(), policy)
    entitlements = user_entitlements(
        plan=plan,
        groups=member_groups(["vision"], policy),
        gpu_types=policy.gpu_types,
        storage=MofangStorage(config=config).settings(),
    )
    assert "mofang-global" in entitlements.claims


def test_a_value_with_a_comma_is_a_configuration_error() -> None:
    config = load_config(VALUES)
    policy = MofangPolicy(config=config).policy()
    plan = plan_server("alice", ["vision"], Choices(), policy)
    entitlements = user_entitlements(
        plan=plan,
        groups=member_groups(["vision"], policy),
        gpu_types=policy.gpu_types,
        storage=MofangStorage(config=config).settings(),
        node_selector={"zone": "a,b"},
    )
    with pytest.raises(ConfigurationError, match="comma"):
        entitlements.data("mofang-user-alice")


@pytest.mark.parametrize(
    ("toleration", "entry"),
    [
        ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}, "nvidia.com/gpu"),
        ({"key": "mofang.io/pool", "value": "vision"}, "mofang.io/pool=vision"),
        ({"key": "k", "operator": "Equal"}, "k="),
        ({"operator": "Exists"}, ""),
    ],
)
def test_toleration_entries(toleration: dict[str, Any], entry: str) -> None:
    assert toleration_entry(toleration) == entry


def test_the_config_map_is_a_valid_object_with_the_namespace_keys() -> None:
    data = namespace_entitlements(job_service_accounts=["default"], volcano_schedulers=["volcano"])
    config_map = entitlements_config_map(data=data, labels={"app": "jupyterhub"})
    validate(config_map)
    assert config_map["metadata"]["name"] == "mofang-entitlements"
    assert config_map["data"] == {"serviceAccounts": "default", "volcanoSchedulers": "volcano"}


# --- a spawn through the emulator ---------------------------------------------------------------


class Objects:
    """Reads (and creates) service accounts, RoleBindings and ConfigMaps over the real API.

    The same code reads the emulator and, with KUBECONFIG set, a real cluster.
    """

    def __init__(self, cluster: Cluster_) -> None:
        self.cluster = cluster

    def _call(self, work: Any) -> Any:
        async def run() -> Any:
            api_client = await config.new_client_from_config(
                config_file=str(self.cluster.kubeconfig)
            )
            async with api_client as api:
                return await work(client.CoreV1Api(api), client.RbacAuthorizationV1Api(api))

        return asyncio.run(run())

    def read(self, kind: str, name: str) -> dict[str, Any] | None:
        ns = self.cluster.namespace

        async def work(core: Any, rbac: Any) -> Any:
            method = {
                "ServiceAccount": core.read_namespaced_service_account,
                "ConfigMap": core.read_namespaced_config_map,
                "RoleBinding": rbac.read_namespaced_role_binding,
            }[kind]
            response = await method(name, ns, _preload_content=False)
            return json.loads(await response.read())

        try:
            found: dict[str, Any] = self._call(work)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found

    def create_service_account(self, obj: dict[str, Any]) -> None:
        ns = self.cluster.namespace

        async def work(core: Any, rbac: Any) -> Any:
            try:
                await core.create_namespaced_service_account(ns, obj, _preload_content=False)
            except ApiException as exc:
                if exc.status != 409:
                    raise

        self._call(work)


@pytest.mark.e2e
def test_a_spawn_creates_the_users_identity_once_and_keeps_the_others(
    cluster: Cluster_, tmp_path: Path
) -> None:
    objects = Objects(cluster)
    ns = cluster.namespace
    # bob's account exists already (a 409 for the spawner, which is fine).
    objects.create_service_account(service_account_manifest(user="bob", name="mofang-user-bob"))
    with kube_hub(cluster, tmp_path / "hub") as hub:
        for user in ("alice", "bob"):
            response, _ = hub.spawn(user, {})
            assert response.status_code in (201, 202), response.text
            hub.wait_ready(user)
        pod = cluster.find("pods", "jupyter-alice")
        assert pod is not None
        assert pod["spec"]["serviceAccountName"] == "mofang-user-alice"
        assert pod["spec"]["automountServiceAccountToken"] is True
        hub.stop_server("alice")
        # A second spawn finds everything in place.
        response, _ = hub.spawn("alice", {})
        assert response.status_code in (201, 202), response.text
        hub.wait_ready("alice")
        hub.stop_server("alice")
        hub.stop_server("bob")
    for user in ("alice", "bob"):
        assert objects.read("ServiceAccount", f"mofang-user-{user}") is not None
        binding = objects.read("RoleBinding", f"mofang-user-{user}")
        assert binding is not None
        assert binding["roleRef"]["name"] == "mofang-jobs"
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": f"mofang-user-{user}", "namespace": ns}
        ]
    config_map = objects.read("ConfigMap", "mofang-entitlements")
    assert config_map is not None
    data = config_map["data"]
    assert data["mofang-user-alice.user"] == "alice"
    assert data["mofang-user-bob.user"] == "bob"
    assert data["serviceAccounts"] == "default"
    if not cluster.real:  # a real test cluster's groups have their own queues
        assert data["mofang-user-alice.queues"] == "vision"
        assert data["mofang-user-bob.queues"] == "nlp"


@pytest.mark.e2e
def test_the_identity_requests_come_before_the_pod_and_survive_a_transient_failure(
    emulator: EmulatedCluster, tmp_path: Path
) -> None:
    kube = emulator.kube
    ns = emulator.namespace
    kube.faults.fail(
        method="POST", path=rf"/api/v1/namespaces/{ns}/serviceaccounts", status=500, times=1
    )
    with kube_hub(emulator, tmp_path / "hub") as hub:
        kube.clear_requests()
        response, _ = hub.spawn("alice", {})
        assert response.status_code in (201, 202), response.text
        hub.wait_ready("alice")
        writes = [
            (r.method, r.path.rsplit("/", 1)[-1] if r.method == "PATCH" else r.path, r.status)
            for r in kube.requests
            if r.method != "GET"
        ]
        hub.stop_server("alice")
    base = f"/api/v1/namespaces/{ns}"
    assert writes[:6] == [
        # Entitlements first: a patch of the ConfigMap, which does not exist yet.
        ("PATCH", "mofang-entitlements", 404),
        ("POST", f"{base}/configmaps", 201),
        ("POST", f"{base}/serviceaccounts", 500),
        ("POST", f"{base}/serviceaccounts", 201),
        ("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings", 201),
        ("POST", f"{base}/pods", 201),
    ]


# --- the calls, scripted --------------------------------------------------------------------


def test_entitlements_created_meanwhile_by_another_spawn_are_patched() -> None:
    api = ScriptedApi(
        status(404, 'configmaps "mofang-entitlements" not found'),
        status(409, 'configmaps "mofang-entitlements" already exists'),
        Reply(200, {"kind": "ConfigMap"}),
    )
    cluster = Cluster(api, "ns", request_timeout=0.2, retry_timeout=1)
    config_map = entitlements_config_map(data={"a.user": "a"}, labels={})
    asyncio.run(cluster.record_entitlements(config_map))
    assert [name for name, _, _ in api.calls] == [
        "patch_namespaced_config_map",
        "create_namespaced_config_map",
        "patch_namespaced_config_map",
    ]
    _, args, kwargs = api.calls[-1]
    assert args == ("mofang-entitlements", "ns", {"data": {"a.user": "a"}})
    assert kwargs["_content_type"] == "application/merge-patch+json"


def test_an_existing_account_and_binding_are_kept() -> None:
    api = ScriptedApi(status(409, "exists"))
    rbac = ScriptedApi(status(409, "exists"))
    cluster = Cluster(api, "ns", request_timeout=0.2, retry_timeout=1, rbac_api=rbac)
    account = service_account_manifest(user="alice", name="mofang-user-alice")
    binding = role_binding_manifest(
        user="alice", service_account="mofang-user-alice", namespace="ns"
    )
    assert asyncio.run(cluster.create_service_account(account)) is False
    assert asyncio.run(cluster.create_role_binding(binding)) is False
    assert rbac.calls[0][0] == "create_namespaced_role_binding"
