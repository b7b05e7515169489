"""An in-repo Kubernetes API emulator for tests: real HTTP, real clients, no cluster.

No cluster can be started where Mofang's tests run, so the Kubernetes paths
are tested against this emulator. It speaks the API server's REST protocol
(paths, JSON, ``Status`` errors, watch streams, selectors, subresources) to
unmodified clients such as ``kubernetes_asyncio`` as KubeSpawner uses it,
schedules pods onto declared :class:`Node` objects and can run their commands
as local processes. :class:`KubeEmulator` is the entry point; README.md in
this folder lists what it does and does not emulate.

Modules, bottom up: ``apistatus`` (errors), ``resources``, ``crds``,
``selectors``, ``patching``, ``quantities``, ``validation``, ``defaults``,
``history``, ``deleting`` and ``store`` (the write path), ``events``,
``scheduler``, ``container_env``, ``processes``, ``podstatus``, ``startup``
and ``kubelet``, ``controllers``, ``faults``, ``recording``, ``watching``,
``logs``, ``discovery``, ``server``, ``emulator``; ``clients`` builds real
clients for it.
"""

from .apistatus import ApiError
from .clients import default_configuration, kubernetes_client, load_configuration
from .emulator import KubeEmulator
from .faults import Faults
from .kubelet import RUN_ANNOTATION
from .nodes import Node
from .recording import Request
from .resources import ResourceType
from .store import DEFAULT_GRACE_SECONDS, StoreEvent

__all__ = [
    "DEFAULT_GRACE_SECONDS",
    "RUN_ANNOTATION",
    "ApiError",
    "Faults",
    "KubeEmulator",
    "Node",
    "Request",
    "ResourceType",
    "StoreEvent",
    "default_configuration",
    "kubernetes_client",
    "load_configuration",
]
