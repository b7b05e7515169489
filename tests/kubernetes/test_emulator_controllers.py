"""Controller hooks: a fake operator for a custom resource, built on ``kube.on``."""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any

import pytest
from kubernetes_asyncio.client import CustomObjectsApi

from tests.kube_emulator import KubeEmulator
from tests.kube_emulator.clients import kubernetes_client

JOB = ("kubeflow.org", "v1", "default", "pytorchjobs")


def fake_training_operator(kube: KubeEmulator, event_type: str, obj: dict[str, Any]) -> None:
    """What the Training Operator does, in miniature: a pod per job, conditions from the pod."""
    metadata = obj["metadata"]
    if obj["kind"] == "PyTorchJob" and event_type == "ADDED":
        kube.patch_status(
            "pytorchjobs",
            metadata["namespace"],
            metadata["name"],
            {"conditions": [{"type": "Created", "status": "True", "reason": "PyTorchJobCreated"}]},
        )
        owner = {
            "apiVersion": "kubeflow.org/v1",
            "kind": "PyTorchJob",
            "name": metadata["name"],
            "uid": metadata["uid"],
            "controller": True,
        }
        kube.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{metadata['name']}-master-0",
                    "namespace": metadata["namespace"],
                    "labels": {"training.kubeflow.org/job-name": metadata["name"]},
                    "ownerReferences": [owner],
                },
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "pytorch",
                            "image": "python:3.11",
                            "command": [sys.executable, "-c", "print('trained')"],
                        }
                    ],
                },
            }
        )
    elif obj["kind"] == "Pod" and event_type == "MODIFIED":
        job = (metadata.get("labels") or {}).get("training.kubeflow.org/job-name")
        if job and obj["status"].get("phase") == "Succeeded":
            current = kube.get("pytorchjobs", metadata["namespace"], job)
            conditions = current["status"]["conditions"]
            if not any(c["type"] == "Succeeded" for c in conditions):
                kube.patch_status(
                    "pytorchjobs",
                    metadata["namespace"],
                    job,
                    {
                        "conditions": [
                            *conditions,
                            {
                                "type": "Succeeded",
                                "status": "True",
                                "reason": "PyTorchJobSucceeded",
                            },
                        ]
                    },
                )


def test_a_fake_operator_drives_a_custom_resource() -> None:
    seen: list[tuple[str, str, str]] = []
    threads: set[str] = set()

    def record(kube: KubeEmulator, event_type: str, obj: dict[str, Any]) -> None:
        seen.append((event_type, obj["kind"], obj["metadata"]["name"]))
        threads.add(threading.current_thread().name)

    with KubeEmulator(run_pods=True) as kube:
        kube.register_crd(
            group="kubeflow.org", version="v1", plural="pytorchjobs", kind="PyTorchJob"
        )
        for kind in ("PyTorchJob", "Pod"):
            kube.on(kind=kind, handler=fake_training_operator)
        kube.on(kind="PyTorchJob", handler=record)

        async def submit() -> None:
            async with kubernetes_client(kube) as api:
                await CustomObjectsApi(api).create_namespaced_custom_object(
                    *JOB,
                    {
                        "apiVersion": "kubeflow.org/v1",
                        "kind": "PyTorchJob",
                        "metadata": {"name": "mnist"},
                        "spec": {"pytorchReplicaSpecs": {}},
                    },
                )

        asyncio.run(submit())

        def succeeded() -> bool:
            job = kube.get("pytorchjobs", "default", "mnist")
            return any(
                c["type"] == "Succeeded" for c in job.get("status", {}).get("conditions", [])
            )

        kube.wait_for(succeeded)
        assert kube.get("pods", "default", "mnist-master-0")["status"]["phase"] == "Succeeded"
        kube.delete("pytorchjobs", "default", "mnist")
        # The pod goes with its owner, as the garbage collector does.
        kube.wait_for(lambda: kube.find("pods", "default", "mnist-master-0") is None)
        kube.wait_idle()
    assert seen[0] == ("ADDED", "PyTorchJob", "mnist")
    assert seen[-1] == ("DELETED", "PyTorchJob", "mnist")
    assert {t for t, _, _ in seen[1:-1]} == {"MODIFIED"}
    assert threads == {"kube-emulator-controllers"}


def test_registering_a_hook_replays_existing_objects() -> None:
    with KubeEmulator(kubelet=False) as kube:
        kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "early"}})
        seen: list[tuple[str, str]] = []
        kube.on(kind="ConfigMap", handler=lambda k, t, o: seen.append((t, o["metadata"]["name"])))
        kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late"}})
        kube.wait_idle()
    assert seen == [("ADDED", "early"), ("ADDED", "late")]


def test_a_failing_hook_fails_the_test_when_the_emulator_closes() -> None:
    def broken(kube: KubeEmulator, event_type: str, obj: dict[str, Any]) -> None:
        raise ValueError("the fake operator has a bug")

    kube = KubeEmulator(kubelet=False)
    kube.start()
    kube.on(kind="ConfigMap", handler=broken)
    kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    kube.wait_idle()
    with pytest.raises(RuntimeError, match="the fake operator has a bug"):
        kube.close()
    assert isinstance(kube.errors[0], ValueError)
