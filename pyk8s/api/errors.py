"""Kubernetes ``Status`` errors, as k8s.io/apimachinery/pkg/api/errors builds them.

Every failure the API server reports is a ``StatusError`` carrying the ``Status`` object that
goes on the wire; handlers raise, the app catches once and encodes.  Reasons, codes and
message shapes follow upstream so clients (kubectl, client-go, the Python client) recognise
them: they switch on ``reason`` and ``code``, and people read ``message``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

__all__ = [
    "Cause",
    "StatusError",
    "bad_request",
    "not_found",
    "path_not_found",
    "method_not_allowed",
    "already_exists",
    "conflict",
    "precondition_failed",
    "expired",
    "resource_version_too_old",
    "too_large_resource_version",
    "request_entity_too_large",
    "unsupported_media_type",
    "invalid",
    "internal_error",
    "success_status",
    "required",
    "invalid_value",
    "not_supported",
    "duplicate",
    "too_long",
    "too_many",
    "forbidden",
]

MAX_BODY_BYTES = 3 * 1024 * 1024


class Cause(NamedTuple):
    """One field error (upstream field.Error): ``reason`` is the CauseType, ``message`` the
    detail as upstream renders it without the field path."""

    reason: str
    message: str
    field: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class StatusError(Exception):
    """An API error; ``status`` is the ``kind: Status`` object sent to the client."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        # The Status's ListMeta (metadata.continue of an expired continue token's 410).
        self.list_meta: dict[str, Any] = {}

    @property
    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": self.list_meta,
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:  # StatusReasonUnknown is "" and omitted, as upstream
            status["reason"] = self.reason
        if self.details is not None:
            status["details"] = self.details
        status["code"] = self.code
        return status

    def body(self) -> bytes:
        return orjson.dumps(self.status)

    def __repr__(self) -> str:
        return f"StatusError({self.code}, {self.reason!r}, {self.message!r})"


def _details(resource: str, name: str, group: str = "") -> dict[str, Any]:
    details: dict[str, Any] = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = resource
    return details


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def not_found(resource: str, name: str, group: str = "") -> StatusError:
    qualified = f"{resource}.{group}" if group else resource
    return StatusError(404, "NotFound", f'{qualified} "{name}" not found', _details(resource, name, group))


def path_not_found() -> StatusError:
    # What kube-apiserver says for a resource or path it does not serve.
    return StatusError(404, "NotFound", "the server could not find the requested resource", {})


def method_not_allowed(verb: str = "", resource: str = "") -> StatusError:
    message = "the server does not allow this method on the requested resource"
    if verb and resource:
        message = f"{verb} is not supported on resources of kind {resource!r}"
    return StatusError(405, "MethodNotAllowed", message, {})


def already_exists(resource: str, name: str, group: str = "") -> StatusError:
    qualified = f"{resource}.{group}" if group else resource
    return StatusError(409, "AlreadyExists", f'{qualified} "{name}" already exists', _details(resource, name, group))


def conflict(resource: str, name: str, detail: str | None = None, group: str = "") -> StatusError:
    qualified = f"{resource}.{group}" if group else resource
    detail = detail or "the object has been modified; please apply your changes to the latest version and try again"
    return StatusError(
        409, "Conflict", f'Operation cannot be fulfilled on {qualified} "{name}": {detail}', _details(resource, name, group)
    )


def precondition_failed(resource: str, name: str, what: str, wanted: str, actual: str, group: str = "") -> StatusError:
    # Upstream reports failed DeleteOptions preconditions as a Conflict with this detail.
    detail = f"Precondition failed: {what} in precondition: {wanted}, {what} in object meta: {actual}"
    return conflict(resource, name, detail, group)


def expired(message: str) -> StatusError:
    return StatusError(410, "Expired", message)


def resource_version_too_old(requested: int, compacted: int) -> StatusError:
    # The etcd3 watcher's wording; clients only look at code 410 / reason Expired.
    return expired(f"too old resource version: {requested} ({compacted})")


def too_large_resource_version(requested: int, current: int) -> StatusError:
    return StatusError(
        504,
        "Timeout",
        f"Too large resource version: {requested}, current: {current}",
        {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1},
    )


def request_entity_too_large(limit: int = MAX_BODY_BYTES) -> StatusError:
    return StatusError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")


def unsupported_media_type(content_type: str, accepted: tuple[str, ...]) -> StatusError:
    return StatusError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format ({content_type}) - accepted media types include: "
        + ", ".join(accepted),
    )


def invalid(kind: str, name: str, causes: list[Cause], group: str = "") -> StatusError:
    qualified = f"{kind}.{group}" if group else kind
    if len(causes) == 1:
        aggregate = str(causes[0])
    else:
        aggregate = "[" + ", ".join(str(c) for c in causes) + "]"
    details: dict[str, Any] = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [{"reason": c.reason, "message": c.message, "field": c.field} for c in causes]
    return StatusError(422, "Invalid", f'{qualified} "{name}" is invalid: {aggregate}', details)


def internal_error(message: str) -> StatusError:
    return StatusError(
        500,
        "InternalError",
        f"Internal error occurred: {message}",
        {"causes": [{"message": message}]},
    )


def success_status(resource: str, name: str, uid: str | None, group: str = "") -> dict[str, Any]:
    """The ``Status`` a delete answers with for resources that do not return the object."""
    details = _details(resource, name, group)
    if uid:
        details["uid"] = uid
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


# Field errors, rendered as upstream's field.Error.ErrorBody() renders them.


def _value(value: Any) -> str:
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) or value is None:
        return orjson.dumps(value).decode()
    return "\"<complex value>\""


def required(field: str, detail: str = "") -> Cause:
    return Cause("FieldValueRequired", "Required value" + (f": {detail}" if detail else ""), field)


def invalid_value(field: str, value: Any, detail: str) -> Cause:
    return Cause("FieldValueInvalid", f"Invalid value: {_value(value)}" + (f": {detail}" if detail else ""), field)


def not_supported(field: str, value: Any, supported: tuple[str, ...]) -> Cause:
    listed = ", ".join(orjson.dumps(s).decode() for s in supported)
    return Cause("FieldValueNotSupported", f"Unsupported value: {_value(value)}: supported values: {listed}", field)


def duplicate(field: str, value: Any) -> Cause:
    return Cause("FieldValueDuplicate", f"Duplicate value: {_value(value)}", field)


def too_long(field: str, limit: int) -> Cause:
    return Cause("FieldValueTooLong", f"Too long: may not be more than {limit} bytes", field)


def too_many(field: str, actual: int, limit: int) -> Cause:
    return Cause("FieldValueTooMany", f"Too many: {actual}: must have at most {limit} items", field)


def forbidden(field: str, detail: str) -> Cause:
    return Cause("FieldValueForbidden", f"Forbidden: {detail}", field)
