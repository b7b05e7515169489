"""Fixtures for job tests: a jupyter-server with the extension, fast supervision, users.

``jp_fetch`` talks to a real jupyter-server (pytest-jupyter) whose root
directory is a temporary folder: the user's files, where job folders and the
job store are created. Two users can be told apart by token
(:class:`TokenUsers`), to check that jobs are private.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.auth.identity import IdentityProvider, User

from mofang_lab.backends.local.processes import alive, read_state, signal_group

# Training processes started by tests share two cores with everything else.
os.environ.setdefault("OMP_NUM_THREADS", "1")

TOKENS = {"alice-token": "alice", "bob-token": "bob"}


class TokenUsers(IdentityProvider):  # type: ignore[misc]
    """Test identity provider: ``Authorization: token alice-token`` is alice, and so on."""

    def get_user(self, handler: Any) -> User | None:
        header = handler.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "token" and token in TOKENS:
            handler._token_authenticated = True  # a token, not a cookie: no XSRF check
            return User(username=TOKENS[token])
        return None


def stop_replicas_under(path: Path) -> None:
    """Kill the replicas of jobs under ``path`` that still run.

    Jobs outlive their server by design, so a test that fails halfway would leave
    its replicas running; this ends them, by the process groups their runners lead.
    """
    for state_file in path.rglob("jobs/*/.run/*.json"):
        state = read_state(state_file)
        if state is not None and alive(state.pid, state.start_ticks):
            signal_group(state.pid, signal.SIGKILL)


@pytest.fixture(autouse=True)
def _no_replica_outlives_its_test(tmp_path: Path) -> Iterator[None]:
    yield
    stop_replicas_under(tmp_path)


def server_config(**local_backend: Any) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"mofang_lab": True}},
        "LocalBackend": {"poll_interval": 0.05, "stop_grace_seconds": 3, **local_backend},
    }


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return server_config()


Fetch = Callable[..., Awaitable[Any]]


async def api(
    jp_fetch: Fetch, *parts: str, method: str = "GET", body: Any = None, **kw: Any
) -> Any:
    """A JSON call to /mofang/api/...; returns the decoded body."""
    if body is not None:
        kw["body"] = json.dumps(body)
    elif method == "POST":
        kw["body"] = "{}"
    response = await jp_fetch("mofang", "api", *parts, method=method, **kw)
    return json.loads(response.body)


async def wait_finished(jp_fetch: Fetch, job_id: str, **kw: Any) -> dict[str, Any]:
    """Follow the job's event stream until its final state; then the job."""
    await jp_fetch("mofang", "api", "events", params={"job": job_id}, request_timeout=300, **kw)
    job: dict[str, Any] = await api(jp_fetch, "jobs", job_id, **kw)
    assert job["state"] in ("Succeeded", "Failed", "Cancelled"), job
    return job


def log_of(root: Path, job: dict[str, Any], replica: str) -> str:
    entry = next(r for r in job["replicas"] if r["name"] == replica)
    return (root / entry["log"]).read_text()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "local_backend(**traits): LocalBackend settings for the test's server"
    )
