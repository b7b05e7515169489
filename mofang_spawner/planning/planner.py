"""``plan_server``: from a user, their groups and their choices to a ``ServerPlan``.

Pure: no I/O, no clock, no global state, so the same inputs always give the
same plan, on the hub, in ``mofang plan`` and in tests. The order of checks is
the order a user would fix things in: who you are (group), what you start
(template), how big (resources), which GPU, then storage and placement follow
from the answers.
"""

from __future__ import annotations

from collections.abc import Sequence

from mofang_spawner.errors import PolicyError
from mofang_spawner.planning.models import (
    Choices,
    GpuRequest,
    GpuType,
    GroupRef,
    JobGpuType,
    JobPolicy,
    Mount,
    Placement,
    Policy,
    ResourceGroup,
    Resources,
    ServerPlan,
    Template,
    TemplateRef,
    Toleration,
)
from mofang_spawner.planning.names import safe_name

__all__ = ["allowed_templates", "member_groups", "plan_server", "resource_caps"]


def member_groups(groups: Sequence[str], policy: Policy) -> list[ResourceGroup]:
    """The resource groups a user may spawn in, in the policy's order."""
    wanted = set(groups)
    mine = [g for g in policy.groups if g.name in wanted]
    if not mine and policy.default_group is not None:
        return [policy.default_group]
    return mine


def allowed_templates(group: ResourceGroup, policy: Policy) -> list[Template]:
    if not group.templates:
        return list(policy.templates)
    return [t for t in policy.templates if t.name in group.templates]


def resource_caps(template: Template, group: ResourceGroup) -> Resources:
    """The most one server may get: the smaller of the template's and the group's limits."""
    gpus = min(template.maximum.gpus, group.limits.gpus)
    if not template.gpu_allowed or not group.gpu_types:
        gpus = 0
    return Resources(
        cpu=min(template.maximum.cpu, group.limits.cpu),
        memory_gib=min(template.maximum.memory_gib, group.limits.memory_gib),
        gpus=gpus,
        disk_gib=min(template.maximum.disk_gib, group.limits.disk_gib),
    )


def plan_server(user: str, groups: Sequence[str], choices: Choices, policy: Policy) -> ServerPlan:
    """Decide what ``user`` gets, or raise :class:`PolicyError` saying what is allowed.

    ``groups`` are the user's JupyterHub groups; only those that are resource
    groups in ``policy`` count. A request above a limit is lowered to the limit
    (recorded in ``ServerPlan.corrections``) or refused, as ``policy.over_limit``
    says. Asking for a group, template or GPU type one may not have is always
    refused: there is no "nearest" group.
    """
    mine = member_groups(groups, policy)
    group = _choose_group(mine, choices.group, policy)
    template = _choose_template(group, choices.template, policy)
    caps = resource_caps(template, group)
    corrections: list[str] = []

    def fit(what: str, unit: str, asked: float | None, default: float, cap: float) -> float:
        value = default if asked is None else asked
        if value <= cap:
            return value
        where = f"group '{group.title}' with the '{template.title}' environment"
        why = _why_no_gpus(template, group) if what == "GPUs" and cap == 0 else ""
        if policy.over_limit == "refuse" and asked is not None:
            raise PolicyError(
                f"{what}: {_num(value)} {unit} is more than {where} allows{why}: "
                f"choose at most {_num(cap)} {unit}."
            )
        corrections.append(
            f"{what} lowered from {_num(value)} to {_num(cap)} {unit}: "
            f"the most {where} allows per server{why}."
        )
        return cap

    cpu = fit("CPU", "cores", choices.cpu, template.default.cpu, caps.cpu)
    memory = fit("Memory", "GiB", choices.memory_gib, template.default.memory_gib, caps.memory_gib)
    disk = fit("Disk", "GiB", choices.disk_gib, template.default.disk_gib, caps.disk_gib)
    gpu_type = _choose_gpu_type(group, choices, policy)
    default_gpus = template.default.gpus if caps.gpus else 0
    gpus = int(fit("GPUs", "GPUs", choices.gpus, default_gpus, caps.gpus))

    gpu: GpuRequest | None = None
    if gpus > 0:
        assert gpu_type is not None  # _choose_gpu_type picks one when the group offers any
        gpu = GpuRequest(
            type=gpu_type.name,
            display_name=gpu_type.title,
            kind=gpu_type.kind,
            count=gpus,
            resources=gpu_type.resource_requests(gpus),
            shared=gpu_type.shared,
        )

    return ServerPlan(
        user=user,
        user_dir=safe_name(user),
        group=GroupRef(name=group.name, display_name=group.title),
        template=TemplateRef(
            name=template.name,
            display_name=template.title,
            description=template.description,
            image=template.image,
            image_pull_policy=template.image_pull_policy,
            frameworks=template.frameworks,
        ),
        resources=Resources(cpu=cpu, memory_gib=memory, gpus=gpus, disk_gib=disk),
        gpu=gpu,
        mounts=_mounts(user, mine, policy),
        placement=_placement(group, gpu_type if gpu else None),
        corrections=tuple(corrections),
        jobs=_job_policy(group, policy),
    )


def _choose_group(mine: list[ResourceGroup], asked: str | None, policy: Policy) -> ResourceGroup:
    if not mine:
        known = ", ".join(repr(g.name) for g in policy.groups) or "none are configured"
        raise PolicyError(
            "You are not a member of any resource group, so no server can be started. "
            f"Ask an administrator to add you to one of the groups ({known})."
        )
    if asked is None:
        return mine[0]
    for group in mine:
        if group.name == asked:
            return group
    yours = ", ".join(repr(g.name) for g in mine)
    raise PolicyError(f"You are not a member of group {asked!r}. Your groups: {yours}.")


def _choose_template(group: ResourceGroup, asked: str | None, policy: Policy) -> Template:
    allowed = allowed_templates(group, policy)
    names = ", ".join(repr(t.name) for t in allowed)
    if not allowed:
        raise PolicyError(f"Group '{group.title}' has no environments; ask an administrator.")
    if asked is None:
        return allowed[0]
    template = policy.template(asked)
    if template is None:
        raise PolicyError(f"Unknown environment {asked!r}. Choose one of: {names}.")
    if template not in allowed:
        raise PolicyError(
            f"Environment {asked!r} is not available to group '{group.title}'. "
            f"Choose one of: {names}."
        )
    return template


def _choose_gpu_type(group: ResourceGroup, choices: Choices, policy: Policy) -> GpuType | None:
    offered = [t for t in policy.gpu_types if t.name in group.gpu_types]
    offered.sort(key=lambda t: group.gpu_types.index(t.name))
    if choices.gpu_type is None:
        return offered[0] if offered else None
    if policy.gpu_type(choices.gpu_type) is None:
        known = ", ".join(repr(t.name) for t in policy.gpu_types) or "none"
        raise PolicyError(f"Unknown GPU type {choices.gpu_type!r}. Known GPU types: {known}.")
    for gpu_type in offered:
        if gpu_type.name == choices.gpu_type:
            return gpu_type
    names = ", ".join(repr(t.name) for t in offered) or "none"
    raise PolicyError(
        f"GPU type {choices.gpu_type!r} is not offered to group '{group.title}'. "
        f"GPU types of this group: {names}."
    )


def _why_no_gpus(template: Template, group: ResourceGroup) -> str:
    if not template.gpu_allowed:
        return f" (the '{template.title}' environment runs on CPU only)"
    return f" (group '{group.title}' has no GPUs)"


def _mounts(user: str, mine: list[ResourceGroup], policy: Policy) -> tuple[Mount, ...]:
    storage = policy.storage
    mounts = [Mount(level="user", source=f"users/{safe_name(user)}", path="", read_only=False)]
    for group in mine:
        if group.project_storage:
            name = safe_name(group.name)
            mounts.append(
                Mount(
                    level="project",
                    group=group.name,
                    source=f"projects/{name}",
                    path=f"{storage.projects_dir}/{name}",
                )
            )
    if storage.global_enabled:
        mounts.append(
            Mount(
                level="global",
                source="global",
                path=storage.global_dir,
                read_only=storage.global_read_only,
            )
        )
    return tuple(mounts)


def _placement(group: ResourceGroup, gpu_type: GpuType | None) -> Placement:
    node_selector = dict(group.node_selector)
    tolerations: list[Toleration] = list(group.tolerations)
    scheduler = group.scheduler_name
    if gpu_type is not None:
        node_selector.update(gpu_type.node_selector)
        tolerations.extend(t for t in gpu_type.tolerations if t not in tolerations)
        scheduler = gpu_type.default_scheduler or scheduler
    return Placement(
        node_selector=node_selector,
        tolerations=tuple(tolerations),
        priority_class_name=group.priority_class_name,
        scheduler_name=scheduler,
        queue=group.queue,
    )


def _job_policy(group: ResourceGroup, policy: Policy) -> JobPolicy:
    by_name = {t.name: t for t in policy.gpu_types}
    gpu_types = tuple(
        JobGpuType(
            name=t.name,
            display_name=t.title,
            kind=t.kind,
            count_resource=t.count_resource,
            extra_resources={
                k: v for k, v in t.resource_requests(1).items() if k != t.count_resource
            },
            node_selector=dict(t.node_selector),
            tolerations=t.tolerations,
            scheduler_name=t.default_scheduler,
        )
        for t in (by_name[name] for name in group.gpu_types if name in by_name)
    )
    limits = group.limits if gpu_types else group.limits.model_copy(update={"gpus": 0})
    return JobPolicy(
        replica_limits=limits,
        quota=group.quota,
        gpu_types=gpu_types,
        node_selector=dict(group.node_selector),
        tolerations=group.tolerations,
        priority_class_name=group.priority_class_name,
        scheduler_name=group.scheduler_name,
        queue=group.queue,
    )


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
