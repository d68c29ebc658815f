"""Options of write requests (upstream metav1.CreateOptions / UpdateOptions / PatchOptions /
DeleteOptions) from the query string and, for deletes, the body."""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from pyk8s.api import errors
from pyk8s.api.errors import bad_request, invalid_value, not_supported
from pyk8s.api.schema import field_validation_directive
from pyk8s.apiserver.options import parse_bool, parse_resource_version

__all__ = ["WriteOptions", "DeleteOptions", "write_options", "delete_options", "NO_OPTIONS"]

_PROPAGATION_POLICIES = ("Foreground", "Background", "Orphan")


class WriteOptions(NamedTuple):
    dry_run: bool
    field_validation: str  # Strict / Warn / Ignore


NO_OPTIONS = WriteOptions(False, "Warn")


class DeleteOptions(NamedTuple):
    dry_run: bool
    grace_period: int | None
    propagation: str  # "" when not given
    uid: str  # preconditions
    resource_version: int


def _dry_run(values: list[Any], options_kind: str) -> bool:
    for value in values:
        if value != "All":
            raise errors.invalid(options_kind, "", [not_supported("dryRun", value, ("All",))], "meta.k8s.io")
    return bool(values)


def write_options(params: dict[str, str] | None, options_kind: str) -> WriteOptions:
    if not params:
        return NO_OPTIONS
    dry_run = _dry_run([params["dryRun"]], options_kind) if "dryRun" in params else False
    return WriteOptions(dry_run, field_validation_directive(params.get("fieldValidation"), options_kind))


def _grace(value: Any) -> int:
    # Upstream treats a negative period as 1s on the delete path.
    return 1 if value < 0 else value


def delete_options(body: bytes, params: dict[str, str] | None) -> DeleteOptions:
    """Query parameters first, then the body's fields over them, as upstream decodes both
    into one DeleteOptions."""
    params = params or {}
    raw: dict[str, Any] = {}
    if "gracePeriodSeconds" in params:
        text = params["gracePeriodSeconds"]
        digits = text[1:] if text[:1] == "-" else text
        if not digits.isdigit():
            raise bad_request(f'strconv.ParseInt: parsing "{text}": invalid syntax for parameter gracePeriodSeconds')
        raw["gracePeriodSeconds"] = int(text)
    if "propagationPolicy" in params:
        raw["propagationPolicy"] = params["propagationPolicy"]
    if "orphanDependents" in params:
        raw["orphanDependents"] = parse_bool("orphanDependents", params["orphanDependents"])
    if "dryRun" in params:
        raw["dryRun"] = [params["dryRun"]]
    if body.strip():
        try:
            decoded = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise bad_request(f"couldn't decode DeleteOptions as JSON: {exc}") from None
        if not isinstance(decoded, dict):
            raise bad_request("the body of a DELETE must be a DeleteOptions object")
        raw.update({key: value for key, value in decoded.items() if value is not None})
    grace = raw.get("gracePeriodSeconds")
    if grace is not None and type(grace) is not int:
        raise bad_request("DeleteOptions.gracePeriodSeconds must be an integer")
    policy = raw.get("propagationPolicy", "")
    if not isinstance(policy, str):
        raise bad_request("DeleteOptions.propagationPolicy must be a string")
    causes = []
    if policy and policy not in _PROPAGATION_POLICIES:
        causes.append(not_supported("propagationPolicy", policy, _PROPAGATION_POLICIES))
    orphan = raw.get("orphanDependents")
    if orphan is not None:
        if policy:
            causes.append(invalid_value("", orphan, "orphanDependents and deletionPropagation cannot be both set"))
        else:
            # The deprecated flag: true orphans, false deletes dependents in the background.
            policy = "Orphan" if orphan else "Background"
    dry_run_values = raw.get("dryRun") or []
    if not isinstance(dry_run_values, list):
        raise bad_request("DeleteOptions.dryRun must be a list")
    if causes:
        raise errors.invalid("DeleteOptions", "", causes, "meta.k8s.io")
    preconditions = raw.get("preconditions") or {}
    if not isinstance(preconditions, dict):
        raise bad_request("DeleteOptions.preconditions must be an object")
    uid = preconditions.get("uid") or ""
    rv = preconditions.get("resourceVersion") or ""
    if not isinstance(uid, str) or not isinstance(rv, str):
        raise bad_request("DeleteOptions.preconditions.uid and resourceVersion must be strings")
    return DeleteOptions(
        _dry_run(dry_run_values, "DeleteOptions"),
        None if grace is None else _grace(grace),
        policy,
        uid,
        parse_resource_version(rv),
    )
