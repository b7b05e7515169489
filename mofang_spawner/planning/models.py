"""Typed models of the spawn policy and of the plan it produces.

The policy side (``Template``, ``GpuType``, ``ResourceGroup``, ``StoragePolicy``,
``Policy``) is what an administrator configures; ``Choices`` is what a user asks
for; ``ServerPlan`` is the answer of :func:`~mofang_spawner.planning.plan_server`,
the one description of a notebook server that both the Kubernetes spawner and
the local spawner apply. All models are frozen pydantic models: they validate on
construction, serialise to JSON (the plan travels to the single-user server as
JSON) and cannot be changed after the planner returns them.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
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
]

#: Environment variable through which a single-user server receives its plan (JSON).
PLAN_ENV = "MOFANG_PLAN"

#: How a request above a limit is handled: lowered to the limit (and the user
#: told), or refused with a message saying what is allowed.
OverLimit = Literal["correct", "refuse"]

#: How a GPU is handed out. ``whole``: ``nvidia.com/gpu``; ``mig``: a MIG slice
#: (``nvidia.com/mig-<profile>``); ``hami``: a HAMi virtual GPU
#: (``nvidia.com/gpu`` + ``nvidia.com/gpumem`` / ``nvidia.com/gpucores``);
#: ``volcano-vgpu``: Volcano's vGPU device plugin.
GpuKind = Literal["whole", "mig", "hami", "volcano-vgpu"]

_SLUG = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")
Slug = Annotated[str, Field(pattern=_SLUG.pattern)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Resources(_Frozen):
    """An amount of compute: CPU cores, memory and disk in GiB, and a GPU count."""

    cpu: float = Field(gt=0, description="CPU cores")
    memory_gib: float = Field(gt=0, description="memory in GiB")
    gpus: int = Field(default=0, ge=0, description="GPUs (of the chosen GPU type)")
    disk_gib: float = Field(default=10, gt=0, description="scratch disk in GiB")

    @field_validator("cpu", "memory_gib", "disk_gib")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


class Toleration(_Frozen):
    """A Kubernetes toleration, as the pod spec spells it."""

    key: str
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


class Template(_Frozen):
    """An environment the user can start: an image plus resource defaults and maxima."""

    name: Slug
    display_name: str = ""
    description: str = ""
    image: str = Field(min_length=1)
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    frameworks: tuple[str, ...] = ()
    default: Resources
    maximum: Resources
    gpu_allowed: bool = False

    @model_validator(mode="after")
    def _default_within_maximum(self) -> Template:
        for field in ("cpu", "memory_gib", "gpus", "disk_gib"):
            if getattr(self.default, field) > getattr(self.maximum, field):
                raise ValueError(f"default {field} is above the maximum {field}")
        if self.default.gpus and not self.gpu_allowed:
            raise ValueError("default gpus > 0 but gpu_allowed is false")
        return self

    @property
    def title(self) -> str:
        return self.display_name or self.name


class GpuType(_Frozen):
    """A kind of GPU the cluster (or this machine) offers, with its resource names."""

    name: Slug
    display_name: str = ""
    kind: GpuKind = "whole"
    mig_profile: str | None = Field(
        default=None, pattern=r"^[0-9]+g\.[0-9]+gb$", description="MIG profile, e.g. 1g.10gb"
    )
    memory_mib: int | None = Field(default=None, gt=0, description="memory per virtual GPU")
    cores_percent: int | None = Field(default=None, gt=0, le=100, description="HAMi cores share")
    node_selector: dict[str, str] = {}
    tolerations: tuple[Toleration, ...] = ()
    scheduler_name: str | None = None
    shared: bool = Field(
        default=False, description="locally: may two running servers get the same device"
    )
    local_devices: tuple[str, ...] = Field(
        default=(), description="locally: device ids handed out through CUDA_VISIBLE_DEVICES"
    )

    @model_validator(mode="after")
    def _kind_fields(self) -> GpuType:
        if self.kind == "mig" and not self.mig_profile:
            raise ValueError("a 'mig' GPU type needs mig_profile (for example '1g.10gb')")
        if self.kind in ("hami", "volcano-vgpu") and not self.memory_mib:
            raise ValueError(f"a '{self.kind}' GPU type needs memory_mib")
        if self.kind != "hami" and self.cores_percent is not None:
            raise ValueError("cores_percent applies to 'hami' GPU types only")
        return self

    @property
    def title(self) -> str:
        return self.display_name or self.name

    @property
    def count_resource(self) -> str:
        """The extended resource whose quantity is the number of GPUs."""
        if self.kind == "mig":
            return f"nvidia.com/mig-{self.mig_profile}"
        if self.kind == "volcano-vgpu":
            return "volcano.sh/vgpu-number"
        return "nvidia.com/gpu"

    def resource_requests(self, count: int) -> dict[str, str]:
        """Extended resources a container asks for to get ``count`` of this GPU."""
        requests = {self.count_resource: str(count)}
        if self.kind == "hami":
            requests["nvidia.com/gpumem"] = str(self.memory_mib)
            if self.cores_percent is not None:
                requests["nvidia.com/gpucores"] = str(self.cores_percent)
        elif self.kind == "volcano-vgpu":
            requests["volcano.sh/vgpu-memory"] = str(self.memory_mib)
        return requests

    @property
    def default_scheduler(self) -> str | None:
        if self.scheduler_name:
            return self.scheduler_name
        return "volcano" if self.kind == "volcano-vgpu" else None


class ResourceGroup(_Frozen):
    """A team: its members are the JupyterHub group of the same name."""

    name: str = Field(min_length=1, max_length=256)
    display_name: str = ""
    limits: Resources = Field(description="the most one server of this group may get")
    quota: Resources | None = Field(
        default=None, description="the most all servers and jobs of the group may hold at once"
    )
    templates: tuple[str, ...] = Field(default=(), description="allowed templates; empty = all")
    gpu_types: tuple[str, ...] = Field(default=(), description="GPU types offered, first = default")
    node_selector: dict[str, str] = {}
    tolerations: tuple[Toleration, ...] = ()
    priority_class_name: str | None = None
    scheduler_name: str | None = None
    queue: str | None = Field(default=None, description="Volcano queue of the group")
    project_storage: bool = Field(default=True, description="members get a shared directory")

    @property
    def title(self) -> str:
        return self.display_name or self.name


class StoragePolicy(_Frozen):
    """Where the three storage levels appear inside a server's workspace."""

    projects_dir: str = Field(default="projects", pattern=r"^[A-Za-z0-9._-]+$")
    global_dir: str = Field(default="global", pattern=r"^[A-Za-z0-9._-]+$")
    global_enabled: bool = True
    global_read_only: bool = True

    @model_validator(mode="after")
    def _distinct(self) -> StoragePolicy:
        if self.projects_dir == self.global_dir:
            raise ValueError("projects_dir and global_dir must differ")
        return self


class Policy(_Frozen):
    """Everything the planner needs to know about what users may get."""

    templates: tuple[Template, ...] = Field(min_length=1)
    groups: tuple[ResourceGroup, ...] = ()
    gpu_types: tuple[GpuType, ...] = ()
    storage: StoragePolicy = StoragePolicy()
    over_limit: OverLimit = "correct"
    default_group: ResourceGroup | None = Field(
        default=None, description="for users in none of the groups; None refuses them"
    )

    @model_validator(mode="after")
    def _references(self) -> Policy:
        _unique("template", [t.name for t in self.templates])
        _unique("group", [g.name for g in self.groups])
        _unique("GPU type", [g.name for g in self.gpu_types])
        templates = {t.name for t in self.templates}
        gpu_types = {g.name for g in self.gpu_types}
        groups = list(self.groups) + ([self.default_group] if self.default_group else [])
        for group in groups:
            for name in group.templates:
                if name not in templates:
                    raise ValueError(f"group {group.name!r} names unknown template {name!r}")
            for name in group.gpu_types:
                if name not in gpu_types:
                    raise ValueError(f"group {group.name!r} names unknown GPU type {name!r}")
        return self

    def template(self, name: str) -> Template | None:
        return next((t for t in self.templates if t.name == name), None)

    def gpu_type(self, name: str) -> GpuType | None:
        return next((g for g in self.gpu_types if g.name == name), None)


def _unique(what: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what} {name!r} is defined twice")
        seen.add(name)


class Choices(_Frozen):
    """What a user asked for. ``None`` means "the default"."""

    template: str | None = None
    group: str | None = None
    cpu: float | None = None
    memory_gib: float | None = None
    gpus: int | None = None
    gpu_type: str | None = None
    disk_gib: float | None = None


# --- the plan -----------------------------------------------------------------


class TemplateRef(_Frozen):
    name: str
    display_name: str
    description: str
    image: str
    image_pull_policy: str
    frameworks: tuple[str, ...]


class GroupRef(_Frozen):
    name: str
    display_name: str


class GpuRequest(_Frozen):
    """The GPUs of a plan, with the Kubernetes resources that request them."""

    type: str
    display_name: str
    kind: GpuKind
    count: int = Field(gt=0)
    resources: dict[str, str]
    shared: bool = False


class Mount(_Frozen):
    """One storage level as it appears in the workspace.

    ``source`` is the directory below the storage root (the CephFS path, or the
    local data root); ``path`` is where it appears relative to the workspace
    root, which is the user's own directory (``""``).
    """

    level: Literal["user", "project", "global"]
    group: str | None = None
    source: str
    path: str
    read_only: bool = False


class Placement(_Frozen):
    """Where the server may run, on Kubernetes."""

    node_selector: dict[str, str] = {}
    tolerations: tuple[Toleration, ...] = ()
    priority_class_name: str | None = None
    scheduler_name: str | None = None
    queue: str | None = None


class JobGpuType(_Frozen):
    """A GPU type the user's jobs may ask for, spelled the way a pod asks for it."""

    name: str
    display_name: str
    kind: GpuKind
    count_resource: str = Field(description="the extended resource counting GPUs")
    extra_resources: dict[str, str] = Field(
        default={}, description="resources asked with any count (virtual GPU memory, cores)"
    )
    node_selector: dict[str, str] = {}
    tolerations: tuple[Toleration, ...] = ()
    scheduler_name: str | None = None

    def resources(self, count: int) -> dict[str, str]:
        """What one container asks for to get ``count`` GPUs of this type."""
        return {self.count_resource: str(count), **self.extra_resources}


class JobPolicy(_Frozen):
    """What the user's resource group allows their jobs: the hub's policy, carried along.

    A job's replicas run on the group's node pool (CPU roles) or the chosen GPU
    type's nodes (GPU replicas), in the group's Volcano queue, and each replica
    gets at most what one server of the group may get.
    """

    replica_limits: Resources = Field(description="the most one replica may ask for")
    quota: Resources | None = Field(default=None, description="the group's quota, all in all")
    gpu_types: tuple[JobGpuType, ...] = Field(default=(), description="first = default")
    node_selector: dict[str, str] = {}
    tolerations: tuple[Toleration, ...] = ()
    priority_class_name: str | None = None
    scheduler_name: str | None = None
    queue: str | None = None

    def gpu_type(self, name: str | None) -> JobGpuType | None:
        """The GPU type called ``name`` (None: the default), or None if the group has none."""
        if name is None:
            return self.gpu_types[0] if self.gpu_types else None
        return next((t for t in self.gpu_types if t.name == name), None)


class ServerPlan(_Frozen):
    """The answer of the planner: exactly what one notebook server gets."""

    user: str
    user_dir: str = Field(description="the user's escaped directory name")
    group: GroupRef
    template: TemplateRef
    resources: Resources
    gpu: GpuRequest | None = None
    mounts: tuple[Mount, ...]
    placement: Placement = Placement()
    corrections: tuple[str, ...] = ()
    backend: Literal["local", "kubernetes"] = "local"
    jobs: JobPolicy | None = Field(
        default=None, description="what the group allows jobs; None: plans of older hubs"
    )

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes) -> ServerPlan:
        return cls.model_validate_json(text)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready dict, the body of ``GET /mofang/api/environment``."""
        return self.model_dump(mode="json")
