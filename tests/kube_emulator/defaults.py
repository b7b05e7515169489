"""What the API server fills in when it stores an object (defaulting and admission).

A real cluster never stores an object exactly as sent: a pod gets a restart
policy, a DNS policy, a service account, image pull policies, requests
copied from limits, a QoS class and phase ``Pending``; a service gets a
cluster IP; a persistent volume claim gets a storage class and is bound by
the provisioner; a secret's ``stringData`` becomes base64 ``data``. Clients
that read back what they wrote see these fields, so the emulator fills the
common ones. ``apply_spec_defaults`` runs on every write (it is idempotent);
``initial_status`` only on create.

A claim whose ``storageClassName`` is ``"pending"`` is left unbound, so a
test can make a pod wait for its volume.
"""

from __future__ import annotations

import base64
import itertools
import threading
from typing import Any

from .crds import established_status
from .resources import ResourceType

__all__ = ["PENDING_STORAGE_CLASS", "apply_spec_defaults", "initial_status"]

#: Storage class whose claims the emulated provisioner never binds.
PENDING_STORAGE_CLASS = "pending"
_DEFAULT_STORAGE_CLASS = "standard"

_cluster_ips = itertools.count(1)
_cluster_ip_lock = threading.Lock()

#: Added by the DefaultTolerationSeconds admission plugin to every pod.
_DEFAULT_TOLERATIONS = [
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
]


def _pull_policy(image: str) -> str:
    name = image.rsplit("/", 1)[-1]
    if "@" in name:
        return "IfNotPresent"
    tag = name.split(":", 1)[1] if ":" in name else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_container(container: dict[str, Any]) -> None:
    container.setdefault("imagePullPolicy", _pull_policy(container.get("image", "")))
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    resources = container.setdefault("resources", {})
    limits = resources.get("limits") or {}
    if limits:
        # A limit without a request is a request of the same size.
        requests = resources.setdefault("requests", {})
        for name, amount in limits.items():
            requests.setdefault(name, amount)
    for port in container.get("ports") or []:
        port.setdefault("protocol", "TCP")


def _default_pod(pod: dict[str, Any]) -> None:
    spec = pod.setdefault("spec", {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    tolerations = spec.setdefault("tolerations", [])
    for toleration in _DEFAULT_TOLERATIONS:
        if not any(t.get("key") == toleration["key"] for t in tolerations):
            tolerations.append(dict(toleration))
    for container in spec.get("containers") or []:
        _default_container(container)
    for container in spec.get("initContainers") or []:
        _default_container(container)


def _qos_class(pod: dict[str, Any]) -> str:
    containers = (pod.get("spec") or {}).get("containers") or []
    resources = [c.get("resources") or {} for c in containers]
    if not any((r.get("requests") or r.get("limits")) for r in resources):
        return "BestEffort"
    for r in resources:
        limits, requests = r.get("limits") or {}, r.get("requests") or {}
        for name in ("cpu", "memory"):
            if name not in limits or requests.get(name, limits[name]) != limits[name]:
                return "Burstable"
    return "Guaranteed"


def _next_cluster_ip() -> str:
    with _cluster_ip_lock:
        n = next(_cluster_ips)
    return f"10.96.{(n // 254) % 256}.{n % 254 + 1}"


def _default_service(service: dict[str, Any]) -> None:
    spec = service.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        if "clusterIP" not in spec:
            spec["clusterIP"] = _next_cluster_ip()
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        if "port" in port:
            port.setdefault("targetPort", port["port"])


def _default_pvc(pvc: dict[str, Any]) -> None:
    spec = pvc.setdefault("spec", {})
    spec.setdefault("volumeMode", "Filesystem")
    spec.setdefault("storageClassName", _DEFAULT_STORAGE_CLASS)


def _default_secret(secret: dict[str, Any]) -> None:
    secret.setdefault("type", "Opaque")
    string_data = secret.pop("stringData", None) or {}
    if string_data:
        data = secret.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def _default_namespace(namespace: dict[str, Any]) -> None:
    namespace.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    labels = namespace.setdefault("metadata", {}).setdefault("labels", {})
    labels.setdefault("kubernetes.io/metadata.name", namespace["metadata"].get("name", ""))


_SPEC_DEFAULTS = {
    "Pod": _default_pod,
    "Service": _default_service,
    "PersistentVolumeClaim": _default_pvc,
    "Secret": _default_secret,
    "Namespace": _default_namespace,
}


def apply_spec_defaults(rtype: ResourceType, obj: dict[str, Any]) -> None:
    """Fill defaulted fields in place (on create and on every update)."""
    if rtype.group == "":
        default = _SPEC_DEFAULTS.get(rtype.kind)
        if default:
            default(obj)


def initial_status(rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any] | None:
    """The status a new object starts with, or None to keep what the client sent."""
    if rtype.group == "" and rtype.kind == "Pod":
        return {"phase": "Pending", "qosClass": _qos_class(obj)}
    if rtype.group == "" and rtype.kind == "Service":
        return {"loadBalancer": {}}
    if rtype.group == "" and rtype.kind == "Namespace":
        return {"phase": "Active"}
    if rtype.group == "" and rtype.kind == "PersistentVolumeClaim":
        spec = obj["spec"]
        if spec.get("storageClassName") == PENDING_STORAGE_CLASS:
            return {"phase": "Pending"}
        # Bound at once: a volume exactly the size asked for, as a dynamic
        # provisioner would create.
        spec.setdefault("volumeName", f"pvc-{obj['metadata']['uid']}")
        return {
            "phase": "Bound",
            "accessModes": list(spec.get("accessModes") or []),
            "capacity": dict((spec.get("resources") or {}).get("requests") or {}),
        }
    if rtype.group == "apiextensions.k8s.io" and rtype.kind == "CustomResourceDefinition":
        return established_status(obj)
    if rtype.status_subresource:
        # Custom resources with a status subresource start without one; only
        # the status endpoint writes it.
        return {}
    return None
