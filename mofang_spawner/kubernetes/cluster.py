"""The one module of the spawner that talks to the Kubernetes API.

:class:`Cluster` wraps the ``CoreV1Api`` client KubeSpawner already holds and
offers the few calls a Mofang spawn makes beyond KubeSpawner's own: list a
group's pods (the live quota), create with a server-side dry run first,
create and delete pods and claims, watch one pod and its events, and make
sure the user's identity exists (their service account, its RoleBinding to
the jobs Role, and their entitlements in the namespace's ConfigMap, through
the same client's ``RbacAuthorizationV1Api`` where needed).
Bodies and answers are plain dicts (no model classes: listing a busy
namespace stays cheap).

Failures follow one policy. Timeouts, dropped connections, 429 and 5xx
answers are retried with a growing pause (honouring ``Retry-After``) until
``retry_timeout`` has passed; anything else is final. Every final failure,
whatever its origin, is turned into the Mofang error tree in exactly one
place, :func:`translate`, with a message for the person who must act: the
user (a namespace quota or an admission policy said no), or the
administrator (the hub's permissions, an invalid object, an unreachable API).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

import aiohttp
from kubernetes_asyncio.client import RbacAuthorizationV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from mofang_spawner.errors import (
    ConfigurationError,
    ConflictError,
    InvalidRequestError,
    MofangError,
    NotFoundError,
    PolicyError,
)

__all__ = ["Cluster", "ClusterUnavailableError", "translate"]

_TRANSIENT = {429, 500, 502, 503, 504}
_MAX_PAUSE = 2.0

WatchKind = Literal["pods", "events"]


class ClusterUnavailableError(MofangError):
    """The Kubernetes API did not answer usefully within the retry time."""

    status_code = 503


def translate(exc: ApiException, action: str) -> MofangError:
    """The Mofang error for a final API failure while doing ``action`` ("create the pod")."""
    status = exc.status or 0
    message = _status_message(exc)
    admission = "admission webhook" in message or "denied the request" in message
    if status == 403 and "exceeded quota" in message:
        return PolicyError(
            f"The namespace's resource quota does not allow this server: {message}. Ask for "
            "fewer resources, stop another server, or ask an administrator to raise the quota."
        )
    if admission:
        return PolicyError(f"The cluster's admission policy refused this server: {message}")
    if status == 401:
        return ConfigurationError(
            f"The Kubernetes API refused the hub's credentials while trying to {action} "
            f"({message}). An administrator must check the hub's service account or kubeconfig."
        )
    if status == 403:
        return ConfigurationError(
            f"The hub is not allowed to {action} ({message}). An administrator must grant "
            "the hub's service account this permission (hub-config/kubernetes/rbac.yaml)."
        )
    if status in (400, 422):
        return InvalidRequestError(
            f"The cluster rejected the request to {action} as invalid: {message}. This is a "
            "configuration problem: tell an administrator."
        )
    if status == 404:
        return NotFoundError(f"Could not {action}: {message}.")
    if status == 409:
        return ConflictError(f"Could not {action}: {message}.")
    return ClusterUnavailableError(
        f"The Kubernetes API could not {action} ({status or 'no answer'}: {message}). "
        "Try again in a minute; if it persists, tell an administrator."
    )


class Cluster:
    """One namespace, through an API client (``kubernetes_asyncio``'s ``CoreV1Api``)."""

    def __init__(
        self,
        api: Any,
        namespace: str,
        *,
        request_timeout: float,
        retry_timeout: float,
        log: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        rbac_api: Any = None,
    ) -> None:
        # The generated client is untyped; its calls are checked here instead.
        self._api: Any = api
        self._rbac_api: Any = rbac_api
        self.namespace = namespace
        self.request_timeout = request_timeout
        self.retry_timeout = retry_timeout
        self.log = log or logging.getLogger(__name__)

    # --- pods ------------------------------------------------------------------

    async def list_pods(self, label_selector: str) -> list[dict[str, Any]]:
        body = await self._call(
            "list the group's pods",
            self._api.list_namespaced_pod,
            self.namespace,
            label_selector=label_selector,
        )
        return list(body.get("items") or [])

    async def create_pod(self, pod: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """Create ``pod`` (``dry_run``: only ask the API server whether it would)."""
        extra = {"dry_run": "All"} if dry_run else {}
        action = "check the server's pod (dry run)" if dry_run else "create the server's pod"
        return await self._call(
            action, self._api.create_namespaced_pod, self.namespace, pod, **extra
        )

    async def delete_pod(self, name: str) -> None:
        """Delete pod ``name`` now; a pod that is already gone is fine."""
        with contextlib.suppress(NotFoundError):
            await self._call(
                f"delete pod {name}",
                self._api.delete_namespaced_pod,
                name,
                self.namespace,
                grace_period_seconds=0,
            )

    async def read_pod(self, name: str) -> dict[str, Any] | None:
        try:
            return await self._call(
                f"read pod {name}", self._api.read_namespaced_pod, name, self.namespace
            )
        except NotFoundError:
            return None

    # --- claims ---------------------------------------------------------------

    async def read_claim(self, name: str) -> dict[str, Any] | None:
        try:
            return await self._call(
                f"read claim {name}",
                self._api.read_namespaced_persistent_volume_claim,
                name,
                self.namespace,
            )
        except NotFoundError:
            return None

    async def create_claim(self, claim: dict[str, Any], *, dry_run: bool = False) -> bool:
        """Create ``claim``; False if one of that name exists already (it is kept)."""
        name = claim["metadata"]["name"]
        extra = {"dry_run": "All"} if dry_run else {}
        try:
            await self._call(
                f"create claim {name}",
                self._api.create_namespaced_persistent_volume_claim,
                self.namespace,
                claim,
                **extra,
            )
        except ConflictError:
            return False
        return True

    async def delete_claim(self, name: str) -> None:
        with contextlib.suppress(NotFoundError):
            await self._call(
                f"delete claim {name}",
                self._api.delete_namespaced_persistent_volume_claim,
                name,
                self.namespace,
            )

    # --- the user's identity ------------------------------------------------------

    async def create_service_account(self, account: dict[str, Any]) -> bool:
        """Create ``account``; False if it exists already (it is kept as it is)."""
        name = account["metadata"]["name"]
        try:
            await self._call(
                f"create service account {name}",
                self._api.create_namespaced_service_account,
                self.namespace,
                account,
            )
        except ConflictError:
            return False
        return True

    async def create_role_binding(self, binding: dict[str, Any]) -> bool:
        """Create ``binding``; False if one of that name exists already (it is kept)."""
        name = binding["metadata"]["name"]
        try:
            await self._call(
                f"create role binding {name}",
                self._rbac.create_namespaced_role_binding,
                self.namespace,
                binding,
            )
        except ConflictError:
            return False
        return True

    async def record_entitlements(self, config_map: dict[str, Any]) -> None:
        """Set the keys of ``config_map``'s data in the ConfigMap of its name, creating it.

        A merge patch of the keys only: the other users' keys are left alone,
        and two hubs (or two spawns) writing at once cannot undo each other.
        """
        name = config_map["metadata"]["name"]
        patch = {"data": config_map.get("data") or {}}
        for _ in range(2):
            try:
                await self._patch_config_map(name, patch)
                return
            except NotFoundError:
                pass
            try:
                await self._call(
                    f"create ConfigMap {name}",
                    self._api.create_namespaced_config_map,
                    self.namespace,
                    config_map,
                )
                return
            except ConflictError:
                # Created meanwhile by another spawn: patch it.
                continue
        await self._patch_config_map(name, patch)

    async def _patch_config_map(self, name: str, patch: dict[str, Any]) -> None:
        await self._call(
            f"update ConfigMap {name}",
            self._api.patch_namespaced_config_map,
            name,
            self.namespace,
            patch,
            _content_type="application/merge-patch+json",
        )

    @property
    def _rbac(self) -> Any:
        if self._rbac_api is None:
            self._rbac_api = RbacAuthorizationV1Api(self._api.api_client)
        return self._rbac_api

    # --- watching ---------------------------------------------------------------

    async def watch(
        self, kind: WatchKind, field_selector: str, *, timeout_seconds: int = 60
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """``(type, object)`` for the current objects, then for each change, forever.

        Lists first and watches from the list's resourceVersion, so nothing
        between the two is lost; when the stream ends or drops (server
        timeout, a proxy, a fault) it lists and watches again, and the
        current objects come again as ``ADDED``: callers must tolerate
        repeats. It gives up only when listing fails, like any other call
        (after ``retry_timeout``); a watch that will not open is retried for
        as long as the list answers.
        """
        method = (
            self._api.list_namespaced_pod if kind == "pods" else self._api.list_namespaced_event
        )
        pause = 0.05
        while True:
            try:
                listed = await self._call(
                    f"list {kind}", method, self.namespace, field_selector=field_selector
                )
                for item in listed.get("items") or []:
                    yield "ADDED", item
                version = (listed.get("metadata") or {}).get("resourceVersion")
                async for event in self._stream(method, field_selector, version, timeout_seconds):
                    pause = 0.05
                    yield event
            except _WatchBroken as exc:
                self.log.info(
                    "Watch of %s (%s) broke (%s); watching again", kind, field_selector, exc
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, _MAX_PAUSE)

    async def _stream(
        self, method: Any, field_selector: str, version: str | None, timeout_seconds: int
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        kwargs: dict[str, Any] = {
            "field_selector": field_selector,
            "watch": True,
            "timeout_seconds": timeout_seconds,
            "allow_watch_bookmarks": False,
            "_preload_content": False,
            # No total limit: the server ends the stream after timeout_seconds.
            "_request_timeout": aiohttp.ClientTimeout(
                total=None, sock_connect=self.request_timeout, sock_read=timeout_seconds + 10
            ),
        }
        if version:
            kwargs["resource_version"] = version
        response = await self._open(method(self.namespace, **kwargs))
        try:
            if response.status != 200:
                raise _WatchBroken(f"watch answered {response.status}")
            async for line in response.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                kind = event.get("type")
                obj = event.get("object") or {}
                if kind == "ERROR":
                    # 410 Gone (the version is too old) and friends: list again.
                    raise _WatchBroken(f"watch error {obj.get('code')}: {obj.get('message')}")
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    yield kind, obj
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise _WatchBroken(f"the watch dropped: {exc!r}") from exc
        finally:
            response.release()

    async def _open(self, request: Any) -> Any:
        """The response of a watch request once its headers arrive.

        A request that does not answer in time is abandoned, not awaited:
        cancelling a connection that is still opening can take as long as
        the connection itself, and the spawn must not wait for it.
        """
        task = asyncio.ensure_future(request)
        done, _ = await asyncio.wait({task}, timeout=self.request_timeout)
        if not done:
            task.cancel()
            raise _WatchBroken(f"the watch did not answer in {self.request_timeout:g}s")
        try:
            return task.result()
        except (aiohttp.ClientError, ApiException) as exc:
            raise _WatchBroken(f"could not open the watch: {exc!r}") from exc

    # --- the one request path -----------------------------------------------------

    async def _call(self, action: str, method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Call ``method`` and return its JSON answer, retrying what is worth retrying."""
        deadline = time.monotonic() + self.retry_timeout
        pause = 0.1
        while True:
            try:
                return await self._once(method, *args, **kwargs)
            except ApiException as exc:
                status = exc.status or 0
                transient = status == 0 or status in _TRANSIENT
                wait = _retry_after(exc) or pause
                if not transient or time.monotonic() + wait > deadline:
                    raise translate(exc, action) from exc
                self.log.info(
                    "Retrying to %s in %.1fs after %s", action, wait, status or exc.reason
                )
                await asyncio.sleep(wait)
                pause = min(pause * 2, _MAX_PAUSE)

    async def _once(self, method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """One request; every failure comes out as an ApiException (status 0: no answer)."""
        try:
            response = await asyncio.wait_for(
                method(*args, _preload_content=False, **kwargs), self.request_timeout
            )
            try:
                data = await asyncio.wait_for(response.read(), self.request_timeout)
            finally:
                response.release()
        except TimeoutError as exc:
            raise ApiException(status=0, reason=f"no answer in {self.request_timeout:g}s") from exc
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


class _WatchBroken(Exception):
    """A watch stream ended abnormally; the caller lists and watches again."""


def _status_message(exc: ApiException) -> str:
    body = getattr(exc, "body", None)
    if body:
        try:
            status = json.loads(body)
        except (TypeError, ValueError):
            return str(body)[:500]
        if isinstance(status, dict) and status.get("message"):
            return str(status["message"])
    return str(exc.reason or "no details")


def _retry_after(exc: ApiException) -> float | None:
    headers = getattr(exc, "headers", None) or {}
    try:
        value = headers.get("Retry-After")
        return min(float(value), 10.0) if value is not None else None
    except (TypeError, ValueError):
        return None
