"""Golden Pods and claims: plan → the exact objects a spawn creates, for every GPU kind,
storage mode and placement, each valid against the Kubernetes schemas.

The objects are rendered by ``MofangSpawner`` itself (through ``preview_spawn``,
the engine of ``mofang plan``) from ``hub-config/kubernetes``, so KubeSpawner's
own part of the Pod is in the goldens too: an upgrade of KubeSpawner that
changes the Pod fails here. ``MOFANG_UPDATE_GOLDEN=1 pytest tests/kubernetes``
rewrites the files in ``golden/`` after a deliberate change; review the diff.
"""

from __future__ import annotations

import asyncio
import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from traitlets.config import Config

from mofang_lab.cli.plan import load_config
from mofang_spawner.kubernetes.preview import Preview, preview_spawn
from tests.kubernetes.schemas import KUBERNETES_VERSION, validate
from tests.policies import ROOT

GOLDEN = Path(__file__).with_name("golden")
CLUSTER_CONFIG = ROOT / "hub-config" / "kubernetes" / "jupyterhub_config.py"
#: Values that change with the installed versions, not with Mofang.
VOLATILE_ANNOTATIONS = ("hub.jupyter.org/kubespawner-version", "hub.jupyter.org/jupyterhub-version")

# name -> (extra config, user, groups, options)
CASES: dict[str, tuple[dict[str, dict[str, Any]], str, list[str], dict[str, str]]] = {
    "cpu-shared-claims": ({}, "alice", ["vision"], {"template": "python"}),
    "gpu-whole": (
        {},
        "alice",
        ["vision"],
        {"template": "pytorch", "gpus": "2", "gpu_type": "a100"},
    ),
    "gpu-mig": (
        {},
        "alice",
        ["vision"],
        {"template": "pytorch", "gpus": "1", "gpu_type": "a100-1g"},
    ),
    "gpu-hami": (
        {},
        "alice",
        ["vision"],
        {"template": "tensorflow", "gpus": "1", "gpu_type": "vgpu-8g"},
    ),
    "gpu-volcano-queue": ({}, "bob", ["nlp"], {"template": "pytorch", "gpus": "1"}),
    "claim-per-user-shared-projects-writable-global": (
        {
            "MofangStorage": {
                "user_storage": "claim-per-user",
                "user_storage_class": "cephfs",
                "user_storage_capacity": "50Gi",
                "project_storage": "shared-claim",
            },
            "MofangPolicy": {"global_read_only": False},
        },
        "carol",
        ["vision", "nlp"],
        {"group": "nlp", "template": "python", "cpu": "3"},
    ),
    "default-group-corrected": ({}, "dave", [], {"cpu": "64"}),
    "escaped-user-name": ({}, "Alice.Smith@Example.org", ["vision"], {}),
}


def render(case: str) -> Preview:
    extra, user, groups, options = CASES[case]
    config = copy.deepcopy(load_config(CLUSTER_CONFIG))
    config.merge(Config(extra))
    return asyncio.run(preview_spawn(config=config, user=user, groups=groups, options=options))


def stable(preview: Preview) -> dict[str, Any]:
    pod = copy.deepcopy(preview.pod)
    for key in VOLATILE_ANNOTATIONS:
        pod["metadata"]["annotations"][key] = "<version>"
    return {
        "plan": preview.plan.summary(),
        "pod": pod,
        "new_claims": preview.new_claims,
        "mounted_claims": preview.mounted_claims,
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_objects_match_the_golden_file(case: str) -> None:
    preview = render(case)
    got = stable(preview)
    path = GOLDEN / f"{case}.yaml"
    if os.environ.get("MOFANG_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(got, sort_keys=False, width=100))
    assert path.is_file(), f"no golden file {path}; run with MOFANG_UPDATE_GOLDEN=1"
    assert got == yaml.safe_load(path.read_text())


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_rendered_object_is_valid_kubernetes(case: str) -> None:
    preview = render(case)
    for obj in [preview.pod, *preview.new_claims]:
        validate(obj)
    assert KUBERNETES_VERSION.startswith("1.")


def test_goldens_show_each_kinds_resources_and_scheduler() -> None:
    def limits(case: str) -> dict[str, Any]:
        pod = yaml.safe_load((GOLDEN / f"{case}.yaml").read_text())["pod"]
        return dict(pod["spec"]["containers"][0]["resources"]["limits"])

    assert limits("gpu-whole")["nvidia.com/gpu"] == "2"
    assert limits("gpu-mig")["nvidia.com/mig-1g.10gb"] == "1"
    assert {k: limits("gpu-hami")[k] for k in ("nvidia.com/gpu", "nvidia.com/gpumem")} == {
        "nvidia.com/gpu": "1",
        "nvidia.com/gpumem": "8192",
    }
    volcano = yaml.safe_load((GOLDEN / "gpu-volcano-queue.yaml").read_text())["pod"]
    assert volcano["spec"]["schedulerName"] == "volcano"
    assert volcano["metadata"]["annotations"]["scheduling.volcano.sh/queue-name"] == "nlp"
    assert limits("gpu-volcano-queue")["volcano.sh/vgpu-memory"] == "4096"


def test_a_user_whose_name_differs_only_by_case_gets_another_pod() -> None:
    names = {
        preview.pod["metadata"]["name"]
        for preview in (
            asyncio.run(
                preview_spawn(
                    config=load_config(CLUSTER_CONFIG), user=user, groups=["vision"], options={}
                )
            )
            for user in ("alice", "Alice", "a.lice", "alice!")
        )
    }
    assert len(names) == 4
