"""The plan this single-user server was spawned with, as the spawner handed it over.

A Mofang spawner puts the ``ServerPlan`` as JSON in the ``MOFANG_PLAN``
environment variable of the server it starts. This module reads it back, and
is the only place on the single-user side that knows how the plan travels.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from mofang_spawner.errors import ConfigurationError
from mofang_spawner.planning import PLAN_ENV, ServerPlan

__all__ = ["PLAN_ENV", "load_plan"]


def load_plan(environ: Mapping[str, str] | None = None) -> ServerPlan | None:
    """The server's plan, None when it was not started by a Mofang spawner."""
    text = (environ if environ is not None else os.environ).get(PLAN_ENV)
    if not text:
        return None
    try:
        return ServerPlan.from_json(text)
    except ValueError as exc:
        raise ConfigurationError(
            f"{PLAN_ENV} does not hold a valid server plan; restart the server from the hub."
        ) from exc
