"""``SubmitRequest``: the body of ``POST /mofang/api/jobs``, and how it becomes a ``JobSpec``.

The request is what a client may say; the spec is what runs. Between the two,
the server fills in what the client left out and checks what it may not
choose: the kind's fixed roles (the Master, the Launcher, the one Worker of a
python job), the image and the storage mounts, which come from the server's
spawn plan (the hub's policy), never from the request.

Pydantic's validation errors are translated into :class:`InvalidRequestError`
here, in one place, with the field's path and a message that says what to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator

from mofang_lab.jobs.spec import (
    ROLES,
    JobKind,
    JobSpec,
    ReplicaResources,
    ReplicaType,
    RestartPolicy,
    RoleSpec,
)
from mofang_spawner.errors import InvalidRequestError, PolicyError
from mofang_spawner.planning import Mount, ServerPlan

__all__ = ["SubmitRequest", "build_spec", "parse_model"]

_ALL_ROLES: dict[str, ReplicaType] = {
    role.lower(): role for roles in ROLES.values() for role in roles
}

M = TypeVar("M", bound=BaseModel)


class SubmitRequest(BaseModel):
    """What a client sends to submit a notebook as a job."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    notebook: str = Field(
        min_length=1, description="path of the notebook: relative to your files, or absolute"
    )
    name: str | None = Field(default=None, description="default: the notebook's name")
    kind: JobKind = "python"
    roles: dict[str, RoleSpec] = Field(
        default={},
        description="replicas and resources per role; the kind's fixed roles are added",
    )
    nproc_per_node: int | None = None
    slots_per_worker: int | None = None
    image: str | None = None
    mounts: tuple[str, ...] | None = Field(
        default=None, description="paths of your server's mounts to give the job; None: all"
    )
    env: dict[str, str] = {}
    parameters: dict[str, JsonValue] = {}
    timeout_seconds: float | None = None
    restart_policy: RestartPolicy = "Never"
    backoff_limit: int = 3
    idempotency_key: str | None = None
    backend: str | None = Field(default=None, description="must name this server's backend")
    dry_run: bool = Field(default=False, description="validate and describe; start nothing")

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, value: dict[str, RoleSpec]) -> dict[str, RoleSpec]:
        for role in value:
            if role.lower() not in _ALL_ROLES:
                known = ", ".join(sorted(set(_ALL_ROLES.values())))
                raise ValueError(f"unknown role {role!r}; roles are {known}")
        return value


def parse_model(model: type[M], data: Any, *, what: str) -> M:
    """Validate ``data`` as ``model``; a pydantic error becomes one readable 400."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequestError(f"Invalid {what}: {_describe(exc, model)}") from exc


def _describe(exc: ValidationError, model: type[BaseModel]) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden" and len(error["loc"]) == 1:
            # Say what may be sent: a client that tries a field we do not have
            # (an image, a queue, a volume) learns the request's real shape.
            message += f" (the fields are: {', '.join(model.model_fields)})"
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def build_spec(
    request: SubmitRequest,
    *,
    notebook: str,
    plan: ServerPlan | None,
    backend: str,
) -> JobSpec:
    """The spec that runs for ``request``; ``notebook`` is its path relative to the user's files."""
    if request.backend is not None and request.backend != backend:
        raise InvalidRequestError(
            f"This server runs jobs with the {backend!r} backend, not {request.backend!r}; "
            f"leave --backend out or use --backend {backend}."
        )
    roles = _roles(request.kind, request.roles)
    if plan is not None and backend == "local":
        _within_server(roles, plan)
    fields: dict[str, Any] = {
        "name": request.name or PurePosixPath(notebook).stem or "job",
        "kind": request.kind,
        "notebook": notebook,
        "roles": roles,
        "nproc_per_node": request.nproc_per_node,
        "image": _image(request.image, plan),
        "mounts": _mounts(request.mounts, plan),
        "env": request.env,
        "parameters": request.parameters,
        "timeout_seconds": request.timeout_seconds,
        "restart_policy": request.restart_policy,
        "backoff_limit": request.backoff_limit,
        "idempotency_key": request.idempotency_key,
    }
    if request.slots_per_worker is not None:
        fields["slots_per_worker"] = request.slots_per_worker
    return parse_model(JobSpec, fields, what="job")


def _roles(kind: JobKind, requested: Mapping[str, RoleSpec]) -> dict[str, RoleSpec]:
    roles: dict[str, RoleSpec] = {
        _ALL_ROLES[name.lower()]: spec for name, spec in requested.items()
    }
    worker = roles.get("Worker")
    if kind == "pytorch" and "Master" not in roles:
        # The Master trains like a Worker, so it gets the Workers' resources.
        resources = worker.resources if worker else ReplicaResources()
        roles = {"Master": RoleSpec(replicas=1, resources=resources), **roles}
    if kind == "mpi" and "Launcher" not in roles:
        roles = {"Launcher": RoleSpec(replicas=1), **roles}  # CPU only: it runs mpirun
    if kind == "python" and not roles:
        roles = {"Worker": RoleSpec(replicas=1)}
    return roles


def _within_server(roles: Mapping[str, RoleSpec], plan: ServerPlan) -> None:
    """Refuse a replica that asks for more than the server it would run inside.

    Replicas of a local job are processes of this server's machine, inside the
    allotment the hub's policy gave the server (its plan), so no replica can
    have more CPU, memory or GPUs than the server itself.
    """
    have = plan.resources
    for role, spec in roles.items():
        asked = spec.resources
        for unit, wanted, most in (
            ("CPU cores", asked.cpu, have.cpu),
            ("GiB of memory", asked.memory_gib, have.memory_gib),
            ("GPUs", asked.gpus, have.gpus),
        ):
            if wanted is not None and wanted > most:
                raise PolicyError(
                    f"Each {role} replica asks for {wanted:g} {unit}, but local jobs run "
                    f"inside your server, which has {most:g} {unit} (group "
                    f"'{plan.group.display_name}'): ask for at most {most:g} {unit}, or start "
                    "a bigger server from the hub."
                )


def _image(requested: str | None, plan: ServerPlan | None) -> str | None:
    if plan is None:
        return requested
    if requested is not None and requested != plan.template.image:
        raise PolicyError(
            f"Jobs run in your server's image ({plan.template.image}); a job cannot choose "
            f"another ({requested}). Leave the image out, or start a server with the "
            "environment you need from the hub."
        )
    return plan.template.image


def _mounts(requested: tuple[str, ...] | None, plan: ServerPlan | None) -> tuple[Mount, ...]:
    available = plan.mounts if plan is not None else ()
    if requested is None:
        return available
    by_path = {mount.path: mount for mount in available}
    chosen = []
    for path in requested:
        key = path.strip("/")
        if key not in by_path:
            yours = ", ".join(repr(m.path) for m in available) or "none"
            raise PolicyError(
                f"Your server has no storage mounted at {path!r}, so a job cannot get it. "
                f"Your mounts are: {yours}."
            )
        chosen.append(by_path[key])
    return tuple(chosen)
