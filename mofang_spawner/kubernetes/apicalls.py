"""One request path to the Kubernetes API: plain JSON, retries, and watch streams.

Shared by the spawner's :mod:`~mofang_spawner.kubernetes.cluster` and the job
backend's client, so both follow one failure policy. Bodies and answers are
plain dicts (no model classes). Timeouts, dropped connections, 429 and 5xx
answers are retried with a growing pause (honouring ``Retry-After``) until the
retry time has passed; anything else is final and handed to the caller's
``translate``, which says in the Mofang error tree who must act and how.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

from mofang_spawner.errors import MofangError

__all__ = [
    "MAX_PAUSE",
    "WatchBroken",
    "call_once",
    "call_with_retries",
    "open_watch",
    "refused_by_policy",
    "retry_after",
    "status_message",
    "watch_events",
    "watch_timeout",
]

TRANSIENT = frozenset({429, 500, 502, 503, 504})
MAX_PAUSE = 2.0

Translate = Callable[[ApiException, str], MofangError]


class WatchBroken(Exception):
    """A watch stream ended abnormally; the caller lists and watches again."""


async def call_once(
    method: Any, *args: Any, request_timeout: float, **kwargs: Any
) -> dict[str, Any]:
    """One request; every failure comes out as an ApiException (status 0: no answer)."""
    try:
        response = await asyncio.wait_for(
            method(*args, _preload_content=False, **kwargs), request_timeout
        )
        try:
            data = await asyncio.wait_for(response.read(), request_timeout)
        finally:
            response.release()
    except TimeoutError as exc:
        raise ApiException(status=0, reason=f"no answer in {request_timeout:g}s") from exc
    except aiohttp.ClientError as exc:
        raise ApiException(status=0, reason=f"connection failed: {exc}") from exc
    if not 200 <= response.status <= 299:
        error = ApiException(status=response.status, reason=response.reason)
        error.body = data
        error.headers = response.headers
        raise error
    try:
        answer: dict[str, Any] = json.loads(data)
    except ValueError as exc:
        raise ApiException(status=0, reason="the answer is not JSON") from exc
    return answer


async def call_with_retries(
    action: str,
    method: Any,
    *args: Any,
    request_timeout: float,
    retry_timeout: float,
    translate: Translate,
    log: logging.Logger | logging.LoggerAdapter[Any],
    **kwargs: Any,
) -> dict[str, Any]:
    """Call ``method`` and return its JSON answer, retrying what is worth retrying."""
    deadline = time.monotonic() + retry_timeout
    pause = 0.1
    while True:
        try:
            return await call_once(method, *args, request_timeout=request_timeout, **kwargs)
        except ApiException as exc:
            status = exc.status or 0
            transient = status == 0 or status in TRANSIENT
            wait = retry_after(exc) or pause
            if not transient or time.monotonic() + wait > deadline:
                raise translate(exc, action) from exc
            log.info("Retrying to %s in %.1fs after %s", action, wait, status or exc.reason)
            await asyncio.sleep(wait)
            pause = min(pause * 2, MAX_PAUSE)


async def open_watch(request: Any, request_timeout: float) -> Any:
    """The response of a watch request once its headers arrive.

    A request that does not answer in time is abandoned, not awaited:
    cancelling a connection that is still opening can take as long as the
    connection itself, and the caller must not wait for it.
    """
    task = asyncio.ensure_future(request)
    done, _ = await asyncio.wait({task}, timeout=request_timeout)
    if not done:
        task.cancel()
        raise WatchBroken(f"the watch did not answer in {request_timeout:g}s")
    try:
        return task.result()
    except (aiohttp.ClientError, ApiException) as exc:
        raise WatchBroken(f"could not open the watch: {exc!r}") from exc


async def watch_events(response: Any) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """``(type, object)`` of each event of an open watch response, until it ends."""
    try:
        if response.status != 200:
            raise WatchBroken(f"watch answered {response.status}")
        async for line in response.content:
            if not line.strip():
                continue
            event = json.loads(line)
            kind = event.get("type")
            obj = event.get("object") or {}
            if kind == "ERROR":
                # 410 Gone (the version is too old) and friends: list again.
                raise WatchBroken(f"watch error {obj.get('code')}: {obj.get('message')}")
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                yield kind, obj
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        raise WatchBroken(f"the watch dropped: {exc!r}") from exc
    finally:
        response.release()


def watch_timeout(request_timeout: float, timeout_seconds: int) -> aiohttp.ClientTimeout:
    """No total limit on a watch: the server ends the stream after ``timeout_seconds``."""
    return aiohttp.ClientTimeout(
        total=None, sock_connect=request_timeout, sock_read=timeout_seconds + 10
    )


def status_message(exc: ApiException) -> str:
    """The message of the ``Status`` body of a failed call, or its reason."""
    body = getattr(exc, "body", None)
    if body:
        try:
            status = json.loads(body)
        except (TypeError, ValueError):
            return str(body)[:500]
        if isinstance(status, dict) and status.get("message"):
            return str(status["message"])
    return str(exc.reason or "no details")


def refused_by_policy(exc: ApiException) -> bool:
    """Whether the API server's admission refused the request (a webhook, or a
    ValidatingAdmissionPolicy such as the jobs guard), rather than RBAC or validation."""
    message = status_message(exc)
    return (exc.status or 0) in (400, 403, 422) and any(
        words in message for words in ("admission webhook", "denied the request", "denied request")
    )


def retry_after(exc: ApiException) -> float | None:
    headers = getattr(exc, "headers", None) or {}
    try:
        value = headers.get("Retry-After")
        return min(float(value), 10.0) if value is not None else None
    except (TypeError, ValueError):
        return None
