"""One exception hierarchy for every error that crosses a socket.

Codes follow gRPC / Triton names so a reply means the same thing in any client.
"""
from __future__ import annotations

from typing import Any

MAX_MESSAGE_CHARS = 1000  # a message quoting a peer's value at length is cut here


def clip(text: str, at: int) -> str:
    """`text` cut to at most `at` characters, ending in "..." when cut."""
    return text if len(text) <= at else text[:at - 3] + "..."


class EdgeError(Exception):
    """An error with a status code, a one-line message and optional details."""

    code = "INTERNAL"

    def __init__(self, message: str, details: Any = None):
        message = clip(message, MAX_MESSAGE_CHARS)
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


class Unimplemented(EdgeError):
    code = "UNIMPLEMENTED"


class PermissionDenied(EdgeError):
    """The caller's key is trusted, but its role may not do this (edge.security)."""

    code = "PERMISSION_DENIED"


class Internal(EdgeError):
    code = "INTERNAL"


class ConfigError(EdgeError):
    """A node cannot run as configured (a missing file or device, a model that does not fit
    its input): restarting cannot help, so `edge.run` exits with EXIT_CONFIG (78)."""

    code = "FAILED_PRECONDITION"

    def __init__(self, message: str, code: str | None = None, details: Any = None):
        super().__init__(message, details)
        if code:
            self.code = code


class ServiceTimeout(Unavailable, TimeoutError):
    """A client gave up: no reply within the timeout after every retry."""


ERRORS_BY_CODE = {cls.code: cls for cls in (
    InvalidArgument, NotFound, AlreadyExists, FailedPrecondition, ResourceExhausted,
    DeadlineExceeded, Unavailable, Unimplemented, PermissionDenied, Internal)}


def error_from_wire(error: dict) -> EdgeError:
    """The exception for a reply's error map; unknown codes keep their code."""
    cls = ERRORS_BY_CODE.get(error.get("code"), EdgeError)
    exc = cls(str(error.get("message", "")), error.get("details"))
    if cls is EdgeError:
        exc.code = str(error.get("code"))
    return exc
