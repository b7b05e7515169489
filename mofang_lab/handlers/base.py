"""The base of every Mofang REST handler: authentication and one error mapping.

Errors of the Mofang tree become JSON bodies ``{"message": ..., "reason": ...}``
with the status the error class carries (400, 403, 404, 409); anything else
is a 500 whose details stay in the server log. Handlers never catch errors
themselves.
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.base.handlers import APIHandler
from tornado import web

from mofang_spawner.errors import MofangError

__all__ = ["MofangHandler"]


class MofangHandler(APIHandler):
    """Authenticated JSON API handler mapping ``MofangError`` to HTTP statuses."""

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
