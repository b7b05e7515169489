"""Where a pod may run: the filters of the default scheduler, and its refusal messages.

Pure functions over plain objects, so the same decision can be tested
without a server. A pod fits a node when, in the scheduler's order of
filters,

1. the node is schedulable,
2. the pod tolerates every ``NoSchedule`` / ``NoExecute`` taint of the node,
3. the node matches the pod's ``nodeSelector`` and required node affinity,
4. the pod's requests (cpu, memory, extended resources such as
   ``nvidia.com/gpu``, pod count) fit in what the node has left after the
   pods already bound to it;

and before any node is tried, every persistent volume claim the pod mounts
must exist and be bound. When no node fits, :func:`schedule` returns the
message the real scheduler writes into the ``FailedScheduling`` event and the
``PodScheduled`` condition, e.g. ``0/2 nodes are available: 1 Insufficient
nvidia.com/gpu, 1 node(s) didn't match Pod's node affinity/selector.``
Among the nodes that fit, the least allocated one wins (the default
``LeastAllocated`` score), ties going to the first declared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .quantities import parse_quantity, pod_requests

__all__ = ["SchedulingResult", "schedule"]

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class SchedulingResult:
    node: str | None
    message: str = ""


def _tolerates(toleration: Obj, taint: Obj) -> bool:
    effect = toleration.get("effect")
    if effect and effect != taint.get("effect"):
        return False
    if (toleration.get("operator") or "Equal") == "Exists":
        return not toleration.get("key") or toleration.get("key") == taint.get("key")
    return toleration.get("key") == taint.get("key") and (toleration.get("value") or "") == (
        taint.get("value") or ""
    )


def _untolerated_taint(pod: Obj, node: Obj) -> Obj | None:
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    taints: list[Obj] = (node.get("spec") or {}).get("taints") or []
    for taint in taints:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(_tolerates(t, taint) for t in tolerations):
            return taint
    return None


def _expression_matches(expression: Obj, values_by_key: Mapping[str, str]) -> bool:
    key, operator = expression.get("key", ""), expression.get("operator", "")
    wanted = [str(v) for v in expression.get("values") or []]
    present = key in values_by_key
    value = values_by_key.get(key)
    if operator == "In":
        return present and value in wanted
    if operator == "NotIn":
        return not present or value not in wanted
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and wanted:
        try:
            number, bound = int(value or ""), int(wanted[0])
        except ValueError:
            return False
        return number > bound if operator == "Gt" else number < bound
    return False


def _term_matches(term: Obj, labels: Mapping[str, str], name: str) -> bool:
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False  # an empty term selects no node
    return all(_expression_matches(e, labels) for e in expressions) and all(
        _expression_matches(f, {"metadata.name": name}) for f in fields
    )


def _matches_affinity(pod: Obj, node: Obj) -> bool:
    spec = pod.get("spec") or {}
    metadata = node.get("metadata") or {}
    labels = metadata.get("labels") or {}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms")
    if terms is None:
        return True
    return any(_term_matches(term, labels, metadata.get("name", "")) for term in terms)


def _insufficient(
    wanted: Mapping[str, Fraction], node: Obj, bound_pods: Sequence[Obj]
) -> list[str]:
    allocatable = {
        name: parse_quantity(amount)
        for name, amount in ((node.get("status") or {}).get("allocatable") or {}).items()
    }
    used: dict[str, Fraction] = {}
    for other in bound_pods:
        for name, amount in pod_requests(other).items():
            used[name] = used.get(name, Fraction(0)) + amount
    reasons = []
    if len(bound_pods) + 1 > allocatable.get("pods", Fraction(110)):
        reasons.append("Too many pods")
    for name, amount in sorted(wanted.items()):
        if amount <= 0:
            continue
        if used.get(name, Fraction(0)) + amount > allocatable.get(name, Fraction(0)):
            reasons.append(f"Insufficient {name}")
    return reasons


def _why_not(pod: Obj, node: Obj, bound_pods: Sequence[Obj]) -> list[str]:
    """The reasons ``node`` is refused (empty if the pod fits), in filter order."""
    if (node.get("spec") or {}).get("unschedulable"):
        return ["node(s) were unschedulable"]
    taint = _untolerated_taint(pod, node)
    if taint is not None:
        return [f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}"]
    if not _matches_affinity(pod, node):
        return ["node(s) didn't match Pod's node affinity/selector"]
    return _insufficient(pod_requests(pod), node, bound_pods)


def _load(node: Obj, bound_pods: Sequence[Obj]) -> Fraction:
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    total = Fraction(0)
    for resource in ("cpu", "memory"):
        capacity = parse_quantity(allocatable.get(resource, "0"))
        if capacity > 0:
            used = sum(
                (pod_requests(p).get(resource, Fraction(0)) for p in bound_pods), Fraction(0)
            )
            total += used / capacity
    return total


def _summary(total: int, reasons: Mapping[str, int], preface: str = "") -> str:
    listed = sorted(f"{count} {reason}" for reason, count in reasons.items())
    body = ", ".join(listed)
    message = f"0/{total} nodes are available: {preface}{body}."
    helpless = f"{total} Preemption is not helpful for scheduling." if total else ""
    return f"{message} preemption: 0/{total} nodes are available: {helpless}".rstrip()


def schedule(
    pod: Obj,
    nodes: Iterable[Obj],
    pods_by_node: Mapping[str, Sequence[Obj]],
    find_claim: Callable[[str], Obj | None],
) -> SchedulingResult:
    """Pick a node for ``pod`` or say why none fits (see the module docstring).

    ``pods_by_node`` holds the pods bound to each node that still use its
    resources; ``find_claim(name)`` returns the pod's namespace's claim or None.
    """
    nodes = list(nodes)
    total = len(nodes)
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        claim_name = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if not claim_name:
            continue
        claim = find_claim(claim_name)
        if claim is None:
            return SchedulingResult(
                None, _summary(total, {}, f'persistentvolumeclaim "{claim_name}" not found')
            )
        if (claim.get("status") or {}).get("phase") != "Bound":
            return SchedulingResult(
                None, _summary(total, {}, "pod has unbound immediate PersistentVolumeClaims")
            )
    if not nodes:
        return SchedulingResult(None, "no nodes available to schedule pods")
    reasons: dict[str, int] = {}
    fitting: list[tuple[Fraction, int, str]] = []
    for index, node in enumerate(nodes):
        name = (node.get("metadata") or {}).get("name", "")
        bound = pods_by_node.get(name, [])
        why = _why_not(pod, node, bound)
        if why:
            for reason in why:
                reasons[reason] = reasons.get(reason, 0) + 1
        else:
            fitting.append((_load(node, bound), index, name))
    if fitting:
        return SchedulingResult(min(fitting)[2])
    return SchedulingResult(None, _summary(total, reasons))
