"""The base of every Mofang REST handler: authentication, request bodies, one error mapping.

Errors of the Mofang tree become JSON bodies ``{"message": ..., "reason": ...}``
with the status the error class carries (400, 403, 404, 409); anything else
is a 500 whose details stay in the server log. Handlers never catch errors
themselves.

Request bodies are checked here, once, before any handler reads them: at most
:data:`MAX_BODY_BYTES` (413 otherwise), and JSON nested at most
:data:`MAX_JSON_DEPTH` deep (400 otherwise). Every Mofang request is a small
JSON object; the server-wide limit (``ServerApp.max_body_size``, 512 MiB by
default) is sized for notebook uploads, not for job requests, and a body
nested thousands deep would make the JSON parser itself fail.
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.base.handlers import APIHandler
from tornado import web

from mofang_spawner.errors import InvalidRequestError, MofangError

__all__ = ["MAX_BODY_BYTES", "MAX_JSON_DEPTH", "MofangHandler", "RequestTooLargeError"]

#: The largest request body a Mofang route accepts. A job or sweep request is a
#: few kilobytes; parameters are values for a notebook's cell, not data sets.
MAX_BODY_BYTES = 1024 * 1024
#: The deepest nesting of objects and lists a request body may have.
MAX_JSON_DEPTH = 32


class RequestTooLargeError(InvalidRequestError):
    """The request body is larger than :data:`MAX_BODY_BYTES` (HTTP 413)."""

    status_code = 413


class MofangHandler(APIHandler):
    """Authenticated JSON API handler mapping ``MofangError`` to HTTP statuses."""

    async def prepare(self) -> None:  # type: ignore[override]  # as APIHandler.prepare
        await super().prepare()
        # Anonymous requests are refused by @web.authenticated, whatever their body.
        if self.current_user is not None and self.request.method in ("POST", "PUT", "PATCH"):
            check_body(self.request.body)

    def write_json(self, body: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        error = exc_info[1] if exc_info else None
        if isinstance(error, MofangError):
            self.set_status(error.status_code)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"message": error.message, "reason": type(error).__name__}))
            return
        if isinstance(error, web.HTTPError):
            super().write_error(status_code, **kwargs)
            return
        self.log.error("Unexpected error in %s", self.request.path, exc_info=exc_info)
        self.set_status(500)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": "Internal error; the server log has the details."}))

    def _handle_request_exception(self, e: BaseException) -> None:
        # Tornado logs every non-HTTPError as an uncaught exception with a traceback;
        # ours are expected answers, not bugs.
        if isinstance(e, MofangError):
            self.log.info("%s %s: %s", self.request.method, self.request.path, e.message)
            self.send_error(e.status_code, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)


def check_body(body: bytes) -> None:
    """Refuse a request body that is too large, not JSON, or nested too deep."""
    if len(body) > MAX_BODY_BYTES:
        raise RequestTooLargeError(
            f"The request body has {len(body)} bytes; Mofang requests are at most "
            f"{MAX_BODY_BYTES} bytes. Pass large values as files in your storage, not as "
            "parameters."
        )
    if not body.strip():
        return
    try:
        data = json.loads(body)
    except RecursionError:  # deeper than the parser goes: certainly too deep
        depth = MAX_JSON_DEPTH + 1
    except ValueError as exc:
        raise InvalidRequestError(f"The request body is not JSON: {exc}") from exc
    else:
        depth = _depth(data)
    if depth > MAX_JSON_DEPTH:
        raise InvalidRequestError(
            f"The request body nests objects and lists more than {MAX_JSON_DEPTH} levels "
            "deep; send flatter values."
        )


def _depth(data: Any) -> int:
    """How deeply ``data`` nests dicts and lists (a scalar is 0), without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, level = stack.pop()
        if not isinstance(value, dict | list):
            continue
        deepest = max(deepest, level)
        if level <= MAX_JSON_DEPTH:  # deeper is too deep already: no need to look further
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, level + 1) for child in children)
    return deepest
