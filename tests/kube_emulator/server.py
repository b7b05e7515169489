"""The HTTP face of the emulator: Kubernetes REST paths and JSON over aiohttp.

Routes every request by its path, as the API server's handler chain does:

* ``/version``, ``/healthz``, ``/api``, ``/apis``, ``/api/v1``,
  ``/apis/GROUP[/VERSION]``: discovery (:mod:`discovery`);
* ``{/api/v1,/apis/GROUP/VERSION}[/namespaces/NS]/PLURAL[/NAME[/SUBRESOURCE]]``:
  list / watch / create / delete-collection on a collection; get / update /
  patch / delete on an object; the ``status`` subresource; ``pods/NAME/log``.
  The legacy ``/api/v1/watch/...`` prefix is understood too.

Before a request reaches the store, a middleware records it
(``kube.requests``) and applies injected faults (:mod:`faults`). Every error
leaves as a Kubernetes ``Status`` body with its code.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import yaml
from aiohttp import web

from . import apistatus, discovery
from .apistatus import ApiError
from .faults import Faults
from .kubelet import Kubelet
from .logs import serve_log
from .patching import content_type_to_patch_type
from .recording import Request, RequestLog
from .resources import Registry, ResourceType
from .selectors import parse_field_selector, parse_label_selector
from .store import Store
from .watching import WatchStreams

__all__ = ["ApiServer"]

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def _error_response(error: ApiError) -> web.Response:
    return web.json_response(error.body, status=error.code, headers=error.headers)


def _not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def _parse_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        if "yaml" in content_type:
            try:
                return yaml.safe_load(text)
            except yaml.YAMLError:
                pass
        return text


class _Query:
    """Query parameters with the API server's parsing of booleans and integers."""

    def __init__(self, request: web.Request) -> None:
        self.values = parse_qs(request.query_string, keep_blank_values=True)

    def get(self, name: str) -> str | None:
        values = self.values.get(name)
        return values[-1] if values else None

    def flag(self, name: str) -> bool:
        value = self.get(name)
        if value is None or value == "":
            return False
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise apistatus.bad_request(f'invalid boolean value for "{name}": {value}')

    def integer(self, name: str) -> int | None:
        value = self.get(name)
        if value is None or value == "":
            return None
        try:
            return int(value)
        except ValueError:
            raise apistatus.bad_request(f'invalid integer value for "{name}": {value}') from None


class ApiServer:
    """Builds the aiohttp application over the emulator's store."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        faults: Faults,
        requests: RequestLog,
        kubelet: Callable[[], Kubelet | None],
    ) -> None:
        self._store = store
        self._registry = registry
        self._faults = faults
        self._requests = requests
        self._kubelet = kubelet
        self.watches = WatchStreams(store, faults)
        self.closing = asyncio.Event()

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 2**20)
        app.router.add_route("*", "/{tail:.*}", self._route)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = await request.read()
        query = parse_qs(request.query_string, keep_blank_values=True)
        index = self._requests.add(
            Request(request.method, request.path, query, _parse_body(raw, request.content_type))
        )
        response = await self._answer(request, handler)
        self._requests.answered(index, response.status)
        return response

    async def _answer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        delay = self._faults.delay_for(request.method, request.path)
        if delay:
            await asyncio.sleep(delay)
        failure = self._faults.failure_for(request.method, request.path)
        if failure is not None:
            return _error_response(failure)
        try:
            return await handler(request)
        except ApiError as error:
            return _error_response(error)
        except Exception as error:
            log.exception("emulator failed on %s %s", request.method, request.path)
            return _error_response(apistatus.internal_error(repr(error)))

    async def _route(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        parts = [part for part in path.split("/") if part]
        if path in ("/healthz", "/readyz", "/livez"):
            return web.Response(text="ok")
        if path == "/version":
            return web.json_response(discovery.VERSION_INFO)
        if parts == ["api"]:
            return web.json_response(discovery.api_versions())
        if parts == ["apis"]:
            return web.json_response(discovery.api_group_list(self._registry))
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) == 2 and parts[0] == "apis":
            document = discovery.api_group(self._registry, parts[1])
            if document is None:
                raise _not_found()
            return web.json_response(document)
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise _not_found()
        if not rest:
            listing = discovery.api_resource_list(self._registry, group, version)
            if listing is None:
                raise _not_found()
            return web.json_response(listing)
        query = _Query(request)
        watch = False
        if rest[0] == "watch":
            watch, rest = True, rest[1:]
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            inner = self._registry.by_path(group, version, rest[2])
            if inner is not None and inner.namespaced:
                namespace, rest = rest[1], rest[2:]
        rtype = self._registry.by_path(group, version, rest[0]) if rest else None
        if rtype is None or len(rest) > 3 or (namespace is not None and not rtype.namespaced):
            raise _not_found()
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else None
        if name is not None and rtype.namespaced and namespace is None:
            raise _not_found()
        if name is None:
            return await self._collection(
                request, query, rtype, namespace, watch or query.flag("watch")
            )
        if subresource is None:
            return await self._item(request, query, rtype, namespace, name)
        if subresource == "status" and rtype.status_subresource:
            return await self._status(request, query, rtype, namespace, name)
        if subresource == "log" and rtype.key == ("", "pods") and request.method == "GET":
            pod = self._store.get(rtype, namespace, name)
            return await serve_log(
                request, pod, self._kubelet(), query.get, query.flag, self.closing
            )
        raise _not_found()

    # -- collections -------------------------------------------------------------

    async def _collection(
        self,
        request: web.Request,
        query: _Query,
        rtype: ResourceType,
        namespace: str | None,
        watch: bool,
    ) -> web.StreamResponse:
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), rtype.kind)
        if request.method == "GET" and watch:
            return await self.watches.serve(
                request,
                rtype,
                namespace,
                labels,
                fields,
                query.get("resourceVersion"),
                query.integer("timeoutSeconds"),
            )
        if request.method == "GET":
            items, version = self._store.list_objects(rtype, namespace, labels, fields)
            return web.json_response(self._list_body(rtype, items, version, query))
        if request.method == "POST":
            if rtype.namespaced and namespace is None:
                raise apistatus.method_not_allowed("POST")
            body = await self._json_body(request)
            created = self._store.create(rtype, namespace, body, dry_run=_dry_run(query))
            return web.json_response(created, status=201)
        if request.method == "DELETE":
            items, version = self._store.list_objects(rtype, namespace, labels, fields)
            for item in items:
                metadata = item["metadata"]
                try:
                    self._store.delete(
                        rtype, metadata.get("namespace"), metadata["name"], dry_run=_dry_run(query)
                    )
                except ApiError as error:
                    if error.code != 404:
                        raise
            return web.json_response(self._list_body(rtype, items, version, query))
        raise apistatus.method_not_allowed(request.method)

    def _list_body(
        self, rtype: ResourceType, items: list[dict[str, Any]], version: int, query: _Query
    ) -> dict[str, Any]:
        if not rtype.custom:
            # Built-in lists leave kind and apiVersion out of their items.
            for item in items:
                item.pop("kind", None)
                item.pop("apiVersion", None)
        metadata: dict[str, Any] = {"resourceVersion": str(version)}
        token = query.get("continue")
        if token:
            try:
                start = json.loads(base64.urlsafe_b64decode(token.encode()))["start"]
            except (ValueError, KeyError):
                raise apistatus.ApiError(
                    410,
                    "Expired",
                    "the provided continue parameter is "
                    "too old to display a consistent list result",
                ) from None
            items = [i for i in items if _sort_key(i) > tuple(start)]
        limit = query.integer("limit")
        if limit and len(items) > limit:
            rest = len(items) - limit
            items = items[:limit]
            next_start = list(_sort_key(items[-1]))
            metadata["continue"] = base64.urlsafe_b64encode(
                json.dumps({"start": next_start}).encode()
            ).decode()
            metadata["remainingItemCount"] = rest
        return {
            "kind": f"{rtype.kind}List",
            "apiVersion": rtype.api_version,
            "metadata": metadata,
            "items": items,
        }

    # -- objects -------------------------------------------------------------------

    async def _json_body(self, request: web.Request) -> Any:
        raw = await request.read()
        parsed = _parse_body(raw, request.content_type)
        if parsed is None or isinstance(parsed, str):
            raise apistatus.bad_request(
                "the body of the request could not be decoded as JSON: "
                f"{raw[:80].decode(errors='replace')!r}"
            )
        return parsed

    async def _item(
        self,
        request: web.Request,
        query: _Query,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
    ) -> web.StreamResponse:
        method = request.method
        if method == "GET":
            return web.json_response(self._store.get(rtype, namespace, name))
        if method == "PUT":
            body = await self._json_body(request)
            return web.json_response(
                self._store.replace(rtype, namespace, name, body, dry_run=_dry_run(query))
            )
        if method == "PATCH":
            return web.json_response(
                await self._patch(request, query, rtype, namespace, name, None)
            )
        if method == "DELETE":
            raw = await request.read()
            options = _parse_body(raw, request.content_type) if raw else None
            options = options if isinstance(options, dict) else {}
            grace = query.integer("gracePeriodSeconds")
            if grace is None and options.get("gracePeriodSeconds") is not None:
                grace = int(options["gracePeriodSeconds"])
            obj, gone = self._store.delete(
                rtype,
                namespace,
                name,
                grace_seconds=grace,
                propagation=query.get("propagationPolicy") or options.get("propagationPolicy"),
                preconditions=options.get("preconditions"),
                dry_run=_dry_run(query, options),
            )
            if gone and not (rtype.custom or rtype.key == ("", "pods")):
                return web.json_response(
                    apistatus.success_body(
                        {
                            "name": name,
                            "kind": rtype.plural,
                            "uid": obj["metadata"].get("uid"),
                            **({"group": rtype.group} if rtype.group else {}),
                        }
                    )
                )
            return web.json_response(obj)
        raise apistatus.method_not_allowed(method)

    async def _status(
        self,
        request: web.Request,
        query: _Query,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
    ) -> web.StreamResponse:
        if request.method == "GET":
            return web.json_response(self._store.get(rtype, namespace, name))
        if request.method == "PUT":
            body = await self._json_body(request)
            return web.json_response(
                self._store.replace(
                    rtype, namespace, name, body, subresource="status", dry_run=_dry_run(query)
                )
            )
        if request.method == "PATCH":
            return web.json_response(
                await self._patch(request, query, rtype, namespace, name, "status")
            )
        raise apistatus.method_not_allowed(request.method)

    async def _patch(
        self,
        request: web.Request,
        query: _Query,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        subresource: str | None,
    ) -> dict[str, Any]:
        patch_type = content_type_to_patch_type(request.headers.get("Content-Type", ""))
        body = await self._json_body(request)
        return self._store.patch(
            rtype,
            namespace,
            name,
            body,
            patch_type,
            subresource=subresource,
            dry_run=_dry_run(query),
        )


def _sort_key(item: dict[str, Any]) -> tuple[str, str]:
    metadata = item.get("metadata") or {}
    return (metadata.get("namespace") or "", metadata.get("name") or "")


def _dry_run(query: _Query, delete_options: dict[str, Any] | None = None) -> bool:
    values = list(query.values.get("dryRun") or [])
    if delete_options:
        values += list(delete_options.get("dryRun") or [])
    for value in values:
        if value != "All":
            raise apistatus.bad_request(f'Unsupported value: "{value}": supported values: "All"')
    return bool(values)
