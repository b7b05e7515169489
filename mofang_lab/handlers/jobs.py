"""REST handlers of jobs: submit, list, get, cancel, logs, and the backend's capabilities.

``/mofang/api/jobs...`` (documented in ``docs/openapi.yaml``). The owner of
every job is the authenticated user; handlers pass it to the backend, which
answers only with that owner's jobs (another user's job is a 404). Handlers
talk to :class:`~mofang_lab.backends.base.JobBackend` only, whichever backend
the server was configured with, and never catch Mofang errors: the base class
maps them to 400 / 403 / 404 / 409.
"""

from __future__ import annotations

import functools
import getpass
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from jupyter_server.auth.identity import IdentityProvider
from tornado import web
from tornado.iostream import StreamClosedError

from mofang_lab.backends.base import DryRun, JobBackend
from mofang_lab.environment import load_plan
from mofang_lab.handlers.base import MofangHandler
from mofang_lab.jobs.ids import JOB_ID_PATTERN
from mofang_lab.jobs.request import SubmitRequest, parse_model
from mofang_lab.jobs.submission import prepare_submission
from mofang_spawner.errors import InvalidRequestError, NotFoundError

__all__ = [
    "BACKEND_SETTING",
    "BackendHandler",
    "JobCancelHandler",
    "JobHandler",
    "JobLogsHandler",
    "JobsBaseHandler",
    "JobsHandler",
]


#: The key of the configured backend in the web application's settings.
BACKEND_SETTING = "mofang_job_backend"


class JobsBaseHandler(MofangHandler):
    """What every jobs handler needs: the backend, the owner, checked ids."""

    @property
    def backend(self) -> JobBackend:
        backend: JobBackend = self.settings[BACKEND_SETTING]
        return backend

    @property
    def owner(self) -> str:
        """The user whose jobs these are.

        An identity provider that names users (JupyterHub's) gives the owner. A
        plain Jupyter server's own provider has no named users: it makes up an
        anonymous name for each token-authenticated request, while everyone who
        holds its token or password is the one person the server belongs to, so
        their jobs belong to the server's account.
        """
        if type(self.identity_provider).get_user is IdentityProvider.get_user:
            return _server_account()
        username: str = self.current_user.username
        return username

    def checked_id(self, job_id: str) -> str:
        if not JOB_ID_PATTERN.match(job_id):
            raise NotFoundError(f"You have no job {job_id!r}; `mofang jobs` lists yours.")
        return job_id

    def json_body(self) -> Any:
        try:
            return json.loads(self.request.body or b"{}")
        except ValueError as exc:
            raise InvalidRequestError(f"The request body is not JSON: {exc}") from exc

    async def stream_text(self, chunks: AsyncIterator[str]) -> None:
        """Send ``chunks`` as they come, until they end or the client goes away."""
        try:
            async for chunk in chunks:
                self.write(chunk)
                await self.flush()
        except StreamClosedError:
            return  # the client stopped reading: nothing to answer
        finally:
            await _close(chunks)
        self.finish()


@functools.cache
def _server_account() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no USER variable
        return "owner"


async def _close(iterator: AsyncIterator[Any]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


class JobsHandler(JobsBaseHandler):
    """``GET``: your jobs, newest first. ``POST``: submit a notebook as a job."""

    @web.authenticated
    async def get(self) -> None:
        # The position first: an event after it and before the list is replayed, not lost.
        seq = await self.backend.last_event(self.owner)
        jobs = await self.backend.list_json(self.owner)
        self.set_header("Content-Type", "application/json")
        self.finish(b'{"jobs":' + jobs + b',"event_seq":%d}' % seq)

    @web.authenticated
    async def post(self) -> None:
        request = parse_model(SubmitRequest, self.json_body(), what="job request")
        backend = self.backend
        prepared = prepare_submission(
            request, root_dir=Path(backend.root), plan=load_plan(), backend=backend.name
        )
        if request.dry_run:
            backend.check_supported(prepared.spec)
            dry_run = DryRun(
                backend=backend.name,
                spec=prepared.spec,
                program=prepared.snapshot.program,
                objects=backend.describe(prepared),
            )
            self.write_json(dry_run.model_dump(mode="json"))
            return
        result = await backend.submit(self.owner, prepared)
        self.set_header("Location", self._job_url(result.job.id))
        self.write_json(result.job.model_dump(mode="json"), status=201 if result.created else 200)

    def _job_url(self, job_id: str) -> str:
        return f"{self.base_url.rstrip('/')}/mofang/api/jobs/{job_id}"


class JobHandler(JobsBaseHandler):
    """``GET``: one of your jobs."""

    @web.authenticated
    async def get(self, job_id: str) -> None:
        job = await self.backend.get(self.owner, self.checked_id(job_id))
        self.write_json(job.model_dump(mode="json"))


class JobCancelHandler(JobsBaseHandler):
    """``POST``: stop every replica of a job; answers when nothing of it runs."""

    @web.authenticated
    async def post(self, job_id: str) -> None:
        job = await self.backend.cancel(self.owner, self.checked_id(job_id))
        self.write_json(job.model_dump(mode="json"))


class JobLogsHandler(JobsBaseHandler):
    """``GET``: a replica's output as plain text; ``follow=1`` streams it while it runs."""

    @web.authenticated
    async def get(self, job_id: str) -> None:
        follow = self.get_argument("follow", "0").lower() in ("1", "true", "yes")
        replica = self.get_argument("replica", None) or None
        chunks = await self.backend.logs(
            self.owner, self.checked_id(job_id), replica, follow=follow
        )
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")  # proxies must not hold followed output
        await self.stream_text(chunks)


class BackendHandler(JobsBaseHandler):
    """``GET``: which backend runs jobs here and what it can do."""

    @web.authenticated
    def get(self) -> None:
        self.write_json(self.backend.capabilities.model_dump(mode="json"))
