"""What the status benchmark needs inside the Jupyter server it measures (never in production).

A jupyter-server extension with two authenticated routes:

* ``POST /mofang-bench/change?job=ID&state=STATE``: changes a job's state the
  way a backend does, through the job store and the backend's change
  notification (what the local supervisor does when a replica exits), and
  answers the stored event (``seq``, ``time``), so the client can time the push;
* ``GET /mofang-bench/requests``: how many requests the server has received,
  by path prefix, to count what an idle client asks for.

Enable with ``ServerApp.jpserver_extensions = {"benchmarks.status_hooks": True}``
(the benchmark's server runs with the repository on its ``sys.path``).
"""

from __future__ import annotations

import collections
import json
from typing import Any

from jupyter_server.base.handlers import APIHandler
from tornado import web

from mofang_lab.handlers.jobs import BACKEND_SETTING
from mofang_lab.jobs.states import JobState

COUNTS = "mofang_bench_request_counts"


class ChangeHandler(APIHandler):
    @web.authenticated
    def post(self) -> None:
        backend: Any = self.settings[BACKEND_SETTING]
        job_id = self.get_argument("job")
        state = JobState(self.get_argument("state"))
        event = backend.store.set_job_state(job_id, state, reason="Benchmark")
        backend._changed_now()  # the notification the supervisor gives after each change
        self.finish(event.model_dump_json())


class RequestsHandler(APIHandler):
    @web.authenticated
    def get(self) -> None:
        self.finish(json.dumps(self.settings[COUNTS]))


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "benchmarks.status_hooks"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    app = serverapp.web_app
    counts: collections.Counter[str] = collections.Counter()
    app.settings[COUNTS] = counts
    find_handler = app.find_handler

    def counting(request: Any, **kwargs: Any) -> Any:
        # Counted when the request arrives (a stream is logged only when it ends).
        counts["/".join(request.path.split("/")[:3])] += 1  # "/mofang/api", "/api/contents"
        return find_handler(request, **kwargs)

    app.find_handler = counting
    base = serverapp.base_url.rstrip("/")
    app.add_handlers(
        ".*$",
        [
            (f"{base}/mofang-bench/change", ChangeHandler),
            (f"{base}/mofang-bench/requests", RequestsHandler),
        ],
    )
