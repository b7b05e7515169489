"""``MofangPolicy``: the administrator's spawn policy, as traitlets configuration.

Both spawners (Kubernetes and local) read the same section,
``c.MofangPolicy``, so a catalog written once serves either. The traits hold
plain dicts and lists, as they are written in ``jupyterhub_config.py`` or a
Helm ``values.yaml``; :meth:`MofangPolicy.policy` validates them into the typed
:class:`~mofang_spawner.planning.Policy` and turns any mistake into a
:class:`~mofang_spawner.errors.ConfigurationError` that names the setting.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from traitlets import Bool, Dict, Enum, List, Unicode
from traitlets.config import Configurable

from mofang_spawner.errors import ConfigurationError
from mofang_spawner.planning import Policy

__all__ = ["MofangPolicy"]


class MofangPolicy(Configurable):
    """What users may start: environments, resource groups, GPU types, storage."""

    templates = List(
        Dict(),
        config=True,
        help="""Environment templates users choose from, in the order the form shows them.

        Each is a dict: ``name`` (lowercase slug), ``display_name``, ``description``,
        ``image``, ``image_pull_policy`` (default IfNotPresent), ``frameworks`` (list),
        ``default`` and ``maximum`` (dicts of ``cpu``, ``memory_gib``, ``gpus``,
        ``disk_gib``) and ``gpu_allowed`` (bool). Example::

            {"name": "pytorch", "display_name": "PyTorch",
             "image": "quay.io/jupyter/pytorch-notebook",
             "default": {"cpu": 2, "memory_gib": 4},
             "maximum": {"cpu": 16, "memory_gib": 64, "gpus": 4},
             "gpu_allowed": True}
        """,
    )

    groups = Dict(
        value_trait=Dict(),
        config=True,
        help="""Resource groups, keyed by JupyterHub group name.

        A user may spawn in every resource group whose JupyterHub group they are a
        member of. Each value is a dict: ``display_name``; ``limits`` (the most one
        server may get: ``cpu``, ``memory_gib``, ``gpus``, ``disk_gib``); ``quota``
        (the most the whole group may hold at once, enforced on Kubernetes);
        ``templates`` (allowed template names, empty = all); ``gpu_types`` (GPU
        type names offered, the first is the default); ``node_selector``,
        ``tolerations``, ``priority_class_name``, ``scheduler_name`` and ``queue``
        (the Volcano queue); ``project_storage`` (default True: members share a
        directory ``projects/<group>``).
        """,
    )

    default_group = Dict(
        None,
        allow_none=True,
        config=True,
        help="""Resource group (same keys as a value of ``groups``, plus ``name``) for users
        who are in none of ``groups``. None (the default) refuses such users with a
        message telling them to ask an administrator.""",
    )

    gpu_types = List(
        Dict(),
        config=True,
        help="""GPU types, referenced by name from ``groups[...]['gpu_types']``.

        Each is a dict: ``name``, ``display_name``, ``kind`` (``whole``:
        nvidia.com/gpu; ``mig``: nvidia.com/mig-<mig_profile>; ``hami``: HAMi vGPU
        with ``memory_mib`` and optional ``cores_percent``; ``volcano-vgpu``: Volcano
        vGPU with ``memory_mib``), ``node_selector``, ``tolerations``,
        ``scheduler_name`` (e.g. hami-scheduler; volcano-vgpu defaults to volcano).
        For the local spawner: ``local_devices`` (ids put in CUDA_VISIBLE_DEVICES) and
        ``shared`` (may two running servers get the same device; default False).
        """,
    )

    over_limit = Enum(
        ["correct", "refuse"],
        default_value="correct",
        config=True,
        help="""What happens to a request above a limit: ``correct`` lowers it to the limit
        and tells the user on the spawn page; ``refuse`` fails the spawn with a message
        saying what is allowed. Requests for a group, environment or GPU type the user
        may not have are always refused.""",
    )

    projects_dir = Unicode(
        "projects",
        config=True,
        help="Folder of the workspace under which each project group's directory appears.",
    )

    global_dir = Unicode(
        "global",
        config=True,
        help="Folder of the workspace where the global (everyone's) directory appears.",
    )

    global_enabled = Bool(True, config=True, help="Mount the global directory at all.")

    global_read_only = Bool(
        True,
        config=True,
        help="Mount the global directory read-only (the default). Set False to let "
        "every user write to it.",
    )

    def policy(self) -> Policy:
        """The validated policy; raises ConfigurationError naming the bad setting."""
        raw: dict[str, Any] = {
            "templates": self.templates,
            "groups": [{"name": name, **spec} for name, spec in self.groups.items()],
            "gpu_types": self.gpu_types,
            "over_limit": self.over_limit,
            "default_group": self.default_group or None,
            "storage": {
                "projects_dir": self.projects_dir,
                "global_dir": self.global_dir,
                "global_enabled": self.global_enabled,
                "global_read_only": self.global_read_only,
            },
        }
        try:
            return Policy.model_validate(raw)
        except ValidationError as exc:
            raise ConfigurationError(_describe(exc, list(self.groups))) from exc


def _describe(exc: ValidationError, group_names: list[str]) -> str:
    lines = ["Invalid c.MofangPolicy configuration:"]
    for error in exc.errors():
        loc = list(error["loc"])
        # Groups are configured as a dict: name them, not their position.
        if len(loc) > 1 and loc[0] == "groups" and isinstance(loc[1], int):
            loc[:2] = [f"groups[{group_names[loc[1]]!r}]"]
        where = ".".join(str(part) for part in loc) or "(policy)"
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)
