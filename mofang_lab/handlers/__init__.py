"""REST handlers of the ``mofang_lab`` server extension, under ``/mofang/api``."""

from mofang_lab.handlers.environment import EnvironmentHandler
from mofang_lab.handlers.events import EventsHandler
from mofang_lab.handlers.jobs import (
    BackendHandler,
    JobCancelHandler,
    JobHandler,
    JobLogsHandler,
    JobsHandler,
)
from mofang_lab.handlers.sweeps import (
    SweepApplyBestHandler,
    SweepCancelHandler,
    SweepHandler,
    SweepsHandler,
)

__all__ = ["EnvironmentHandler", "routes"]

_JOB = r"(?P<job_id>[^/]+)"
_SWEEP = r"(?P<sweep_id>[^/]+)"


def routes() -> list[tuple[str, type]]:
    """URL patterns (relative to the server's base URL) and their handlers."""
    return [
        (r"/mofang/api/environment", EnvironmentHandler),
        (r"/mofang/api/backend", BackendHandler),
        (r"/mofang/api/jobs", JobsHandler),
        (rf"/mofang/api/jobs/{_JOB}", JobHandler),
        (rf"/mofang/api/jobs/{_JOB}/cancel", JobCancelHandler),
        (rf"/mofang/api/jobs/{_JOB}/logs", JobLogsHandler),
        (r"/mofang/api/events", EventsHandler),
        (r"/mofang/api/sweeps", SweepsHandler),
        (rf"/mofang/api/sweeps/{_SWEEP}", SweepHandler),
        (rf"/mofang/api/sweeps/{_SWEEP}/cancel", SweepCancelHandler),
        (rf"/mofang/api/sweeps/{_SWEEP}/apply-best", SweepApplyBestHandler),
    ]
