"""REST handlers of sweeps: create, list, get (with trials), cancel, apply the best values.

``/mofang/api/sweeps...`` (documented in ``docs/openapi.yaml``). The owner of a
sweep is the authenticated user, found as for jobs; another user's sweep is a
404. Handlers talk to :class:`~mofang_lab.sweeps.service.SweepService`, which
runs trials on the configured job backend, and never catch Mofang errors: the
base class maps them to 400 / 403 / 404 / 409.

``POST /mofang/api/sweeps`` takes an ``idempotency_key`` beside the request,
as a job submission does: the same key again answers the first sweep (200)
and starts nothing. A dry run with only a ``notebook`` describes what that
notebook offers to search (the sweep dialog's starting point).
"""

from __future__ import annotations

from typing import Any

from tornado import web

from mofang_lab.handlers.jobs import JobsBaseHandler
from mofang_lab.jobs.ids import JOB_ID_PATTERN
from mofang_lab.jobs.request import parse_model
from mofang_lab.sweeps.request import SweepRequest
from mofang_lab.sweeps.service import SweepService
from mofang_spawner.errors import InvalidRequestError, NotFoundError

__all__ = [
    "SWEEP_SETTING",
    "SweepApplyBestHandler",
    "SweepCancelHandler",
    "SweepHandler",
    "SweepsHandler",
]

#: The key of the sweep service in the web application's settings.
SWEEP_SETTING = "mofang_sweep_service"


class SweepsBaseHandler(JobsBaseHandler):
    @property
    def sweeps(self) -> SweepService:
        service: SweepService = self.settings[SWEEP_SETTING]
        return service

    def checked_sweep_id(self, sweep_id: str) -> str:
        # Sweep ids are made like job ids, so the same pattern rejects junk early.
        if not JOB_ID_PATTERN.match(sweep_id):
            raise NotFoundError(f"You have no sweep {sweep_id!r}; `mofang sweeps` lists yours.")
        return sweep_id


class SweepsHandler(SweepsBaseHandler):
    """``GET``: your sweeps, newest first (without trials). ``POST``: start a sweep."""

    @web.authenticated
    async def get(self) -> None:
        # The position first: an event after it and before the list is replayed, not lost.
        seq = self.sweeps.last_event(self.owner)
        sweeps = await self.sweeps.list(self.owner)
        self.write_json({"sweeps": [sweep.summary() for sweep in sweeps], "event_seq": seq})

    @web.authenticated
    async def post(self) -> None:
        body = self.json_body()
        key = _idempotency_key(body)
        if isinstance(body, dict) and body.get("dry_run") is True and "settings" not in body:
            notebook = body.get("notebook")
            if not isinstance(notebook, str) or not notebook or set(body) - {"notebook", "dry_run"}:
                raise InvalidRequestError(
                    'To see what a notebook offers to search, send {"notebook": PATH, '
                    '"dry_run": true}; to check a sweep, add its "settings".'
                )
            self.write_json(await self.sweeps.describe_notebook(notebook))
            return
        request = parse_model(SweepRequest, body, what="sweep request")
        result = await self.sweeps.create(self.owner, request, idempotency_key=key)
        if isinstance(result, dict):  # a dry run
            self.write_json(result)
            return
        sweep, created = result
        self.set_header("Location", f"{self.base_url.rstrip('/')}/mofang/api/sweeps/{sweep.id}")
        self.write_json(sweep.model_dump(mode="json"), status=201 if created else 200)


def _idempotency_key(body: Any) -> str | None:
    """Take ``idempotency_key`` out of the body: it names the request, it is not part of it."""
    if not isinstance(body, dict) or "idempotency_key" not in body:
        return None
    key = body.pop("idempotency_key")
    if key is None:
        return None
    if not isinstance(key, str) or not 1 <= len(key) <= 200:
        raise InvalidRequestError(
            "idempotency_key must be a string of 1 to 200 characters, new for each new sweep."
        )
    return key


class SweepHandler(SweepsBaseHandler):
    """``GET``: one of your sweeps, with its trials and its best trial so far."""

    @web.authenticated
    async def get(self, sweep_id: str) -> None:
        sweep = await self.sweeps.get(self.owner, self.checked_sweep_id(sweep_id))
        self.write_json(sweep.model_dump(mode="json"))


class SweepCancelHandler(SweepsBaseHandler):
    """``POST``: cancel the running trials and end the sweep as Cancelled."""

    @web.authenticated
    async def post(self, sweep_id: str) -> None:
        sweep = await self.sweeps.cancel(self.owner, self.checked_sweep_id(sweep_id))
        self.write_json(sweep.model_dump(mode="json"))


class SweepApplyBestHandler(SweepsBaseHandler):
    """``POST {"notebook": PATH}``: write the best values into that notebook's parameters."""

    @web.authenticated
    async def post(self, sweep_id: str) -> None:
        body: Any = self.json_body()
        notebook = body.get("notebook") if isinstance(body, dict) else None
        if not isinstance(notebook, str) or not notebook:
            raise InvalidRequestError(
                'Say which notebook to update: {"notebook": "path/to/notebook.ipynb"}.'
            )
        result = await self.sweeps.apply_best(self.owner, self.checked_sweep_id(sweep_id), notebook)
        self.write_json(result)
