"""The pure planning core: policy models, safe names and ``plan_server``.

Nothing here performs I/O or imports a hub, a server or a Kubernetes client
(an import-linter contract checks it), so the same code plans a spawn on the
hub, in ``mofang plan`` and in unit tests.
"""

from mofang_spawner.planning.models import (
    PLAN_ENV,
    Choices,
    GpuKind,
    GpuRequest,
    GpuType,
    GroupRef,
    JobGpuType,
    JobPolicy,
    Mount,
    OverLimit,
    Placement,
    Policy,
    ResourceGroup,
    Resources,
    ServerPlan,
    StoragePolicy,
    Template,
    TemplateRef,
    Toleration,
)
from mofang_spawner.planning.names import safe_name
from mofang_spawner.planning.options import ABSOLUTE_MAXIMUM, OPTION_KEYS, choices_from_options
from mofang_spawner.planning.planner import (
    allowed_templates,
    member_groups,
    plan_server,
    resource_caps,
)

__all__ = [
    "ABSOLUTE_MAXIMUM",
    "OPTION_KEYS",
    "PLAN_ENV",
    "Choices",
    "GpuKind",
    "GpuRequest",
    "GpuType",
    "GroupRef",
    "JobGpuType",
    "JobPolicy",
    "Mount",
    "OverLimit",
    "Placement",
    "Policy",
    "ResourceGroup",
    "Resources",
    "ServerPlan",
    "StoragePolicy",
    "Template",
    "TemplateRef",
    "Toleration",
    "allowed_templates",
    "choices_from_options",
    "member_groups",
    "plan_server",
    "resource_caps",
    "safe_name",
]
