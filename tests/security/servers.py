"""A subprocess jupyter-server with the security tests' users, for the CLI and the magics.

It is :func:`tests.jobs.server.jupyter_server` with two additions, passed the
way a deployment passes them: a configuration directory naming the test
identity provider (``JUPYTER_CONFIG_DIR``), and optionally a spawn plan in the
server's environment (``MOFANG_PLAN``), as a Mofang spawner hands it over.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mofang_spawner.planning import PLAN_ENV, ServerPlan
from tests.jobs.server import Server, jupyter_server

ROOT = Path(__file__).resolve().parents[2]
MOFANG = str(Path(sys.executable).with_name("mofang"))


@contextmanager
def users_server(
    root: Path,
    state: Path,
    *,
    plan: ServerPlan | None = None,
    local_backend: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> Iterator[Server]:
    """A server on ``root`` whose tokens are those of :mod:`tests.security.users`.

    ``settings``: more configuration (JSON), such as the job backend's class and traits.
    """
    config_dir = state / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    # jupyter_config.json: the one file of the directory read beside --config.
    config = {
        **(settings or {}),
        "ServerApp": {"identity_provider_class": "tests.security.users.TokenUsers"},
    }
    (config_dir / "jupyter_config.json").write_text(json.dumps(config))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_CONFIG_DIR", str(config_dir))
        patch.setenv(
            "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        )
        if plan is not None:
            patch.setenv(PLAN_ENV, plan.to_json())
        else:
            patch.delenv(PLAN_ENV, raising=False)
        settings = {"poll_interval": 0.05, "stop_grace_seconds": 3, **(local_backend or {})}
        with jupyter_server(root, state, token="alice-token", local_backend=settings) as server:
            patch.undo()  # the clients started next need none of it
            yield server


def mofang(
    server: Server, token: str, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the ``mofang`` command as the holder of ``token``."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MOFANG_", "JUPYTERHUB_", "JPY_"))
    }
    env.update({"MOFANG_SERVER_URL": server.url, "MOFANG_TOKEN": token})
    return subprocess.run(
        [MOFANG, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        cwd=cwd or server.root,
    )
