"""A real JupyterLab with the Mofang server extension, run as a subprocess for browser tests.

The lab serves the built front end (``mofang_lab/labextension``) and runs jobs
with the local backend in a temporary root directory, the user's files.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mofang_lab.backends.local.processes import alive, read_state, signal_group
from tests.jobs.server import free_port


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path
    command: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_ready(self, self.process)

    def stop(self) -> None:
        """SIGTERM, as a hub stops a server; running jobs are not its to kill."""
        process, self.process = self.process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        """A JSON call to the server's REST API with the token."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())


def stop_replicas_under(root: Path) -> None:
    """Kill replicas still running under ``root``: jobs outlive their server by design."""
    for state_file in root.rglob("jobs/*/.run/*.json"):
        state = read_state(state_file)
        if state is not None and alive(state.pid, state.start_ticks):
            signal_group(state.pid, signal.SIGKILL)


@contextmanager
def running_lab(root: Path, state: Path) -> Iterator[Lab]:
    """``jupyter lab`` on a free port with a token; stopped, and its jobs killed, after."""
    state.mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), secrets.token_hex(8)
    config = state / "jupyter_server_config.json"
    config.write_text(
        json.dumps(
            {
                "ServerApp": {"jpserver_extensions": {"mofang_lab": True}},
                "LocalBackend": {"poll_interval": 0.05, "stop_grace_seconds": 3},
            }
        )
    )
    log = state / f"lab-{port}.log"
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--config={config}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False",
        f"--IdentityProvider.token={token}",
        # No "what's new" or news requests to the internet from the page.
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
        "JUPYTER_CONFIG_DIR": str(state / "config"),
        "OMP_NUM_THREADS": "1",
    }
    # The same port, token and runtime folder (cookie secret) on every start, so
    # an open page can reconnect after a restart.
    lab = Lab(f"http://127.0.0.1:{port}/", token, root, log, command, env)
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()
        stop_replicas_under(root)


def _wait_ready(lab: Lab, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while True:
        if process.poll() is not None:
            raise AssertionError(f"jupyter lab exited:\n{lab.log.read_text()[-3000:]}")
        try:
            lab.api("mofang/api/backend")
            return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"jupyter lab did not start:\n{lab.log.read_text()[-3000:]}")
        time.sleep(0.2)
