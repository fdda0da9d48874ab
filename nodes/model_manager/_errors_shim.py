"""Stand-in for ``edge/errors.py`` until it lands on main.

Mirrors main's ``edge/errors.py`` (constructor, ``code``, ``message``,
``details``, ``to_wire``, ``str``), so switching is a change of import line.
"""
from __future__ import annotations

from typing import Any


class EdgeError(Exception):
    """An error that crosses the wire as ``{code, message, details}``."""

    code = "INTERNAL"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_wire(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return error

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


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
