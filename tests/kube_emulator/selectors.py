"""Label and field selectors, parsed and matched the way the API server does.

Label selectors (``labelSelector=``) support the whole set-based grammar:
``key=value``, ``key==value``, ``key!=value``, ``key in (a,b)``,
``key notin (a,b)``, ``key`` (exists) and ``!key`` (does not exist); as in
Kubernetes, ``!=`` and ``notin`` also match objects without the label.

Field selectors (``fieldSelector=``) support ``=``, ``==`` and ``!=`` on the
fields the API server indexes for each kind (``metadata.name`` and
``metadata.namespace`` everywhere, ``status.phase`` on pods,
``involvedObject.*`` on events, ...); any other field is refused with the API
server's "field label not supported" error, so a client that relies on an
unsupported field fails here as it would on a cluster.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .apistatus import bad_request

__all__ = [
    "FieldSelector",
    "LabelSelector",
    "parse_field_selector",
    "parse_label_selector",
]

_KEY = re.compile(r"^([a-z0-9A-Z.\-/_]+)$")
_SET_REQUIREMENT = re.compile(r"^\s*(\S+)\s+(in|notin)\s+\((.*)\)\s*$")
_COMPARISON = re.compile(r"^\s*([^=!<>\s]+)\s*(==|=|!=|>|<)\s*(\S*)\s*$")


@dataclass(frozen=True)
class _Requirement:
    key: str
    operator: str  # "in", "notin", "exists", "!exists", "gt", "lt"
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "in":
            return present and value in self.values
        if self.operator == "notin":
            return not present or value not in self.values
        if self.operator == "exists":
            return present
        if self.operator == "!exists":
            return not present
        # Gt / Lt compare integers; a label that is not one never matches.
        try:
            number = int(value or "")
            bound = int(next(iter(self.values)))
        except ValueError:
            return False
        return number > bound if self.operator == "gt" else number < bound


@dataclass(frozen=True)
class LabelSelector:
    """A parsed label selector; the empty selector matches everything."""

    requirements: tuple[_Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


def _split_top_level(text: str) -> list[str]:
    # Commas separate requirements, except inside the parentheses of a set.
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in (part.strip() for part in parts) if p]


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse ``labelSelector``; a malformed one is a 400 as on the API server."""
    if not text or not text.strip():
        return LabelSelector()
    requirements: list[_Requirement] = []
    for part in _split_top_level(text):
        requirements.append(_parse_label_requirement(part))
    return LabelSelector(tuple(requirements))


def _parse_label_requirement(part: str) -> _Requirement:
    def fail() -> Exception:
        return bad_request(f"unable to parse requirement: found '{part}', expected a requirement")

    match = _SET_REQUIREMENT.match(part)
    if match:
        key, operator, raw_values = match.groups()
        values = frozenset(v.strip() for v in raw_values.split(",") if v.strip())
        if not _KEY.match(key):
            raise fail()
        return _Requirement(key, operator, values)
    if part.startswith("!"):
        key = part[1:].strip()
        if not _KEY.match(key):
            raise fail()
        return _Requirement(key, "!exists", frozenset())
    if _KEY.match(part):
        return _Requirement(part, "exists", frozenset())
    match = _COMPARISON.match(part)
    if not match:
        raise fail()
    key, operator, value = match.groups()
    if not _KEY.match(key):
        raise fail()
    if operator in ("=", "=="):
        return _Requirement(key, "in", frozenset([value]))
    if operator == "!=":
        return _Requirement(key, "notin", frozenset([value]))
    return _Requirement(key, "gt" if operator == ">" else "lt", frozenset([value]))


def _path(*keys: str) -> Callable[[Mapping[str, Any]], str]:
    def get(obj: Mapping[str, Any]) -> str:
        value: Any = obj
        for key in keys:
            if not isinstance(value, Mapping):
                return ""
            value = value.get(key)
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return get


_COMMON_FIELDS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "metadata.name": _path("metadata", "name"),
    "metadata.namespace": _path("metadata", "namespace"),
}

#: The fields the API server accepts in a field selector, per kind.
_FIELDS_BY_KIND: dict[str, dict[str, Callable[[Mapping[str, Any]], str]]] = {
    "Pod": {
        "status.phase": _path("status", "phase"),
        "spec.nodeName": _path("spec", "nodeName"),
        "spec.restartPolicy": _path("spec", "restartPolicy"),
        "spec.schedulerName": _path("spec", "schedulerName"),
        "spec.serviceAccountName": _path("spec", "serviceAccountName"),
        "status.podIP": _path("status", "podIP"),
        "status.nominatedNodeName": _path("status", "nominatedNodeName"),
    },
    "Event": {
        "involvedObject.kind": _path("involvedObject", "kind"),
        "involvedObject.name": _path("involvedObject", "name"),
        "involvedObject.namespace": _path("involvedObject", "namespace"),
        "involvedObject.uid": _path("involvedObject", "uid"),
        "involvedObject.apiVersion": _path("involvedObject", "apiVersion"),
        "involvedObject.resourceVersion": _path("involvedObject", "resourceVersion"),
        "involvedObject.fieldPath": _path("involvedObject", "fieldPath"),
        "reason": _path("reason"),
        "reportingComponent": _path("reportingComponent"),
        "source": _path("source", "component"),
        "type": _path("type"),
    },
    "Secret": {"type": _path("type")},
    "Node": {"spec.unschedulable": _path("spec", "unschedulable")},
    "Namespace": {"status.phase": _path("status", "phase")},
    "PersistentVolumeClaim": {},
    "Service": {},
}


@dataclass(frozen=True)
class FieldSelector:
    """A parsed field selector: ``(getter, wanted value, equal?)`` terms, all of which must hold."""

    terms: tuple[tuple[Callable[[Mapping[str, Any]], str], str, bool], ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all((get(obj) == value) == equal for get, value, equal in self.terms)

    @property
    def empty(self) -> bool:
        return not self.terms


def parse_field_selector(text: str | None, kind: str) -> FieldSelector:
    """Parse ``fieldSelector`` for objects of ``kind``; unknown fields are a 400."""
    if not text or not text.strip():
        return FieldSelector()
    fields = {**_COMMON_FIELDS, **_FIELDS_BY_KIND.get(kind, {})}
    terms: list[tuple[Callable[[Mapping[str, Any]], str], str, bool]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if "!=" in part:
            field, value = part.split("!=", 1)
            equal = False
        elif "==" in part:
            field, value = part.split("==", 1)
            equal = True
        elif "=" in part:
            field, value = part.split("=", 1)
            equal = True
        else:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        field = field.strip()
        if field not in fields:
            raise bad_request(f"field label not supported: {field}")
        terms.append((fields[field], value.strip(), equal))
    return FieldSelector(tuple(terms))
