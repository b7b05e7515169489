"""``mofang demo``: start the demo hub (JupyterHub + the local Mofang spawner)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "find_demo_config"]


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "demo",
        help="start the local demo hub",
        description="Start the Mofang demo hub: JupyterHub with the local spawner, the demo "
        "catalog and demo users (alice, bob, carol, admin; password 'mofang').",
    )
    parser.add_argument("--ip", default="127.0.0.1", help="address to listen on (%(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (%(default)s)")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path.cwd() / ".demo",
        help="where the hub's database and the users' storage live (%(default)s)",
    )
    parser.add_argument("--config", type=Path, help="a jupyterhub_config.py to use instead")
    parser.set_defaults(run=run)


def find_demo_config() -> Path:
    """The demo config: from the source tree, or as installed under share/mofang."""
    candidates = [
        Path(__file__).resolve().parents[2] / "hub-config" / "demo" / "jupyterhub_config.py",
        Path(sys.prefix) / "share" / "mofang" / "hub-config" / "demo" / "jupyterhub_config.py",
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise SystemExit(
        "mofang demo: cannot find hub-config/demo/jupyterhub_config.py; pass --config PATH."
    )


def run(args: argparse.Namespace) -> int:
    config = args.config or find_demo_config()
    state = args.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    os.environ["MOFANG_DEMO_DIR"] = str(state)
    os.environ["MOFANG_DEMO_URL"] = f"http://{args.ip}:{args.port}"
    print(
        f"Mofang demo hub on http://{args.ip}:{args.port} - log in as alice, bob, carol or "
        f"admin with password 'mofang'. State in {state}. Ctrl-C stops it.",
        flush=True,
    )
    hub = Path(sys.executable).with_name("jupyterhub")
    os.chdir(state)
    os.execv(str(hub), [str(hub), "-f", str(config)])  # noqa: S606 - replaces this process
