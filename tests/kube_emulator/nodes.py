"""The nodes of the emulated cluster, as tests declare them and as the API shows them.

A :class:`Node` is what a test cares about (name, labels, capacity, taints);
:func:`node_object` turns it into the ``v1`` Node the API serves, with the
labels and status a kubelet would report (``kubernetes.io/hostname``,
``Ready`` condition, ``allocatable`` equal to ``capacity``, addresses).
Every node is this machine: pods bound to any of them run as local
processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .timestamps import now

__all__ = ["DEFAULT_NODES", "Node", "node_object"]

_DEFAULT_CAPACITY = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}


@dataclass(frozen=True)
class Node:
    """A node: capacity defaults to 8 cpu, 32Gi memory, 110 pods for what is not given."""

    name: str
    labels: dict[str, str] = field(default_factory=dict)
    capacity: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, Any]] = field(default_factory=list)
    unschedulable: bool = False


#: The cluster a test gets when it names no nodes: one roomy node without taints.
DEFAULT_NODES = (Node(name="node-1", capacity={"cpu": "64", "memory": "256Gi"}),)


def node_object(node: Node, index: int) -> dict[str, Any]:
    """The ``v1`` Node for ``node``; ``index`` picks its (loopback) address."""
    capacity = {**_DEFAULT_CAPACITY, **node.capacity}
    labels = {
        "kubernetes.io/hostname": node.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        **node.labels,
    }
    stamp = now()
    spec: dict[str, Any] = {"podCIDR": f"10.244.{index}.0/24"}
    if node.taints:
        spec["taints"] = [dict(t) for t in node.taints]
    if node.unschedulable:
        spec["unschedulable"] = True
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.name, "labels": labels},
        "spec": spec,
        "status": {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": stamp,
                    "lastTransitionTime": stamp,
                }
            ],
            "addresses": [
                {"type": "InternalIP", "address": node_ip(index)},
                {"type": "Hostname", "address": node.name},
            ],
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": "v1.30.0",
                "containerRuntimeVersion": "emulated://1.0",
                "osImage": "Mofang Kubernetes emulator",
                "kernelVersion": "",
                "kubeProxyVersion": "v1.30.0",
                "bootID": "",
                "machineID": "",
                "systemUUID": "",
            },
        },
    }


def node_ip(index: int) -> str:
    """Nodes live on 127.1.0.0/16 so they never clash with pod IPs (127.0.x.y)."""
    return f"127.1.{index // 250}.{index % 250 + 1}"
