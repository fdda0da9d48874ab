"""Stand-in for ``edge/errors.py`` until it lands on main.

The names, constructor and ``code`` attribute match the planned hierarchy, so
switching is one import line in each module that uses it.
"""
from __future__ import annotations

from typing import Any


class EdgeError(Exception):
    """An error that crosses the wire as ``{code, message, details}``."""

    code = "UNKNOWN"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})


class InvalidArgument(EdgeError):
    code = "INVALID_ARGUMENT"


class NotFound(EdgeError):
    code = "NOT_FOUND"


class AlreadyExists(EdgeError):
    code = "ALREADY_EXISTS"


class FailedPrecondition(EdgeError):
    code = "FAILED_PRECONDITION"


class ResourceExhausted(EdgeError):
    code = "RESOURCE_EXHAUSTED"


class DeadlineExceeded(EdgeError):
    code = "DEADLINE_EXCEEDED"


class Unavailable(EdgeError):
    code = "UNAVAILABLE"


class Internal(EdgeError):
    code = "INTERNAL"


class Unimplemented(EdgeError):
    code = "UNIMPLEMENTED"
