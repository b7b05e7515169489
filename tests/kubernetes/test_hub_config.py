"""hub-config/kubernetes: valid objects, a valid policy, storage for every claim a spawn mounts."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from mofang_lab.cli.plan import load_config
from mofang_spawner.config import MofangPolicy
from mofang_spawner.kubernetes.config import MofangStorage
from mofang_spawner.kubernetes.storage import claim_names
from mofang_spawner.planning import Choices, plan_server
from tests.kubernetes.schemas import validate
from tests.policies import ROOT

HUB_CONFIG = ROOT / "hub-config" / "kubernetes"
MANIFESTS = sorted(p for p in HUB_CONFIG.rglob("*.yaml") if p.name != "values.yaml")


def objects(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(HUB_CONFIG)))
def test_every_manifest_is_valid_kubernetes(path: Path) -> None:
    docs = objects(path)
    assert docs
    for doc in docs:
        validate(doc)


def test_the_values_policy_and_storage_are_valid_and_the_same_as_the_hub_configs() -> None:
    from_values = load_config(HUB_CONFIG / "values.yaml")
    from_hub = load_config(HUB_CONFIG / "jupyterhub_config.py")
    for config in (from_values, from_hub):
        policy = MofangPolicy(config=config).policy()
        assert {t.kind for t in policy.gpu_types} == {"whole", "mig", "hami", "volcano-vgpu"}
        assert all(g.quota is not None for g in policy.groups)
        MofangStorage(config=config).settings()
    assert from_hub.JupyterHub.spawner_class == "mofang"
    assert MofangPolicy(config=from_values).policy() == MofangPolicy(config=from_hub).policy()


def test_the_storage_manifests_provide_every_claim_a_spawn_mounts() -> None:
    config = load_config(HUB_CONFIG / "values.yaml")
    policy = MofangPolicy(config=config).policy()
    storage = MofangStorage(config=config).settings()
    provided = {
        doc["metadata"]["name"]
        for path in MANIFESTS
        for doc in objects(path)
        if doc["kind"] == "PersistentVolumeClaim"
    }
    for group in policy.groups:
        plan = plan_server("alice", [group.name], Choices(), policy)
        assert set(claim_names(plan=plan, storage=storage)) <= provided, group.name


def test_the_rbac_role_allows_every_call_the_spawner_makes() -> None:
    role = next(d for d in objects(HUB_CONFIG / "rbac.yaml") if d["kind"] == "Role")
    allowed = {(r, v) for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]}
    needed = {("pods", v) for v in ("get", "list", "watch", "create", "delete")}
    needed |= {("persistentvolumeclaims", v) for v in ("get", "create", "delete")}
    needed |= {("events", v) for v in ("list", "watch")}
    assert needed <= allowed


def test_the_spawner_entry_point_is_declared_and_resolves() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    target = project["entry-points"]["jupyterhub.spawners"]["mofang"]
    module, _, name = target.partition(":")
    spawner = getattr(importlib.import_module(module), name)
    assert spawner.__name__ == "MofangSpawner"
    assert spawner.__mro__[1].__name__ == "MofangSpawnerMixin"
