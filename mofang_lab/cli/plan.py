"""``mofang plan``: print the plan and the exact Pod and claims a spawn would create.

Like ``helm template``: no hub and no cluster needed. The command builds the
same ``MofangSpawner`` the hub would, from the same configuration (a
``jupyterhub_config.py`` or a Zero to JupyterHub ``values.yaml``), and renders
the spawn of a user with the given choices through the spawner's own code,
then prints YAML: the ``ServerPlan`` (with what the policy corrected), the
Pod, and the claims the spawn creates. A request the policy refuses prints the
message the user would see and exits with status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Rendering", "add_parser", "find_cluster_config", "load_config", "render"]

_CONFIG = Path("hub-config") / "kubernetes" / "jupyterhub_config.py"


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "plan",
        help="print the plan, Pod and claims a spawn would create (no cluster needed)",
        description="Render what MofangSpawner would create for a user, their groups and "
        "their choices, as YAML, without a hub or a cluster. The live quota check needs "
        "the cluster and is not applied.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help="a jupyterhub_config.py, or a Zero to JupyterHub values.yaml (its hub.config); "
        f"default: {_CONFIG}",
    )
    parser.add_argument("--user", required=True, help="the hub user name")
    parser.add_argument(
        "--groups",
        help="the user's JupyterHub groups, comma-separated (default: the --group chosen)",
    )
    parser.add_argument("--group", help="the resource group to spawn in (default: the first)")
    parser.add_argument("--template", help="the environment (default: the group's first)")
    parser.add_argument("--cpu", help="CPU cores")
    parser.add_argument("--memory-gib", help="memory in GiB")
    parser.add_argument("--disk-gib", help="disk in GiB")
    parser.add_argument("--gpus", help="number of GPUs")
    parser.add_argument("--gpu-type", help="GPU type name")
    parser.add_argument(
        "--objects-only",
        action="store_true",
        help="print only the Kubernetes objects (for kubectl apply --dry-run=server -f -)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    parser.set_defaults(run=run)


def find_cluster_config() -> Path:
    """hub-config/kubernetes/jupyterhub_config.py, from the source tree or as installed."""
    candidates = [
        Path(__file__).resolve().parents[2] / _CONFIG,
        Path(sys.prefix) / "share" / "mofang" / _CONFIG,
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise SystemExit(f"mofang plan: cannot find {_CONFIG}; pass --config PATH.")


def load_config(path: Path) -> Any:
    """The traitlets Config of a jupyterhub_config.py, or of a values file's hub.config."""
    from traitlets.config.loader import PyFileConfigLoader

    from mofang_spawner.kubernetes.values import config_from_values

    if path.suffix in (".yaml", ".yml"):
        return config_from_values(path)
    loader = PyFileConfigLoader(path.name, str(path.parent.resolve()))
    return loader.load_config()


@dataclass(frozen=True)
class Rendering:
    """What ``mofang plan`` prints: titled documents, and the claims the pod mounts."""

    documents: list[tuple[str, dict[str, Any]]]
    mounted_claims: list[str]


def render(args: argparse.Namespace) -> Rendering:
    """The documents to print; raises SpawnException when the policy refuses the choices."""
    from mofang_spawner.kubernetes.preview import preview_spawn

    options = {
        key: value
        for key, value in {
            "group": args.group,
            "template": args.template,
            "cpu": args.cpu,
            "memory_gib": args.memory_gib,
            "disk_gib": args.disk_gib,
            "gpus": args.gpus,
            "gpu_type": args.gpu_type,
        }.items()
        if value is not None
    }
    if args.groups is not None:
        groups = [g.strip() for g in args.groups.split(",") if g.strip()]
    else:
        groups = [args.group] if args.group else []
    config = load_config(args.config or find_cluster_config())
    preview = asyncio.run(
        preview_spawn(config=config, user=args.user, groups=groups, options=options)
    )
    documents: list[tuple[str, dict[str, Any]]] = []
    if not args.objects_only:
        documents.append(("ServerPlan", {"kind": "ServerPlan", **preview.plan.summary()}))
    documents.append(("Pod", preview.pod))
    documents += [("PersistentVolumeClaim (created if missing)", c) for c in preview.new_claims]
    return Rendering(documents, preview.mounted_claims)


def run(args: argparse.Namespace) -> int:
    from jupyterhub.spawner import SpawnException

    from mofang_spawner.errors import MofangError

    try:
        rendering = render(args)
    except SpawnException as exc:
        print(f"mofang plan: refused: {exc.message}", file=sys.stderr)
        return 2
    except MofangError as exc:
        print(f"mofang plan: {exc.message}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([doc for _, doc in rendering.documents], indent=2))
        return 0
    import yaml

    print(f"# mofang plan for user {args.user!r}; the pod mounts these claims, which must")
    print(f"# exist: {', '.join(rendering.mounted_claims)}. The live group quota is not applied.")
    for title, doc in rendering.documents:
        print(f"---\n# {title}")
        print(yaml.safe_dump(doc, sort_keys=False, width=100).rstrip())
    return 0
