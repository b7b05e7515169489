"""Policies the tests plan against: the demo catalog, and a cluster-like one."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from mofang_spawner.planning import Policy

ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = ROOT / "hub-config" / "demo" / "jupyterhub_config.py"


def demo_catalog() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "mofang_demo_catalog", ROOT / "hub-config" / "demo" / "catalog.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def demo_policy(**overrides: Any) -> Policy:
    catalog = demo_catalog()
    raw: dict[str, Any] = {
        "templates": catalog.TEMPLATES,
        "groups": [{"name": n, **g} for n, g in catalog.GROUPS.items()],
        "gpu_types": catalog.GPU_TYPES,
        "default_group": catalog.DEFAULT_GROUP,
    }
    raw.update(overrides)
    return Policy.model_validate(raw)


CLUSTER_GPU_TYPES = [
    {
        "name": "a100",
        "display_name": "NVIDIA A100 80GB",
        "kind": "whole",
        "node_selector": {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    },
    {
        "name": "a100-1g",
        "display_name": "A100 MIG 1g.10gb",
        "kind": "mig",
        "mig_profile": "1g.10gb",
        "node_selector": {"nvidia.com/mig.config": "all-1g.10gb"},
    },
    {
        "name": "hami-8g",
        "display_name": "Virtual GPU 8 GiB",
        "kind": "hami",
        "memory_mib": 8192,
        "cores_percent": 30,
        "scheduler_name": "hami-scheduler",
    },
    {
        "name": "vc-4g",
        "display_name": "Volcano vGPU 4 GiB",
        "kind": "volcano-vgpu",
        "memory_mib": 4096,
    },
]


def cluster_policy(**overrides: Any) -> Policy:
    catalog = demo_catalog()
    raw: dict[str, Any] = {
        "templates": catalog.TEMPLATES,
        "gpu_types": CLUSTER_GPU_TYPES,
        "groups": [
            {
                "name": "vision",
                "display_name": "Vision team",
                "limits": {"cpu": 6, "memory_gib": 24, "gpus": 2, "disk_gib": 100},
                "gpu_types": ["a100", "a100-1g", "hami-8g", "vc-4g"],
                "node_selector": {"mofang.io/pool": "vision"},
                "tolerations": [{"key": "pool", "value": "vision", "effect": "NoSchedule"}],
                "priority_class_name": "team-normal",
                "queue": "vision",
            },
            {
                "name": "nlp",
                "limits": {"cpu": 4, "memory_gib": 16, "disk_gib": 50},
                "templates": ["python", "pytorch"],
                "scheduler_name": "volcano",
                "queue": "nlp",
            },
        ],
    }
    raw.update(overrides)
    return Policy.model_validate(raw)
