"""REST handlers of sweeps: create, list, get (with trials), cancel, apply the best values.

``/mofang/api/sweeps...`` (documented in ``docs/openapi.yaml``). The owner of a
sweep is the authenticated user, found as for jobs; another user's sweep is a
404. Handlers talk to :class:`~mofang_lab.sweeps.service.SweepService`, which
runs trials on the configured job backend, and never catch Mofang errors: the
base class maps them to 400 / 403 / 404 / 409.
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
        sweeps = await self.sweeps.list(self.owner)
        self.write_json({"sweeps": [sweep.summary() for sweep in sweeps]})

    @web.authenticated
    async def post(self) -> None:
        request = parse_model(SweepRequest, self.json_body(), what="sweep request")
        result = await self.sweeps.create(self.owner, request)
        if isinstance(result, dict):  # a dry run
            self.write_json(result)
            return
        self.set_header("Location", f"{self.base_url.rstrip('/')}/mofang/api/sweeps/{result.id}")
        self.write_json(result.model_dump(mode="json"), status=201)


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
