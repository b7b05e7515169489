"""A real Jupyter server with the Mofang extension, run as a subprocess for tests.

For what ``jp_fetch``'s in-process server cannot show: a server that stops and
starts again while jobs run, the ``mofang`` command and a kernel's magics
talking to it over HTTP.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, url: str, token: str, root: Path, runtime: Path, log: Path) -> None:
        self.url = url
        self.token = token
        self.root = root
        self.runtime = runtime
        self.log = log

    @property
    def env(self) -> dict[str, str]:
        """What a client process needs to find this server explicitly."""
        return {"MOFANG_SERVER_URL": self.url, "MOFANG_TOKEN": self.token}


@contextmanager
def jupyter_server(
    root: Path,
    state: Path,
    *,
    token: str | None = None,
    local_backend: dict[str, object] | None = None,
) -> Iterator[Server]:
    """Start a server on ``root`` (its runtime files and log in ``state``); stop it after.

    ``local_backend``: LocalBackend settings; by default fast polling and a short
    grace period, to keep tests quick.
    """
    state.mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), token or secrets.token_hex(8)
    config = state / "jupyter_server_config.json"
    config.write_text(
        json.dumps(
            {
                "ServerApp": {"jpserver_extensions": {"mofang_lab": True}},
                "LocalBackend": (
                    {"poll_interval": 0.05, "stop_grace_seconds": 3}
                    if local_backend is None
                    else local_backend
                ),
            }
        )
    )
    runtime = state / "runtime"
    log = state / f"server-{port}.log"
    command = [
        sys.executable,
        "-m",
        "jupyter_server",
        f"--config={config}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False",
        f"--IdentityProvider.token={token}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime), "OMP_NUM_THREADS": "1"}
    with log.open("w") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(f"http://127.0.0.1:{port}/", token, root, runtime, log)
    try:
        _wait_ready(server, process)
        yield server
    finally:
        # SIGTERM, as a hub stops a server: the jobs' replicas are not its to kill.
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_ready(server: Server, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    request = urllib.request.Request(
        server.url + "mofang/api/backend", headers={"Authorization": f"token {server.token}"}
    )
    while True:
        if process.poll() is not None:
            raise AssertionError(f"server exited:\n{server.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"server did not start:\n{server.log.read_text()[-3000:]}")
        time.sleep(0.1)
