"""``GET /mofang/api/environment``: what this server was spawned with."""

from __future__ import annotations

from tornado import web

from mofang_lab.environment import load_plan
from mofang_lab.handlers.base import MofangHandler
from mofang_spawner.errors import NotFoundError

__all__ = ["EnvironmentHandler"]


class EnvironmentHandler(MofangHandler):
    @web.authenticated
    def get(self) -> None:
        plan = load_plan()
        if plan is None:
            raise NotFoundError(
                "This server was not started by a Mofang spawner, so it has no "
                "environment plan. Start it from the Mofang hub to see your resources."
            )
        self.write_json(plan.summary())
