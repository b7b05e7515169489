"""``MofangClient``: the REST client that the magics and the CLI share.

There is one source of truth for jobs, the server extension's REST API, and
every client goes through it: the sidebar, ``%mofang_submit`` in a kernel and
``mofang submit`` in a terminal. This module finds the server and speaks the
API with the standard library only (a kernel loads it on every start).
Sweeps (``mofang sweep``, ``%mofang_sweep``) go through the same client.

Finding the server, first match wins:

1. an explicit URL and token (``--url`` / ``--token``, or ``MOFANG_SERVER_URL``
   and ``MOFANG_TOKEN``);
2. inside a JupyterHub single-user server (its kernels and terminals):
   ``JUPYTERHUB_SERVICE_URL`` and ``JUPYTERHUB_API_TOKEN``, which the hub gives
   the server and the server passes on;
3. a Jupyter server of this machine listed in the Jupyter runtime directory
   (``jpserver-*.json``, as ``jupyter server list`` reads them): the one this
   process runs under, else the one whose root directory holds the current
   directory.

HTTP errors become the Mofang error of the same status, in one place
(:func:`_raise_for`), carrying the server's message.
"""

from __future__ import annotations

import codecs
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from http.client import HTTPResponse
from pathlib import Path
from typing import Any

from mofang_spawner.errors import (
    ConfigurationError,
    ConflictError,
    InvalidRequestError,
    MofangError,
    NotFoundError,
    PolicyError,
)

__all__ = ["MofangClient", "NoServerError", "ServerInfo", "find_server"]

_ERRORS: dict[int, type[MofangError]] = {
    400: InvalidRequestError,
    403: PolicyError,
    404: NotFoundError,
    409: ConflictError,
}

#: Seconds to wait for an answer that is not a stream.
REQUEST_TIMEOUT = 60.0
_SUBMIT_ATTEMPTS = 3


class NoServerError(ConfigurationError):
    """No Jupyter server with the Mofang extension could be found or reached."""


class ServerInfo:
    """Where the server is: its base URL (ending in ``/``) and a token for it."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.token = token

    def __repr__(self) -> str:
        return f"ServerInfo({self.url!r})"


def find_server(
    url: str | None = None, token: str | None = None, environ: Mapping[str, str] | None = None
) -> ServerInfo:
    """The server to talk to (see the module docstring for the order)."""
    env = os.environ if environ is None else environ
    url = url or env.get("MOFANG_SERVER_URL")
    if url:
        return ServerInfo(url, token or env.get("MOFANG_TOKEN", ""))
    if env.get("JUPYTERHUB_SERVICE_URL") and env.get("JUPYTERHUB_API_TOKEN"):
        return ServerInfo(env["JUPYTERHUB_SERVICE_URL"], token or env["JUPYTERHUB_API_TOKEN"])
    listed = _running_servers()
    if listed:
        chosen = _choose(listed)
        return ServerInfo(str(chosen["url"]), token or str(chosen.get("token", "")))
    raise NoServerError(
        "No Jupyter server found. Start JupyterLab (or your server from the hub), or tell "
        "Mofang where it is with --url URL --token TOKEN (or MOFANG_SERVER_URL and MOFANG_TOKEN)."
    )


def _running_servers() -> list[dict[str, Any]]:
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:  # pragma: no cover - jupyter_core comes with jupyter-server
        return []
    servers = []
    for path in sorted(Path(jupyter_runtime_dir()).glob("jpserver-*.json")):
        try:
            info = json.loads(path.read_text())
            os.kill(int(info["pid"]), 0)
        except (OSError, ValueError, KeyError):
            continue  # a file left by a server that is gone
        servers.append(info)
    return servers


def _choose(servers: list[dict[str, Any]]) -> dict[str, Any]:
    ancestors = _ancestors()
    for info in servers:
        if int(info["pid"]) in ancestors:
            return info
    here = Path.cwd().resolve()
    for info in servers:
        if here.is_relative_to(Path(str(info.get("root_dir", "/"))).resolve()):
            return info
    return servers[-1]


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    for _ in range(64):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if pid <= 1:
            break
        pids.add(pid)
    return pids or {os.getppid()}


def _raise_for(status: int, body: bytes, url: str) -> None:
    try:
        message = str(json.loads(body).get("message") or "")
    except (ValueError, AttributeError):
        message = ""
    if status in (401, 403) and not message:
        raise PolicyError(
            f"The server refused the request ({status}); check the token (--token / MOFANG_TOKEN)."
        )
    error = _ERRORS.get(status, MofangError)
    raise error(message or f"The server answered {status} to {url}.")


class MofangClient:
    """The REST API of the Mofang server extension, as Python calls returning JSON data."""

    def __init__(self, server: ServerInfo | None = None) -> None:
        self.server = server or find_server()

    # --- plumbing -----------------------------------------------------------------

    def _url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        url = urllib.parse.urljoin(self.server.url, f"mofang/api/{path}")
        return url + (f"?{urllib.parse.urlencode(query)}" if query else "")

    def _open(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = REQUEST_TIMEOUT,
    ) -> HTTPResponse:
        url = self._url(path, params)
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None or method == "POST":
            headers["Content-Type"] = "application/json"
            data = data if data is not None else b"{}"
        if self.server.token:
            headers["Authorization"] = f"token {self.server.token}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 - http(s) URL of the user's own server
        try:
            response: HTTPResponse = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310
        except urllib.error.HTTPError as exc:
            _raise_for(exc.code, exc.read(), url)
            raise  # pragma: no cover - _raise_for always raises
        except (urllib.error.URLError, OSError) as exc:
            raise NoServerError(
                f"Cannot reach the Jupyter server at {self.server.url} ({exc}); is it running?"
            ) from exc
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        with self._open(method, path, **kwargs) as response:
            return json.loads(response.read())

    # --- the API ------------------------------------------------------------------

    def backend(self) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", "backend")
        return result

    def submit(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Submit; a lost connection is retried with the same idempotency key."""
        for attempt in range(1, _SUBMIT_ATTEMPTS + 1):
            try:
                result: dict[str, Any] = self._json("POST", "jobs", body=dict(request))
                return result
            except NoServerError:
                if attempt == _SUBMIT_ATTEMPTS or not request.get("idempotency_key"):
                    raise
                time.sleep(0.5 * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def jobs(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._json("GET", "jobs")["jobs"]
        return result

    def job(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", f"jobs/{urllib.parse.quote(job_id)}")
        return result

    def cancel(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("POST", f"jobs/{urllib.parse.quote(job_id)}/cancel")
        return result

    def logs(
        self, job_id: str, *, replica: str | None = None, follow: bool = False
    ) -> Iterator[str]:
        """A replica's output, chunk by chunk; with ``follow``, until the replica ends."""
        response = self._open(
            "GET",
            f"jobs/{urllib.parse.quote(job_id)}/logs",
            params={"replica": replica, "follow": "1" if follow else None},
            timeout=None if follow else REQUEST_TIMEOUT,
        )
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        with response:
            while True:
                data = response.read1(65536)
                if not data:
                    break
                text = decoder.decode(data)
                if text:
                    yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    def events(self, *, job_id: str | None = None, since: int = 0) -> Iterator[dict[str, Any]]:
        """State changes as dicts (``JobEvent``); for one job, until its final state."""
        response = self._open(
            "GET", "events", params={"job": job_id, "since": since}, timeout=REQUEST_TIMEOUT
        )
        with response:
            data: list[str] = []
            for raw in response:
                line = raw.decode("utf-8").rstrip("\r\n")
                if line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    yield json.loads("\n".join(data))
                    data = []

    # --- sweeps -------------------------------------------------------------------

    def create_sweep(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Start a sweep (or, with ``dry_run``, describe its trials)."""
        result: dict[str, Any] = self._json("POST", "sweeps", body=dict(request))
        return result

    def sweeps(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._json("GET", "sweeps")["sweeps"]
        return result

    def sweep(self, sweep_id: str) -> dict[str, Any]:
        """One sweep with its trials and its best trial so far."""
        result: dict[str, Any] = self._json("GET", f"sweeps/{urllib.parse.quote(sweep_id)}")
        return result

    def cancel_sweep(self, sweep_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("POST", f"sweeps/{urllib.parse.quote(sweep_id)}/cancel")
        return result

    def apply_best(self, sweep_id: str, notebook: str) -> dict[str, Any]:
        """Write the sweep's best values into ``notebook``'s cell tagged ``parameters``."""
        result: dict[str, Any] = self._json(
            "POST",
            f"sweeps/{urllib.parse.quote(sweep_id)}/apply-best",
            body={"notebook": notebook},
        )
        return result
