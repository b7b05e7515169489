"""A real JupyterHub (real proxy, real single-user servers) run as a subprocess for tests."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.policies import DEMO_CONFIG

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Hub:
    url: str
    token: str
    state: Path
    log: Path
    user_tokens: dict[str, str] = field(default_factory=dict)

    @property
    def data_root(self) -> Path:
        return self.state / "data"

    def api(
        self, method: str, path: str, *, as_user: str | None = None, **kwargs: Any
    ) -> requests.Response:
        token = self.user_token(as_user) if as_user else self.token
        headers = {"Authorization": f"token {token}"}
        return requests.request(
            method, f"{self.url}/hub/api{path}", headers=headers, timeout=30, **kwargs
        )

    def user_token(self, user: str) -> str:
        """Log in through the REST API: an admin-issued token for ``user``."""
        if user not in self.user_tokens:
            response = self.api("POST", f"/users/{user}/tokens", json={"note": "e2e"})
            response.raise_for_status()
            self.user_tokens[user] = response.json()["token"]
        return self.user_tokens[user]

    def server_get(self, user: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"token {self.user_token(user)}"}
        return requests.get(f"{self.url}/user/{user}/{path}", headers=headers, timeout=30, **kwargs)

    def server_request(self, method: str, user: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"token {self.user_token(user)}"}
        return requests.request(
            method, f"{self.url}/user/{user}/{path}", headers=headers, timeout=30, **kwargs
        )

    def spawn(
        self, user: str, options: dict[str, Any]
    ) -> tuple[requests.Response, list[dict[str, Any]]]:
        """Start ``user``'s server as the user would (REST), following the progress stream.

        The hub answers the POST once the server is ready (or after its
        slow-spawn timeout), so the progress stream is read beside it.
        """
        with ThreadPoolExecutor(1) as pool:
            posted = pool.submit(
                self.api, "POST", f"/users/{user}/server", as_user=user, json=options
            )
            events: list[dict[str, Any]] = []
            while not posted.done() and not events:
                events = self._progress(user)
                if not events:
                    time.sleep(0.02)
            return posted.result(), events

    def _progress(self, user: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        path = f"/users/{user}/server/progress"
        with self.api("GET", path, as_user=user, stream=True) as response:
            if response.status_code != 200:
                return events
            for line in response.iter_lines(decode_unicode=True):
                if line.startswith("data:"):
                    event = json.loads(line[5:])
                    if not events and event.get("failed"):
                        return events  # an earlier attempt's failure, not this spawn
                    events.append(event)
                    if event.get("ready") or event.get("failed"):
                        break
        return events

    def wait_ready(self, user: str, timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.api("GET", f"/users/{user}").json()
            server = model.get("servers", {}).get("")
            if server and server.get("ready"):
                return dict(server)
            if (
                not server
                and model.get("pending") is None
                and time.monotonic() > deadline - timeout + 2
            ):
                raise AssertionError(
                    f"{user}'s server is gone: {model}\n{self.log.read_text()[-3000:]}"
                )
            time.sleep(0.2)
        raise AssertionError(
            f"{user}'s server not ready in {timeout}s\n{self.log.read_text()[-3000:]}"
        )

    def stop_server(self, user: str, timeout: float = 30) -> None:
        self.api("DELETE", f"/users/{user}/server")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.api("GET", f"/users/{user}").json()
            if not model.get("servers") and model.get("pending") is None:
                return
            time.sleep(0.2)
        raise AssertionError(f"{user}'s server did not stop")


@contextmanager
def running_hub(state: Path, **env: str) -> Iterator[Hub]:
    state.mkdir(parents=True, exist_ok=True)
    port = free_port()
    token = secrets.token_hex(16)
    environ = {
        **os.environ,
        "MOFANG_DEMO_CONFIG": str(DEMO_CONFIG),
        "MOFANG_DEMO_DIR": str(state),
        "MOFANG_DEMO_URL": f"http://127.0.0.1:{port}",
        "MOFANG_TEST_HUB_PORT": str(free_port()),
        "MOFANG_TEST_PROXY_API_PORT": str(free_port()),
        "MOFANG_TEST_TOKEN": token,
        **env,
    }
    log = state / "hub.log"
    hub_cmd = [str(Path(sys.executable).with_name("jupyterhub")), "-f", str(HERE / "hub_config.py")]
    with log.open("w") as out:
        process = subprocess.Popen(
            hub_cmd,
            cwd=state,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    hub = Hub(url=f"http://127.0.0.1:{port}", token=token, state=state, log=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"hub exited ({process.returncode}):\n{log.read_text()[-4000:]}"
                )
            try:
                if hub.api("GET", "/").status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"hub did not start:\n{log.read_text()[-4000:]}")
            time.sleep(0.2)
        yield hub
    finally:
        # The hub stops its servers (cleanup_servers) and the proxy on SIGTERM.
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
