"""``KubeEmulator``: a Kubernetes API server, scheduler and kubelet in one test object.

::

    with KubeEmulator(nodes=[Node("gpu-1", capacity={"nvidia.com/gpu": "8"})],
                      run_pods=True) as kube:
        kube.write_kubeconfig(path)          # real clients connect to kube.url
        kube.create(pod); kube.get("pods", "default", "web")

The emulator serves real HTTP on ``127.0.0.1:<free port>`` from a background
thread with its own event loop (:mod:`server`), over one thread-safe store
(:mod:`store`). Tests use the same store directly: ``create`` / ``get`` /
``list`` / ``patch`` / ``patch_status`` / ``delete`` behave as the HTTP API
does (server-filled metadata, watch events, validation) and raise
:class:`ApiError` where the HTTP API would answer with an error.

Pods are scheduled and started by the fake kubelet (:mod:`kubelet`);
``run_pods=True`` runs their first container's command as a local process.
``kubelet=False`` leaves pods exactly as created, for tests that drive pod
status themselves. Leaving the ``with`` block stops every process, stream
and thread it started, and raises the first error of a controller hook or
of the kubelet, if any.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import yaml
from aiohttp import web

from .apistatus import ApiError
from .controllers import ControllerHooks, Handler
from .crds import crd_manifest, crd_version
from .events import EventRecorder
from .faults import Faults
from .kubelet import Kubelet
from .nodes import DEFAULT_NODES, Node, node_object
from .recording import Request, RequestLog
from .resources import Registry, ResourceType
from .selectors import parse_field_selector, parse_label_selector
from .server import ApiServer
from .store import Store

__all__ = ["KubeEmulator", "pids_of_closed_emulators"]

T = TypeVar("T")
Obj = dict[str, Any]
#: Host variables a container's process inherits (a container image would set them).
_INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "VIRTUAL_ENV")


_closed_pids: list[int] = []


def pids_of_closed_emulators() -> list[int]:
    """Pids of the pod processes of every emulator closed so far in this interpreter.

    None of them may still run: a test checks it at the end of the emulator tests.
    """
    return list(_closed_pids)


def _random_subnet() -> str:
    # 127.0.x.x and 127.1.x.x are left alone (127.0.0.1 and the nodes' addresses).
    return f"127.{random.randint(2, 254)}.{random.randint(0, 255)}.0/24"  # noqa: S311


class KubeEmulator:
    """See the module docstring; use as a context manager (or ``start()`` / ``close()``)."""

    def __init__(
        self,
        nodes: Iterable[Node] | None = None,
        *,
        run_pods: bool = False,
        kubelet: bool = True,
        namespace: str = "default",
        strict_namespaces: bool = False,
        history_limit: int = 10_000,
        pod_subnet: str | None = None,
    ) -> None:
        self.registry = Registry()
        self.store = Store(
            self.registry, history_limit=history_limit, strict_namespaces=strict_namespaces
        )
        self.namespace = namespace
        self.faults = Faults()
        #: Errors raised by controller hooks and the kubelet; the first is raised on close.
        self.errors: list[BaseException] = []
        self.run_pods = run_pods
        self.image_pull_fails: Callable[[str], bool] = lambda image: "unpullable" in image
        self.mount_fails: Callable[[Obj, Obj], bool] = lambda pod, volume: False
        #: Seconds the kubelet waits before starting a scheduled pod.
        self.pod_start_delay = 0.0
        #: Where pod IPs come from. Every address of 127.0.0.0/8 is this machine's
        #: loopback, so each pod can listen on the same port at its own IP. The
        #: default is a random /24 per emulator, not 127.0.0.0/24, so that test
        #: sessions running side by side do not take each other's addresses.
        self.pod_subnet = ipaddress.IPv4Network(pod_subnet or _random_subnet())
        #: The environment every container process starts from (then the container's own).
        self.process_env = {k: os.environ[k] for k in _INHERITED_ENV if k in os.environ}
        self.url = ""
        self._nodes = list(nodes) if nodes is not None else list(DEFAULT_NODES)
        self._with_kubelet = kubelet
        self._requests = RequestLog()
        self._events = EventRecorder(self.store, self.registry)
        self._controllers = ControllerHooks(self.store, self, self.errors)
        self._root: Path | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._server: ApiServer | None = None
        self._kubelet: Kubelet | None = None
        self._closed = False

    # -- life cycle ----------------------------------------------------------------

    def __enter__(self) -> KubeEmulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close(raise_errors=exc is None)

    def start(self) -> None:
        self._root = Path(tempfile.mkdtemp(prefix="kube-emulator-"))
        for name in ("default", "kube-system", "kube-public", self.namespace):
            if self.find("namespaces", None, name) is None:
                self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        node_type = self._type("nodes")
        for index, node in enumerate(self._nodes):
            self.store.create(node_type, None, node_object(node, index), keep_status=True)
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_serving())
            except BaseException as error:
                failure.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=serve, name="kube-emulator", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]

    async def _start_serving(self) -> None:
        assert self._root is not None
        if self._with_kubelet:
            self._kubelet = Kubelet(
                self.store, self.registry, self._events, self, self._root, self.errors
            )
            self._kubelet.attach()
        self._server = ApiServer(
            self.store, self.registry, self.faults, self._requests, lambda: self._kubelet
        )
        self._runner = web.AppRunner(
            self._server.application(), access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def _stop_serving(self) -> None:
        if self._server is not None:
            self._server.closing.set()
            self._server.watches.close_all()
        if self._kubelet is not None:
            await self._kubelet.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()

    def close(self, raise_errors: bool = True) -> None:
        """Stop serving, stop every pod process, end the threads; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._controllers.close()
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(self._stop_serving(), loop)
            with contextlib.suppress(Exception):
                future.result(timeout=30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
        if self._kubelet is not None:
            _closed_pids.extend(self._kubelet.started_pids)
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
        if raise_errors and self.errors:
            raise RuntimeError(
                f"the Kubernetes emulator saw {len(self.errors)} error(s) in controller hooks "
                f"or the kubelet; the first: {self.errors[0]!r}"
            ) from self.errors[0]

    # -- clients ---------------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        """A kubeconfig for this emulator, written on first use into its temporary folder."""
        assert self._root is not None, "start the emulator first"
        path = self._root / "kubeconfig"
        if not path.exists():
            self.write_kubeconfig(path)
        return path

    def write_kubeconfig(self, path: str | os.PathLike[str], namespace: str | None = None) -> Path:
        """Write a kubeconfig for real clients (``KUBECONFIG=path``); returns the path."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "emulator", "user": {"token": "emulator-token"}}],
            "contexts": [
                {
                    "name": "emulator",
                    "context": {
                        "cluster": "emulator",
                        "user": "emulator",
                        "namespace": namespace or self.namespace,
                    },
                }
            ],
            "current-context": "emulator",
            "preferences": {},
        }
        target = Path(path)
        target.write_text(yaml.safe_dump(config, sort_keys=False))
        return target

    @property
    def requests(self) -> list[Request]:
        """Every HTTP request received so far, in order (a copy)."""
        return self._requests.snapshot()

    def clear_requests(self) -> None:
        self._requests.clear()

    # -- direct access to the store -------------------------------------------------

    def _type(self, plural: str) -> ResourceType:
        try:
            return self.registry.by_plural(plural)
        except KeyError as error:
            raise ValueError(str(error)) from None

    def _namespace(self, rtype: ResourceType, namespace: str | None) -> str | None:
        return (namespace or self.namespace) if rtype.namespaced else None

    def create(self, obj: Obj, *, namespace: str | None = None, dry_run: bool = False) -> Obj:
        """Create ``obj`` (its ``apiVersion`` and ``kind`` say where); returns what was stored."""
        rtype = self.registry.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
        if rtype is None:
            raise ValueError(
                f"no resource type serves apiVersion={obj.get('apiVersion')!r} "
                f"kind={obj.get('kind')!r}; register custom resources with register_crd"
            )
        namespace = namespace or (obj.get("metadata") or {}).get("namespace")
        return self.store.create(rtype, self._namespace(rtype, namespace), obj, dry_run=dry_run)

    def get(self, plural: str, namespace: str | None, name: str) -> Obj:
        """The object; :class:`ApiError` 404 if there is none (see ``find``)."""
        rtype = self._type(plural)
        return self.store.get(rtype, self._namespace(rtype, namespace), name)

    def find(self, plural: str, namespace: str | None, name: str) -> Obj | None:
        """The object, or None."""
        rtype = self._type(plural)
        return self.store.find(rtype, self._namespace(rtype, namespace), name)

    def list(
        self,
        plural: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[Obj]:
        """Objects of ``plural`` (all namespaces when ``namespace`` is None)."""
        rtype = self._type(plural)
        items, _ = self.store.list_objects(
            rtype,
            namespace,
            parse_label_selector(label_selector),
            parse_field_selector(field_selector, rtype.kind),
        )
        return items

    def patch(
        self,
        plural: str,
        namespace: str | None,
        name: str,
        patch: Any,
        *,
        patch_type: str | None = None,
    ) -> Obj:
        """A merge patch (a list is a JSON patch); ``patch_type``: merge, strategic, json."""
        rtype = self._type(plural)
        kind = patch_type or ("json" if isinstance(patch, list) else "merge")
        return self.store.patch(rtype, self._namespace(rtype, namespace), name, patch, kind)

    def patch_status(self, plural: str, namespace: str | None, name: str, status: Obj) -> Obj:
        """Merge ``status`` into the object's status (through the status subresource)."""
        rtype = self._type(plural)
        return self.store.patch(
            rtype,
            self._namespace(rtype, namespace),
            name,
            {"status": status},
            "merge",
            subresource="status" if rtype.status_subresource else None,
        )

    def replace(self, plural: str, namespace: str | None, name: str, obj: Obj) -> Obj:
        rtype = self._type(plural)
        return self.store.replace(rtype, self._namespace(rtype, namespace), name, obj)

    def delete(
        self,
        plural: str,
        namespace: str | None,
        name: str,
        *,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
    ) -> Obj:
        """Delete as the API does (a running pod first gets ``deletionTimestamp``)."""
        rtype = self._type(plural)
        obj, _ = self.store.delete(
            rtype,
            self._namespace(rtype, namespace),
            name,
            grace_seconds=grace_period_seconds,
            propagation=propagation_policy,
        )
        return obj

    def compact(self) -> int:
        """Drop the watch history: resuming from an older resourceVersion is then a 410."""
        return self.store.compact()

    def add_event(
        self,
        involved_object: Obj,
        reason: str,
        message: str,
        type: str = "Normal",
        component: str = "kube-emulator",
    ) -> Obj:
        """Record a ``v1`` Event about ``involved_object`` (repeats raise its ``count``)."""
        return self._events.record(involved_object, reason, message, type, component=component)

    def register_crd(
        self,
        group: str,
        version: str,
        plural: str,
        kind: str,
        *,
        namespaced: bool = True,
        status_subresource: bool = True,
        singular: str | None = None,
        short_names: Iterable[str] = (),
    ) -> Obj:
        """Serve a custom resource by creating its CustomResourceDefinition (idempotent;
        a new version of a registered resource is added to its definition)."""
        crd_type = self._type("customresourcedefinitions.apiextensions.k8s.io")
        existing = self.store.find(crd_type, None, f"{plural}.{group}")
        if existing is None:
            return self.store.create(
                crd_type,
                None,
                crd_manifest(
                    group=group,
                    version=version,
                    plural=plural,
                    kind=kind,
                    namespaced=namespaced,
                    status_subresource=status_subresource,
                    singular=singular,
                    short_names=short_names,
                ),
            )
        if any(v["name"] == version for v in existing["spec"]["versions"]):
            return existing
        added = crd_version(version, status_subresource=status_subresource, storage=False)
        spec = {**existing["spec"], "versions": [*existing["spec"]["versions"], added]}
        return self.store.patch(
            crd_type, None, existing["metadata"]["name"], {"spec": spec}, "merge"
        )

    # -- controllers and waiting -------------------------------------------------------

    def on(self, kind: str, handler: Handler) -> None:
        """Call ``handler(kube, event_type, obj)`` for every change of ``kind`` (own thread)."""
        self._controllers.on(kind, handler)

    def wait_idle(self) -> None:
        """Block until controller hooks have handled every change so far."""
        self._controllers.wait_idle()

    def wait_for(self, predicate: Callable[[], T], timeout: float = 10.0, message: str = "") -> T:
        """Poll ``predicate`` until it returns something true (a 404 counts as false)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = predicate()
            except ApiError as error:
                if error.code != 404:
                    raise
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(message or f"condition not met within {timeout} s")
            time.sleep(0.02)

    def pod_process_id(self, namespace: str | None, name: str) -> int | None:
        """The pid of the process running a pod's first container, if there is one."""
        pod = self.find("pods", namespace, name)
        if pod is None or self._kubelet is None:
            return None
        runtime = self._kubelet.runtime(pod["metadata"]["uid"])
        return runtime.process.pid if runtime and runtime.process else None
