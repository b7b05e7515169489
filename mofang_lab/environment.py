"""What the spawner handed this single-user server: its plan, and on a cluster its storage.

A Mofang spawner puts the ``ServerPlan`` as JSON in the ``MOFANG_PLAN``
environment variable of the server it starts (and, on Kubernetes, the
storage settings in ``MOFANG_STORAGE``). This module reads them back, and is
the only place on the single-user side that knows how they travel.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mofang_spawner.errors import ConfigurationError
from mofang_spawner.kubernetes.storage import STORAGE_ENV
from mofang_spawner.planning import PLAN_ENV, ServerPlan

__all__ = [
    "NAMESPACE_FILE",
    "PLAN_ENV",
    "STORAGE_ENV",
    "load_plan",
    "load_storage",
    "pod_namespace",
]

#: Where a pod finds its own namespace.
NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


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


def load_storage(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The cluster storage settings the spawner handed over (``{}``: the defaults)."""
    text = (environ if environ is not None else os.environ).get(STORAGE_ENV)
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(
            f"{STORAGE_ENV} does not hold storage settings; restart the server from the hub."
        ) from exc
    if not isinstance(value, dict):
        raise ConfigurationError(f"{STORAGE_ENV} must be a JSON object; restart the server.")
    return value


def pod_namespace(default: str = "default") -> str:
    """The namespace of the pod this server runs in, ``default`` outside a pod."""
    try:
        return NAMESPACE_FILE.read_text().strip() or default
    except OSError:
        return default
