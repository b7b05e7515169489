"""``GET .../pods/NAME/log``: a container's output, whole, tailed or followed.

The first container of a pod that runs as a local process logs its combined
stdout and stderr to a file (see :mod:`processes`); other containers have
empty logs. Supported query parameters: ``container``, ``tailLines``,
``limitBytes`` and ``follow=true``, which streams new output until the
process ends. As on a cluster, a container that has not started yet answers
``400`` ("is waiting to start"), and a pod with several containers needs
``container``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from . import apistatus
from .kubelet import Kubelet

__all__ = ["serve_log"]

_POLL = 0.05


def _tail(data: bytes, lines: int) -> bytes:
    if lines <= 0:
        return b""
    parts = data.splitlines(keepends=True)
    return b"".join(parts[-lines:])


def _check_container(pod: dict[str, Any], container: str | None) -> str:
    names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    name = pod["metadata"]["name"]
    if container is None:
        if len(names) != 1:
            raise apistatus.bad_request(
                f"a container name must be specified for pod {name}, choose one of: "
                f"[{' '.join(names)}]"
            )
        return str(names[0])
    if container not in names:
        raise apistatus.bad_request(f"container {container} is not valid for pod {name}")
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    for status in statuses:
        waiting = (status.get("state") or {}).get("waiting")
        if status["name"] == container and waiting:
            raise apistatus.bad_request(
                f'container "{container}" in pod "{name}" is waiting to start: '
                f"{waiting.get('reason', 'ContainerCreating')}"
            )
    if not statuses:
        raise apistatus.bad_request(
            f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating'
        )
    return container


async def serve_log(
    request: web.Request,
    pod: dict[str, Any],
    kubelet: Kubelet | None,
    query: Callable[[str], str | None],
    flag: Callable[[str], bool],
    closing: asyncio.Event,
) -> web.StreamResponse:
    container = _check_container(pod, query("container"))
    first = pod["spec"]["containers"][0]["name"]
    runtime = kubelet.runtime(pod["metadata"]["uid"]) if kubelet else None
    path: Path | None = None
    if runtime is not None and runtime.process is not None and container == first:
        path = runtime.log_path
    data = path.read_bytes() if path is not None and path.exists() else b""
    tail = query("tailLines")
    if tail is not None:
        data = _tail(data, int(tail))
    limit = query("limitBytes")
    headers = {"Content-Type": "text/plain"}
    if not flag("follow") or path is None:
        return web.Response(body=data[: int(limit)] if limit else data, headers=headers)
    response = web.StreamResponse(status=200, headers=headers)
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(data)
    offset = path.stat().st_size if path.exists() else 0
    process = runtime.process if runtime else None
    try:
        while not closing.is_set():
            # Read "ended" before the file: output written before the exit
            # is then never missed.
            ended = process is None or process.exit_code is not None
            size = path.stat().st_size if path.exists() else 0
            if size > offset:
                with open(path, "rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read(size - offset)
                offset += len(chunk)
                await response.write(chunk)
                continue
            if ended:
                break
            await asyncio.sleep(_POLL)
        await response.write_eof()
    except ConnectionError:
        pass
    return response
