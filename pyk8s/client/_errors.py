"""Typed errors for API responses, built from the ``kind: Status`` body the server sends.

The class is chosen by the Status ``reason`` first (what upstream's apimachinery ``errors.Is*``
helpers look at), then by the HTTP code, so a 409 ``AlreadyExists`` and a 409 ``Conflict`` are
told apart and a 410 is ``Expired`` whether the server said ``Expired`` or ``Gone``.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = [
    "ApiError", "BadRequest", "Unauthorized", "Forbidden", "NotFound", "MethodNotAllowed",
    "AlreadyExists", "Conflict", "Expired", "RequestEntityTooLarge", "UnsupportedMediaType",
    "Invalid", "TooManyRequests", "InternalError", "ServiceUnavailable", "ServerTimeout",
    "TransportError", "error_from_status", "error_from_response",
]


class ApiError(Exception):
    """The server answered with a Status error; ``status`` is that body."""

    def __init__(self, status: dict[str, Any]) -> None:
        self.status = status
        self.code: int = int(status.get("code") or 0)
        self.reason: str = status.get("reason") or ""
        self.message: str = status.get("message") or ""
        super().__init__(f"{self.code} {self.reason}: {self.message}")

    @property
    def details(self) -> dict[str, Any]:
        return self.status.get("details") or {}

    @property
    def retry_after_seconds(self) -> int | None:
        """The server's hint on 429/5xx (``details.retryAfterSeconds``)."""
        return self.details.get("retryAfterSeconds")


class BadRequest(ApiError): ...
class Unauthorized(ApiError): ...
class Forbidden(ApiError): ...
class NotFound(ApiError): ...
class MethodNotAllowed(ApiError): ...
class AlreadyExists(ApiError): ...
class Conflict(ApiError): ...
class Expired(ApiError):
    """410: the resourceVersion (or continue token) is older than the server's history."""
class RequestEntityTooLarge(ApiError): ...
class UnsupportedMediaType(ApiError): ...
class Invalid(ApiError): ...
class TooManyRequests(ApiError): ...
class InternalError(ApiError): ...
class ServiceUnavailable(ApiError): ...
class ServerTimeout(ApiError):
    """504 / reason Timeout or ServerTimeout (for instance a too-new resourceVersion)."""


class TransportError(Exception):
    """No usable answer: connection refused or reset, TLS failure, timeout, malformed body.
    Raised instead of the HTTP library's exceptions so callers need not import it."""


_BY_REASON: dict[str, type[ApiError]] = {
    "BadRequest": BadRequest,
    "Unauthorized": Unauthorized,
    "Forbidden": Forbidden,
    "NotFound": NotFound,
    "MethodNotAllowed": MethodNotAllowed,
    "AlreadyExists": AlreadyExists,
    "Conflict": Conflict,
    "Expired": Expired,
    "Gone": Expired,
    "RequestEntityTooLarge": RequestEntityTooLarge,
    "UnsupportedMediaType": UnsupportedMediaType,
    "Invalid": Invalid,
    "TooManyRequests": TooManyRequests,
    "InternalError": InternalError,
    "ServiceUnavailable": ServiceUnavailable,
    "Timeout": ServerTimeout,
    "ServerTimeout": ServerTimeout,
}

_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    410: Expired,
    413: RequestEntityTooLarge,
    415: UnsupportedMediaType,
    422: Invalid,
    429: TooManyRequests,
    500: InternalError,
    503: ServiceUnavailable,
    504: ServerTimeout,
}


def error_from_status(status: dict[str, Any]) -> ApiError:
    """The typed error for a Status body (also for a watch ``ERROR`` event's object)."""
    cls = _BY_REASON.get(status.get("reason") or "")
    if cls is None:
        cls = _BY_CODE.get(int(status.get("code") or 0), ApiError)
    return cls(status)


def error_from_response(code: int, body: bytes) -> ApiError:
    """A non-2xx answer: its Status body when it has one, otherwise a Status made up from the
    code (a proxy's HTML page, an empty 503) so callers still get the right class."""
    status: Any = None
    try:
        status = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        pass
    if not isinstance(status, dict) or status.get("kind") != "Status":
        text = body[:512].decode("utf-8", "replace") if body else ""
        status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": text, "code": code}
    status.setdefault("code", code)
    return error_from_status(status)
