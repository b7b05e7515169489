"""A Kubernetes job backend on the emulator, with fake operators, for the job backend tests.

``backend_on(kube, root, plan)`` gives a started :class:`KubernetesBackend`
whose workspace root is ``root`` on this machine: the pods' mounts point at
``root`` (``home_mount_path``), so the job folder the backend writes is the
working directory the fake kubelet runs the replicas in, and they really run.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from mofang_lab.backends.base import JobRecord
from mofang_lab.backends.kubernetes import KubernetesBackend
from mofang_lab.jobs.request import SubmitRequest
from mofang_lab.jobs.submission import prepare_submission
from mofang_spawner.planning import PLAN_ENV, Choices, ServerPlan, plan_server
from tests.kube_emulator import KubeEmulator, Node
from tests.kubernetes.cluster import claim
from tests.policies import cluster_policy

NAMESPACE = "default"

#: Room for CPU jobs of the vision group, but no GPU anywhere.
NODES = [
    Node(
        name="vision-cpu-1",
        labels={"mofang.io/pool": "vision"},
        capacity={"cpu": "64", "memory": "256Gi"},
        taints=[{"key": "pool", "value": "vision", "effect": "NoSchedule"}],
    ),
    Node(name="cpu-1", labels={"mofang.io/pool": "cpu"}, capacity={"cpu": "64", "memory": "256Gi"}),
]


def with_claims(kube: KubeEmulator) -> KubeEmulator:
    """The claims the vision group's jobs mount, and its Volcano queue."""
    for name in ("mofang-users", "mofang-project-vision", "mofang-global"):
        kube.create(claim(name), namespace=NAMESPACE)
    kube.create(
        {
            "apiVersion": "scheduling.volcano.sh/v1beta1",
            "kind": "Queue",
            "metadata": {"name": "vision"},
            "spec": {"weight": 1, "capability": {"cpu": "64", "nvidia.com/gpu": "8"}},
        }
    )
    return kube


def vision_plan(user: str = "ann") -> ServerPlan:
    return plan_server(user, ["vision"], Choices(), cluster_policy())


@contextlib.asynccontextmanager
async def backend_on(
    kube: KubeEmulator,
    root: Path,
    plan: ServerPlan | None,
    monkeypatch: pytest.MonkeyPatch,
    **traits: Any,
) -> AsyncIterator[KubernetesBackend]:
    if plan is not None:
        monkeypatch.setenv(PLAN_ENV, plan.to_json())
    else:
        monkeypatch.delenv(PLAN_ENV, raising=False)
    kubeconfig = kube.write_kubeconfig(root.parent / f"{root.name}-kubeconfig")
    settings: dict[str, Any] = {
        "root_dir": str(root),
        "kubeconfig": str(kubeconfig),
        "namespace": NAMESPACE,
        "storage": {"home_mount_path": str(root)},
        "python": sys.executable,
        "request_timeout": 5.0,
        "retry_timeout": 5.0,
        "wait_check_interval": 0.0,
        **traits,
    }
    backend = KubernetesBackend(**settings)
    await backend.start()
    try:
        yield backend
    finally:
        await backend.stop()


def prepare(root: Path, notebook: str, backend: KubernetesBackend, **request: Any) -> Any:
    body = {"notebook": notebook, "kind": "python", **request}
    return prepare_submission(
        SubmitRequest.model_validate(body),
        root_dir=root,
        plan=backend._plan,
        backend="kubernetes",
    )


async def wait_until(
    backend: KubernetesBackend,
    owner: str,
    job_id: str,
    done: Callable[[JobRecord], bool],
    timeout: float = 60,
) -> JobRecord:
    deadline = time.monotonic() + timeout
    while True:
        record = await backend.get(owner, job_id)
        if done(record):
            return record
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} is still {record.state}: {record}")
        await asyncio.sleep(0.05)


async def read_all(iterator: AsyncIterator[str]) -> str:
    return "".join([chunk async for chunk in iterator])
