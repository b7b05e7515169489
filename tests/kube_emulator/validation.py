"""The API server's validation, for the mistakes a client is likely to make.

Not the whole of Kubernetes validation: the rules that catch real bugs in
code that builds objects (a name that is not DNS-1123, a label value with a
space, a pod without containers or with a volume mount of an undeclared
volume, a bad quantity, a change to an immutable pod field). Each rule
answers with the API server's field path and wording, so a test of the
error message a user sees reads as it would against a cluster.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .quantities import parse_quantity
from .resources import ResourceType

__all__ = ["validate_create", "validate_update"]

Causes = list[tuple[str, str]]

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")

_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    "regex used for validation is "
    r"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_DNS1035_MESSAGE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
    "an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
_LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)

_KEY_MESSAGE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character"
)
_QUANTITY_MESSAGE = (
    "must match the regex (\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[num"
    "kMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$"
)
_ENV_MESSAGE = (
    "a valid environment variable name must consist of alphabetic characters, digits,"
    " '_', '-', or '.', and must not start with a digit"
)
_CONFIG_KEY_MESSAGE = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
_POD_UPDATE_MESSAGE = (
    "Forbidden: pod updates may not change fields other than `spec.containers[*].imag"
    "e`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations"
    "` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)"
)
_PVC_UPDATE_MESSAGE = (
    "Forbidden: spec is immutable after creation except resources.requests and "
    "volumeAttributesClassName for bound claims"
)


def _invalid(value: Any, why: str) -> str:
    return f'Invalid value: "{value}": {why}'


def _check_name(rtype: ResourceType, name: str) -> Causes:
    if rtype.kind in ("Service",):
        pattern, message, limit = _DNS1035, _DNS1035_MESSAGE, 63
    elif rtype.kind in ("Namespace",):
        pattern, message, limit = _LABEL, _LABEL_MESSAGE, 63
    else:
        pattern, message, limit = _SUBDOMAIN, _SUBDOMAIN_MESSAGE, 253
    if len(name) > limit:
        return [("metadata.name", _invalid(name, f"must be no more than {limit} characters"))]
    if not pattern.match(name):
        return [("metadata.name", _invalid(name, message))]
    return []


def _check_labels(labels: Any) -> Causes:
    causes: Causes = []
    if not isinstance(labels, Mapping):
        return [("metadata.labels", _invalid(labels, "must be a map of strings"))]
    for key, value in labels.items():
        prefix, _, name = str(key).rpartition("/")
        if (
            (prefix and not _SUBDOMAIN.match(prefix))
            or len(name) > 63
            or not _QUALIFIED_NAME.match(name)
        ):
            causes.append(
                (
                    "metadata.labels",
                    _invalid(
                        key,
                        _KEY_MESSAGE,
                    ),
                )
            )
        if not isinstance(value, str):
            causes.append(("metadata.labels", _invalid(value, "label values must be strings")))
        elif len(value) > 63:
            causes.append(
                ("metadata.labels", _invalid(value, "must be no more than 63 characters"))
            )
        elif not _LABEL_VALUE.match(value):
            causes.append(("metadata.labels", _invalid(value, _LABEL_VALUE_MESSAGE)))
    return causes


def _check_metadata(rtype: ResourceType, obj: Mapping[str, Any]) -> Causes:
    metadata = obj.get("metadata") or {}
    causes = _check_name(rtype, metadata.get("name", ""))
    if "labels" in metadata and metadata["labels"] is not None:
        causes += _check_labels(metadata["labels"])
    annotations = metadata.get("annotations") or {}
    for key, value in annotations.items():
        if not isinstance(value, str):
            causes.append(
                ("metadata.annotations", _invalid(key, "annotation values must be strings"))
            )
    return causes


def _check_resources(path: str, resources: Mapping[str, Any]) -> Causes:
    causes: Causes = []
    for section in ("limits", "requests"):
        for name, amount in (resources.get(section) or {}).items():
            try:
                parse_quantity(amount)
            except ValueError:
                causes.append(
                    (
                        f"{path}.resources.{section}[{name}]",
                        _invalid(
                            amount,
                            _QUANTITY_MESSAGE,
                        ),
                    )
                )
    return causes


def _check_containers(field: str, containers: Any, volumes: set[str], required: bool) -> Causes:
    if not containers:
        return [(field, "Required value")] if required else []
    causes: Causes = []
    seen: set[str] = set()
    for index, container in enumerate(containers):
        path = f"{field}[{index}]"
        name = container.get("name") or ""
        if not name:
            causes.append((f"{path}.name", "Required value"))
        elif not _LABEL.match(name) or len(name) > 63:
            causes.append((f"{path}.name", _invalid(name, _LABEL_MESSAGE)))
        elif name in seen:
            causes.append((f"{path}.name", f'Duplicate value: "{name}"'))
        seen.add(name)
        if not container.get("image"):
            causes.append((f"{path}.image", "Required value"))
        causes += _check_resources(path, container.get("resources") or {})
        for env_index, env in enumerate(container.get("env") or []):
            env_name = env.get("name") or ""
            if not _ENV_NAME.match(env_name):
                causes.append(
                    (
                        f"{path}.env[{env_index}].name",
                        _invalid(
                            env_name,
                            _ENV_MESSAGE,
                        ),
                    )
                )
        for mount_index, mount in enumerate(container.get("volumeMounts") or []):
            if mount.get("name") not in volumes:
                causes.append(
                    (
                        f"{path}.volumeMounts[{mount_index}].name",
                        f'Not found: "{mount.get("name")}"',
                    )
                )
            if not mount.get("mountPath"):
                causes.append((f"{path}.volumeMounts[{mount_index}].mountPath", "Required value"))
    return causes


def _check_pod(pod: Mapping[str, Any]) -> Causes:
    spec = pod.get("spec") or {}
    causes: Causes = []
    volumes: set[str] = set()
    for index, volume in enumerate(spec.get("volumes") or []):
        name = volume.get("name") or ""
        if not _LABEL.match(name):
            causes.append((f"spec.volumes[{index}].name", _invalid(name, _LABEL_MESSAGE)))
        elif name in volumes:
            causes.append((f"spec.volumes[{index}].name", f'Duplicate value: "{name}"'))
        volumes.add(name)
    causes += _check_containers("spec.containers", spec.get("containers"), volumes, True)
    causes += _check_containers("spec.initContainers", spec.get("initContainers"), volumes, False)
    restart = spec.get("restartPolicy")
    if restart is not None and restart not in ("Always", "OnFailure", "Never"):
        causes.append(
            (
                "spec.restartPolicy",
                f'Unsupported value: "{restart}": supported values: "Always", "OnFailure", "Never"',
            )
        )
    return causes


def _check_pvc(pvc: Mapping[str, Any]) -> Causes:
    spec = pvc.get("spec") or {}
    causes: Causes = []
    if not spec.get("accessModes"):
        causes.append(("spec.accessModes", "Required value: at least 1 access mode is required"))
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    if storage is None:
        causes.append(("spec.resources[storage]", "Required value"))
    else:
        try:
            parse_quantity(storage)
        except ValueError:
            causes.append(("spec.resources[storage]", _invalid(storage, "must be a quantity")))
    return causes


def _check_service(service: Mapping[str, Any]) -> Causes:
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName" or spec.get("clusterIP") == "None":
        return []
    ports = spec.get("ports")
    if not ports:
        return [("spec.ports", "Required value")]
    causes: Causes = []
    for index, port in enumerate(ports):
        number = port.get("port")
        if not isinstance(number, int) or not 0 < number < 65536:
            causes.append(
                (
                    f"spec.ports[{index}].port",
                    _invalid(number, "must be between 1 and 65535, inclusive"),
                )
            )
    return causes


def _check_data_keys(obj: Mapping[str, Any]) -> Causes:
    causes: Causes = []
    for section in ("data", "stringData", "binaryData"):
        for key in obj.get(section) or {}:
            if not _CONFIG_KEY.match(key):
                causes.append(
                    (
                        f"{section}[{key}]",
                        _invalid(
                            key,
                            _CONFIG_KEY_MESSAGE,
                        ),
                    )
                )
    return causes


_BY_KIND = {
    "Pod": _check_pod,
    "PersistentVolumeClaim": _check_pvc,
    "Service": _check_service,
    "Secret": _check_data_keys,
    "ConfigMap": _check_data_keys,
}


def validate_create(rtype: ResourceType, obj: Mapping[str, Any]) -> Causes:
    """Causes of a 422 for a new object (its name already generated); empty when valid."""
    causes = _check_metadata(rtype, obj)
    check = _BY_KIND.get(rtype.kind)
    if check and not rtype.group:
        causes += check(obj)
    return causes


#: Pod spec fields that an update may change; everything else is immutable.
_MUTABLE_POD_FIELDS = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds")


def _pod_spec_without_mutable(spec: Mapping[str, Any]) -> dict[str, Any]:
    stripped = {k: v for k, v in spec.items() if k not in _MUTABLE_POD_FIELDS}
    for field in ("containers", "initContainers"):
        if field in stripped:
            stripped[field] = [
                {k: v for k, v in c.items() if k != "image"} for c in stripped[field]
            ]
    return stripped


def validate_update(rtype: ResourceType, old: Mapping[str, Any], new: Mapping[str, Any]) -> Causes:
    """Causes of a 422 for an update from ``old`` to ``new``."""
    causes = validate_create(rtype, new)
    if rtype.group:
        return causes
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    if rtype.kind == "Pod" and (
        _pod_spec_without_mutable(old_spec) != _pod_spec_without_mutable(new_spec)
    ):
        causes.append(("spec", _POD_UPDATE_MESSAGE))
    if rtype.kind == "PersistentVolumeClaim":
        unchanged = {k: v for k, v in old_spec.items() if k != "resources"}
        if unchanged != {k: v for k, v in new_spec.items() if k != "resources"}:
            causes.append(("spec", _PVC_UPDATE_MESSAGE))
    return causes
