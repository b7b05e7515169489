"""Mofang's hub side: the spawn policy, its planner and the spawners that apply it.

``mofang_spawner.planning`` is the pure core (``plan_server``);
``mofang_spawner.config.MofangPolicy`` is the administrator's configuration;
``mofang_spawner.local.MofangLocalSpawner`` runs servers as local processes.
Spawners are imported from their modules (or by entry point name,
``c.JupyterHub.spawner_class = "mofang-local"``) so that importing the
planning core never imports JupyterHub.
"""

from mofang_spawner.errors import (
    ConfigurationError,
    ConflictError,
    InvalidRequestError,
    MofangError,
    NotFoundError,
    PolicyError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError",
    "ConflictError",
    "InvalidRequestError",
    "MofangError",
    "NotFoundError",
    "PolicyError",
    "__version__",
]
