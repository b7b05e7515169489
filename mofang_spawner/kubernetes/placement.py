"""Where a server's pod may run: the plan's placement as pod fields (pure).

The planner has already merged the resource group's node pool (node
selector, tolerations, priority class, scheduler, Volcano queue) with the GPU
type's needs (its node selector, tolerations and, for HAMi and Volcano vGPU,
its scheduler). This module only spells that out the way a Pod does. A
group's Volcano queue goes into the ``scheduling.volcano.sh/queue-name``
annotation, which Volcano reads when it makes the pod's PodGroup; it is only
set when the pod is scheduled by Volcano, since no other scheduler reads it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from mofang_spawner.planning import ServerPlan

__all__ = ["VOLCANO_QUEUE_ANNOTATION", "PodPlacement", "pod_placement"]

#: The pod annotation naming the Volcano queue of its (implicit) PodGroup.
VOLCANO_QUEUE_ANNOTATION = "scheduling.volcano.sh/queue-name"


class PodPlacement(BaseModel):
    """The placement fields of one pod. ``None``: leave the hub's setting alone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    node_selector: dict[str, str]
    tolerations: tuple[dict[str, Any], ...]
    scheduler_name: str | None
    priority_class_name: str | None
    annotations: dict[str, str]


def pod_placement(*, plan: ServerPlan, volcano_schedulers: frozenset[str]) -> PodPlacement:
    """The pod fields of ``plan.placement``.

    ``volcano_schedulers`` are the scheduler names that are Volcano (usually
    just ``volcano``); only pods they schedule get the queue annotation.
    """
    placement = plan.placement
    tolerations = tuple(
        {k: v for k, v in t.model_dump().items() if v is not None} for t in placement.tolerations
    )
    annotations: dict[str, str] = {}
    if placement.queue and placement.scheduler_name in volcano_schedulers:
        annotations[VOLCANO_QUEUE_ANNOTATION] = placement.queue
    return PodPlacement(
        node_selector=dict(placement.node_selector),
        tolerations=tolerations,
        scheduler_name=placement.scheduler_name,
        priority_class_name=placement.priority_class_name,
        annotations=annotations,
    )
