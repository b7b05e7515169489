"""The one module of the spawner that talks to the Kubernetes API.

:class:`Cluster` wraps the ``CoreV1Api`` client KubeSpawner already holds and
offers the few calls a Mofang spawn makes beyond KubeSpawner's own: list a
group's pods (the live quota), create with a server-side dry run first,
create and delete pods and claims, and make sure the user's identity
exists (their service account, its RoleBinding to the jobs Role, and their
entitlements in the namespace's ConfigMap, through the same client's
``RbacAuthorizationV1Api`` where needed).
Bodies and answers are plain dicts (no model classes: listing a busy
namespace stays cheap).

Failures follow the one policy of :mod:`~mofang_spawner.kubernetes.apicalls`
(shared with the job backend): timeouts, dropped connections, 429 and 5xx
answers are retried with a growing pause (honouring ``Retry-After``) until
``retry_timeout`` has passed; anything else is final. Every final failure,
whatever its origin, is turned into the Mofang error tree here, in
:func:`translate`, with a message for the person who must act: the user (a
namespace quota or an admission policy said no), or the administrator (the
hub's permissions, an invalid object, an unreachable API).

Nothing here watches: a spawn waits on the hub's two shared watches
(``reflectors.py``), which hold two connections of the shared client's pool
(100) however many spawns wait, where a watch per spawn would take the whole
pool at 50 spawns at once and leave every other request waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

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
from mofang_spawner.kubernetes.apicalls import (
    call_with_retries,
    refused_by_policy,
    status_message,
)

__all__ = ["Cluster", "ClusterUnavailableError", "translate"]

#: Pauses (seconds) between tries of :meth:`Cluster.delete_pod_later`: the first, the longest.
LEFTOVER_PAUSES = (1.0, 60.0)
# The deletions still being tried (kept here from the garbage collector).
_LEFTOVER_DELETIONS: set[asyncio.Task[None]] = set()


class ClusterUnavailableError(MofangError):
    """The Kubernetes API did not answer usefully within the retry time."""

    status_code = 503


def translate(exc: ApiException, action: str) -> MofangError:
    """The Mofang error for a final API failure while doing ``action`` ("create the pod")."""
    status = exc.status or 0
    message = status_message(exc)
    if status == 403 and "exceeded quota" in message:
        return PolicyError(
            f"The namespace's resource quota does not allow this server: {message}. Ask for "
            "fewer resources, stop another server, or ask an administrator to raise the quota."
        )
    if refused_by_policy(exc):
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

    async def delete_pod(
        self, name: str, *, grace_period_seconds: int = 0, uid: str | None = None
    ) -> None:
        """Delete pod ``name`` (now, by default); a pod that is already gone is fine.

        With ``uid``, only the pod of that uid: a ``ConflictError`` says that the
        pod of this name is another one now.
        """
        extra = {"body": {"preconditions": {"uid": uid}}} if uid else {}
        with contextlib.suppress(NotFoundError):
            await self._call(
                f"delete pod {name}",
                self._api.delete_namespaced_pod,
                name,
                self.namespace,
                grace_period_seconds=grace_period_seconds,
                **extra,
            )

    def delete_pod_later(
        self, name: str, *, uid: str | None, grace_period_seconds: int = 0
    ) -> None:
        """Go on deleting pod ``name`` (of ``uid``, if known) in the background until it is gone.

        For a pod whose deletion failed after all retries: tried again with a
        pause growing from ``LEFTOVER_PAUSES[0]`` to ``LEFTOVER_PAUSES[1]``
        seconds, for as long as the hub runs. Only that pod is deleted, by its
        uid (read at the first try when not given), so a new pod of the same
        name (a new server) is left alone.
        """

        async def delete() -> None:
            known = uid
            pause, longest = LEFTOVER_PAUSES
            while True:
                await asyncio.sleep(pause)
                try:
                    if known is None:
                        pod = await self.read_pod(name)
                        if pod is None:
                            return
                        known = pod["metadata"]["uid"]
                    await self.delete_pod(
                        name, grace_period_seconds=grace_period_seconds, uid=known
                    )
                except ConflictError:
                    self.log.info("Pod %s is a new server's now; not deleting it", name)
                    return
                except MofangError as exc:
                    self.log.warning("Still could not delete leftover pod %s: %s", name, exc)
                    pause = min(pause * 2, longest)
                    continue
                self.log.info("Deleted leftover pod %s", name)
                return

        task = asyncio.create_task(delete())
        _LEFTOVER_DELETIONS.add(task)
        task.add_done_callback(_LEFTOVER_DELETIONS.discard)

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

    # --- the one request path -----------------------------------------------------

    async def _call(self, action: str, method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Call ``method`` and return its JSON answer, with the retry policy of apicalls."""
        return await call_with_retries(
            action,
            method,
            *args,
            request_timeout=self.request_timeout,
            retry_timeout=self.retry_timeout,
            translate=translate,
            log=self.log,
            **kwargs,
        )
