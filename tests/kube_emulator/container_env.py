"""The command line and environment a container's process gets, as the kubelet builds them.

* ``env`` literal values; ``valueFrom.fieldRef`` (``metadata.name``,
  ``metadata.namespace``, ``metadata.uid``, ``metadata.labels['k']``,
  ``metadata.annotations['k']``, ``spec.nodeName``, ``spec.serviceAccountName``,
  ``status.podIP``, ``status.hostIP``); ``secretKeyRef`` and
  ``configMapKeyRef`` read from the store; ``envFrom`` secrets and config
  maps; ``$(VAR)`` references expanded in values, command and args, with
  ``$$`` escaping, as Kubernetes does.
* The process runs on this machine, where every "pod" shares the host's
  network. A server told to listen on ``0.0.0.0`` would take the port for
  every pod, so ``0.0.0.0`` in args and env values becomes the pod's own
  loopback IP (127.0.0.N): several pods can then serve the same port.

A missing secret, config map or key is a :class:`ContainerConfigError`, which
the kubelet reports as ``CreateContainerConfigError``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ContainerConfigError", "container_argv", "container_env"]

Obj = dict[str, Any]
#: Reads an object from the store: (kind plural, name) -> object or None.
Lookup = Callable[[str, str], Obj | None]

_REFERENCE = re.compile(r"\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)")
_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


class ContainerConfigError(Exception):
    """The container cannot be configured (a referenced secret or key is missing)."""


def _expand(text: str, env: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _REFERENCE.sub(replace, text)


def _field(pod: Obj, path: str) -> str:
    subscript = _SUBSCRIPT.match(path)
    if subscript:
        section, key = subscript.groups()
        return str(((pod.get("metadata") or {}).get(section) or {}).get(key, ""))
    value: Any = pod
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return "" if value is None else str(value)


def _key_ref(lookup: Lookup, plural: str, ref: Mapping[str, Any]) -> str | None:
    kind = "secret" if plural == "secrets" else "configmap"
    obj = lookup(plural, ref.get("name", ""))
    optional = bool(ref.get("optional"))
    if obj is None:
        if optional:
            return None
        raise ContainerConfigError(f'{kind} "{ref.get("name", "")}" not found')
    key = ref.get("key", "")
    data = obj.get("data") or {}
    if key not in data:
        if optional:
            return None
        raise ContainerConfigError(
            f"couldn't find key {key} in {'Secret' if plural == 'secrets' else 'ConfigMap'} "
            f"{(obj.get('metadata') or {}).get('namespace')}/{ref.get('name')}"
        )
    value = data[key]
    return base64.b64decode(value).decode(errors="replace") if plural == "secrets" else str(value)


def _from_sources(container: Obj, lookup: Lookup) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for field, plural in (("secretRef", "secrets"), ("configMapRef", "configmaps")):
            ref = source.get(field)
            if not ref:
                continue
            obj = lookup(plural, ref.get("name", ""))
            if obj is None:
                if ref.get("optional"):
                    continue
                kind = "secret" if plural == "secrets" else "configmap"
                raise ContainerConfigError(f'{kind} "{ref.get("name", "")}" not found')
            for key, value in (obj.get("data") or {}).items():
                decoded = (
                    base64.b64decode(value).decode(errors="replace")
                    if plural == "secrets"
                    else str(value)
                )
                env[prefix + key] = decoded
    return env


def container_env(container: Obj, pod: Obj, lookup: Lookup, pod_ip: str) -> dict[str, str]:
    """The variables Kubernetes sets for ``container`` (not the host's own)."""
    env = _from_sources(container, lookup)
    for variable in container.get("env") or []:
        name = variable.get("name", "")
        source = variable.get("valueFrom")
        if source is None:
            value: str | None = _expand(str(variable.get("value", "")), env)
        elif "fieldRef" in source:
            value = _field(pod, source["fieldRef"].get("fieldPath", ""))
        elif "secretKeyRef" in source:
            value = _key_ref(lookup, "secrets", source["secretKeyRef"])
        elif "configMapKeyRef" in source:
            value = _key_ref(lookup, "configmaps", source["configMapKeyRef"])
        elif "resourceFieldRef" in source:
            resource = source["resourceFieldRef"].get("resource", "")
            section, _, name_ = resource.partition(".")
            value = str(((container.get("resources") or {}).get(section) or {}).get(name_, "0"))
        else:
            value = ""
        if value is not None:
            env[name] = value.replace("0.0.0.0", pod_ip)
    return env


def container_argv(container: Obj, env: Mapping[str, str], pod_ip: str) -> list[str]:
    """``command`` + ``args``; the image's entrypoint is unknown here, so args run as given."""
    argv = [str(a) for a in (container.get("command") or [])]
    argv += [str(a) for a in (container.get("args") or [])]
    return [_expand(arg, env).replace("0.0.0.0", pod_ip) for arg in argv]
