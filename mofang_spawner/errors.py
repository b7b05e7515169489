"""The one error tree of Mofang, shared by the hub side and the single-user side.

::

    MofangError
     ├── ConfigurationError   the administrator's configuration is invalid
     ├── InvalidRequestError  the request is malformed (HTTP 400)
     ├── PolicyError          well-formed, but the policy does not allow it (HTTP 403)
     ├── NotFoundError        the thing asked for does not exist, or is not yours (HTTP 404)
     └── ConflictError        the request clashes with the current state (HTTP 409)

Every message is written for the person who has to act on it: it says what was
wrong and what is allowed instead. Errors of lower libraries are translated into
this tree in one place each, with ``raise ... from`` so the cause is kept.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "ConflictError",
    "InvalidRequestError",
    "MofangError",
    "NotFoundError",
    "PolicyError",
]


class MofangError(Exception):
    """Base of every error Mofang raises on purpose."""

    #: The HTTP status a REST handler answers with for this error.
    status_code: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigurationError(MofangError):
    """The administrator's configuration is invalid; raised at start-up."""

    status_code = 500


class InvalidRequestError(MofangError):
    """A request is malformed: a value of the wrong type, out of range, unknown field."""

    status_code = 400


class PolicyError(MofangError):
    """A well-formed request the policy does not allow (a group you are not in, ...)."""

    status_code = 403


class NotFoundError(MofangError):
    """The object does not exist, or belongs to someone else."""

    status_code = 404


class ConflictError(MofangError):
    """The request clashes with the current state."""

    status_code = 409
