"""REST handlers of the ``mofang_lab`` server extension, under ``/mofang/api``."""

from mofang_lab.handlers.environment import EnvironmentHandler

__all__ = ["EnvironmentHandler", "routes"]


def routes() -> list[tuple[str, type]]:
    """URL patterns (relative to the server's base URL) and their handlers."""
    return [(r"/mofang/api/environment", EnvironmentHandler)]
