"""The one module of the job backend that talks to the Kubernetes API.

:class:`JobCluster` offers the calls the backend makes in the namespace of
the user's server: create, read, list, watch and delete job objects of the
four kinds (custom resources of the operators, or batch Jobs), their pods
and pod logs, the Volcano PodGroup and Queue that explain a wait, and the
Katib Experiments and Trials a sweep on the cluster runs as. It
uses the request path the spawner uses (:mod:`mofang_spawner.kubernetes.apicalls`):
plain JSON, retries of what is worth retrying, and every final failure
translated here, once, into the Mofang error tree with a message for whoever
must act.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from kubernetes_asyncio import config as kube_config
from kubernetes_asyncio.client import (
    ApiClient,
    BatchV1Api,
    Configuration,
    CoreV1Api,
    CustomObjectsApi,
)
from kubernetes_asyncio.client.exceptions import ApiException

from mofang_lab.backends.kubernetes.manifests import KindInfo
from mofang_spawner.errors import (
    ConfigurationError,
    ConflictError,
    InvalidRequestError,
    MofangError,
    NotFoundError,
    PolicyError,
)
from mofang_spawner.kubernetes.apicalls import (
    MAX_PAUSE,
    WatchBroken,
    call_with_retries,
    open_watch,
    refused_by_policy,
    status_message,
    watch_events,
    watch_timeout,
)
from mofang_spawner.kubernetes.cluster import ClusterUnavailableError

__all__ = ["TRIAL_EXPERIMENT_LABEL", "ApiClient", "JobCluster", "connect", "translate"]

Obj = dict[str, Any]

_VOLCANO = ("scheduling.volcano.sh", "v1beta1")
_KATIB = ("kubeflow.org", "v1beta1")
#: The label Katib puts on each Trial: the name of its Experiment.
TRIAL_EXPERIMENT_LABEL = "katib.kubeflow.org/experiment"


def translate(exc: ApiException, action: str) -> MofangError:
    """The Mofang error for a final API failure while doing ``action`` ("create the job")."""
    status = exc.status or 0
    message = status_message(exc)
    if status == 403 and "exceeded quota" in message:
        return PolicyError(
            f"The namespace's resource quota does not allow this job: {message}. Ask for fewer "
            "resources, or wait for other jobs to finish."
        )
    if refused_by_policy(exc):
        return PolicyError(f"The cluster's policy refused to {action}: {message}")
    if status == 401:
        return ConfigurationError(
            f"The Kubernetes API refused this server's credentials while trying to {action} "
            f"({message}). Restart your server from the hub; if it persists, tell an "
            "administrator."
        )
    if status == 403:
        return ConfigurationError(
            f"Your server is not allowed to {action} ({message}). An administrator must grant "
            "the job permissions (hub-config/kubernetes/jobs/rbac.yaml)."
        )
    if status in (400, 422):
        return InvalidRequestError(f"The cluster rejected the request to {action}: {message}.")
    if status == 404:
        return NotFoundError(f"Could not {action}: {message}.")
    if status == 409:
        return ConflictError(f"Could not {action}: {message}.")
    return ClusterUnavailableError(
        f"The Kubernetes API could not {action} ({status or 'no answer'}: {message}). "
        "Try again in a minute; if it persists, tell an administrator."
    )


async def connect(kubeconfig: str | None) -> ApiClient:
    """An API client: the pod's service account in a pod, else ``kubeconfig`` (or the default)."""
    configuration = Configuration()
    try:
        if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            kube_config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
        else:
            await kube_config.load_kube_config(
                config_file=kubeconfig, client_configuration=configuration
            )
    except (kube_config.ConfigException, OSError) as exc:
        raise ConfigurationError(
            f"Cannot find how to reach the cluster ({exc}); run the server in a pod, or set "
            "c.KubernetesBackend.kubeconfig (or KUBECONFIG)."
        ) from exc
    return ApiClient(configuration)


class JobCluster:
    """Job objects, pods and logs in one namespace."""

    def __init__(
        self,
        api_client: ApiClient,
        namespace: str,
        *,
        request_timeout: float = 10.0,
        retry_timeout: float = 30.0,
        log: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    ) -> None:
        self.namespace = namespace
        self.request_timeout = request_timeout
        self.retry_timeout = retry_timeout
        self.log = log or logging.getLogger(__name__)
        # The generated clients are untyped; their calls are checked here instead.
        self._custom: Any = CustomObjectsApi(api_client)
        self._core: Any = CoreV1Api(api_client)
        self._batch: Any = BatchV1Api(api_client)

    # --- job objects ------------------------------------------------------------

    async def create(self, info: KindInfo, obj: Obj) -> Obj:
        action = f"create the {info.kind} {obj['metadata']['name']}"
        if info.replica_specs is None:
            return await self._call(action, self._batch.create_namespaced_job, self.namespace, obj)
        return await self._call(
            action,
            self._custom.create_namespaced_custom_object,
            info.group,
            info.version,
            self.namespace,
            info.plural,
            obj,
        )

    async def read(self, info: KindInfo, name: str) -> Obj | None:
        try:
            if info.replica_specs is None:
                return await self._call(
                    f"read the Job {name}", self._batch.read_namespaced_job, name, self.namespace
                )
            return await self._call(
                f"read the {info.kind} {name}",
                self._custom.get_namespaced_custom_object,
                info.group,
                info.version,
                self.namespace,
                info.plural,
                name,
            )
        except NotFoundError:
            return None

    async def list_objects(self, info: KindInfo, label_selector: str) -> Obj:
        """The list answer (``items`` and ``metadata.resourceVersion``)."""
        method, args = self._list_method(info)
        return await self._call(f"list {info.plural}", method, *args, label_selector=label_selector)

    async def delete(self, info: KindInfo, name: str) -> bool:
        """Delete ``name`` and, first, its pods (foreground); False if it was already gone."""
        body = {"propagationPolicy": "Foreground"}
        try:
            if info.replica_specs is None:
                await self._call(
                    f"delete the Job {name}",
                    self._batch.delete_namespaced_job,
                    name,
                    self.namespace,
                    body=body,
                )
            else:
                await self._call(
                    f"delete the {info.kind} {name}",
                    self._custom.delete_namespaced_custom_object,
                    info.group,
                    info.version,
                    self.namespace,
                    info.plural,
                    name,
                    body=body,
                )
        except NotFoundError:
            return False
        return True

    # --- pods, logs, scheduling --------------------------------------------------

    async def pods(self, label_selector: str) -> list[Obj]:
        answer = await self._call(
            "list the job's pods",
            self._core.list_namespaced_pod,
            self.namespace,
            label_selector=label_selector,
        )
        return list(answer.get("items") or [])

    async def pod_group(self, name: str) -> Obj | None:
        return await self._optional(
            f"read the PodGroup {name}",
            self._custom.get_namespaced_custom_object,
            *_VOLCANO,
            self.namespace,
            "podgroups",
            name,
        )

    async def queue(self, name: str) -> Obj | None:
        return await self._optional(
            f"read the queue {name}",
            self._custom.get_cluster_custom_object,
            *_VOLCANO,
            "queues",
            name,
        )

    async def pod_log(self, pod: str, container: str, *, follow: bool) -> AsyncIterator[str]:
        """The pod's output as text chunks; with ``follow``, until the container ends."""
        timeout = watch_timeout(self.request_timeout, 3600) if follow else self.request_timeout * 3
        try:
            response = await self._core.read_namespaced_pod_log(
                pod,
                self.namespace,
                container=container,
                follow=follow,
                _preload_content=False,
                _request_timeout=timeout,
            )
        except ApiException as exc:
            raise translate(exc, f"read the log of pod {pod}") from exc
        if response.status != 200:
            # Unread answers do not raise: an error must not reach the user as log text.
            error = ApiException(status=response.status, reason=response.reason)
            error.body = await response.read()
            response.release()
            raise translate(error, f"read the log of pod {pod}")
        try:
            async for chunk in response.content.iter_any():
                yield chunk.decode("utf-8", "replace")
        except (TimeoutError, aiohttp.ClientError) as exc:
            self.log.info("Log stream of %s ended: %r", pod, exc)
        finally:
            response.release()

    # --- Katib: a sweep's Experiment and its Trials ------------------------------

    async def create_experiment(self, obj: Obj) -> Obj:
        return await self._call(
            f"create the Experiment {obj['metadata']['name']}",
            self._custom.create_namespaced_custom_object,
            *_KATIB,
            self.namespace,
            "experiments",
            obj,
        )

    async def read_experiment(self, name: str) -> Obj | None:
        return await self._optional(
            f"read the Experiment {name}",
            self._custom.get_namespaced_custom_object,
            *_KATIB,
            self.namespace,
            "experiments",
            name,
        )

    async def list_experiments(self, label_selector: str) -> list[Obj]:
        answer = await self._call(
            "list Experiments",
            self._custom.list_namespaced_custom_object,
            *_KATIB,
            self.namespace,
            "experiments",
            label_selector=label_selector,
        )
        return list(answer.get("items") or [])

    async def delete_experiment(self, name: str) -> bool:
        """Delete the Experiment and, first, its Trials and their jobs (foreground)."""
        try:
            await self._call(
                f"delete the Experiment {name}",
                self._custom.delete_namespaced_custom_object,
                *_KATIB,
                self.namespace,
                "experiments",
                name,
                body={"propagationPolicy": "Foreground"},
            )
        except NotFoundError:
            return False
        return True

    async def trials(self, experiment: str) -> list[Obj]:
        """The Trials of one Experiment (Katib labels each with its Experiment's name)."""
        answer = await self._call(
            f"list the Trials of {experiment}",
            self._custom.list_namespaced_custom_object,
            *_KATIB,
            self.namespace,
            "trials",
            label_selector=f"{TRIAL_EXPERIMENT_LABEL}={experiment}",
        )
        return list(answer.get("items") or [])

    def watch_experiments(
        self, label_selector: str, *, timeout_seconds: int = 300
    ) -> AsyncIterator[tuple[str, Obj]]:
        """``(type, Experiment)`` of the Experiments now, then each change (as :meth:`watch`)."""
        method = self._custom.list_namespaced_custom_object
        args = (*_KATIB, self.namespace, "experiments")
        return self._watch(method, args, label_selector, timeout_seconds)

    # --- watching -----------------------------------------------------------------

    def watch(
        self, info: KindInfo | None, label_selector: str, *, timeout_seconds: int = 300
    ) -> AsyncIterator[tuple[str, Obj]]:
        """``(type, object)`` of the current objects (``info`` None: pods), then each change.

        Lists, then watches from the list's resourceVersion, so nothing between
        the two is lost; when the stream drops it lists and watches again (the
        current objects come again as ``ADDED``: callers tolerate repeats).
        Listing failures end it like any other call.
        """
        method, args = self._list_method(info)
        return self._watch(method, args, label_selector, timeout_seconds)

    async def _watch(
        self, method: Any, args: tuple[Any, ...], label_selector: str, timeout_seconds: int
    ) -> AsyncIterator[tuple[str, Obj]]:
        pause = 0.05
        while True:
            listed = await self._call(
                "list what to watch", method, *args, label_selector=label_selector
            )
            # A list's items carry no kind (the list says it): add it, as the watch's do.
            kind = str(listed.get("kind") or "").removesuffix("List")
            for item in listed.get("items") or []:
                if kind:
                    item.setdefault("kind", kind)
                    item.setdefault("apiVersion", listed.get("apiVersion"))
                yield "ADDED", item
            version = (listed.get("metadata") or {}).get("resourceVersion")
            try:
                request = method(
                    *args,
                    label_selector=label_selector,
                    watch=True,
                    timeout_seconds=timeout_seconds,
                    allow_watch_bookmarks=False,
                    resource_version=version,
                    _preload_content=False,
                    _request_timeout=watch_timeout(self.request_timeout, timeout_seconds),
                )
                response = await open_watch(request, self.request_timeout)
                async for event in watch_events(response):
                    pause = 0.05
                    yield event
            except WatchBroken as exc:
                self.log.info("Watch of %s broke (%s); watching again", label_selector, exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_PAUSE)

    # --- plumbing -----------------------------------------------------------------

    def _list_method(self, info: KindInfo | None) -> tuple[Any, tuple[Any, ...]]:
        if info is None:
            return self._core.list_namespaced_pod, (self.namespace,)
        if info.replica_specs is None:
            return self._batch.list_namespaced_job, (self.namespace,)
        return self._custom.list_namespaced_custom_object, (
            info.group,
            info.version,
            self.namespace,
            info.plural,
        )

    async def _optional(self, action: str, method: Any, *args: Any) -> Obj | None:
        try:
            return await self._call(action, method, *args)
        except NotFoundError:
            return None

    async def _call(self, action: str, method: Any, *args: Any, **kwargs: Any) -> Obj:
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
