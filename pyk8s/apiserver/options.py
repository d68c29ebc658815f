"""Query parameters of list and watch requests (upstream metav1.ListOptions), and the
opaque ``continue`` token.

The token is upstream's: base64url (no padding) of ``{"v":"meta.k8s.io/v1","rv":N,
"start":"<key>\\u0000"}``, where ``<key>`` is the last key of the page and the NUL makes
the next page start strictly after it.  ``rv`` pins every page to one revision, so a paged
list is one consistent snapshot.  A negative ``rv`` (upstream writes -1 into the token of
a 410 for a compacted continue) continues from the key at the current revision: an
inconsistent continuation the client chose to accept.
"""

from __future__ import annotations

import base64
import binascii
from typing import NamedTuple
from urllib.parse import parse_qsl

import orjson

from pyk8s.api.errors import bad_request, forbidden, invalid, not_supported
from pyk8s.api.registry import ResourceDef
from pyk8s.api.selectors import SelectorError, parse_field_selector, parse_label_selector

__all__ = ["ListOptions", "parse_query", "parse_list_options", "encode_continue", "decode_continue", "parse_bool"]

_CONTINUE_VERSION = "meta.k8s.io/v1"


class ListOptions(NamedTuple):
    label_selector: tuple
    field_selector: tuple
    limit: int
    start_after: str  # from ``continue``
    revision: int  # from ``continue`` (exact) or resourceVersion; 0 = current
    resource_version: str  # as given
    resource_version_match: str
    watch: bool
    timeout_seconds: int
    send_initial_events: bool | None
    has_continue: bool


def parse_query(query_string: str) -> dict[str, str]:
    """First value of each parameter, as Go's url.Values.Get returns it."""
    if not query_string:
        return {}
    params: dict[str, str] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        params.setdefault(key, value)
    return params


_TRUE = frozenset(("1", "t", "T", "true", "TRUE", "True"))
_FALSE = frozenset(("0", "f", "F", "false", "FALSE", "False", ""))


def parse_bool(name: str, value: str) -> bool:
    # strconv.ParseBool, as the query parameter conversion uses it
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise bad_request(f'strconv.ParseBool: parsing "{value}": invalid syntax for parameter {name}')


def _parse_int(name: str, value: str) -> int:
    digits = value[1:] if value[:1] == "-" else value
    if not digits.isascii() or not digits.isdigit() or len(digits) > 18:
        raise bad_request(f'strconv.ParseInt: parsing "{value}": invalid syntax for parameter {name}')
    return int(value)


def parse_resource_version(value: str) -> int:
    if value == "":
        return 0
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise bad_request(f"invalid resource version: {value!r}")
    return int(value)


def encode_continue(revision: int, last_key: str) -> str:
    token = orjson.dumps({"v": _CONTINUE_VERSION, "rv": revision, "start": last_key + "\x00"})
    return base64.urlsafe_b64encode(token).rstrip(b"=").decode()


def decode_continue(token: str) -> tuple[int, str]:
    """``(revision, start_after)`` from a token (a negative revision: the latest); 400 if it
    is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise bad_request(f"continue key is not valid: {exc}") from None
    if not isinstance(data, dict) or data.get("v") != _CONTINUE_VERSION:
        raise bad_request("continue key is not valid: server does not recognize this encoded key")
    revision, start = data.get("rv"), data.get("start")
    # Upstream DecodeContinue refuses only rv 0; a negative one means "the latest revision".
    if type(revision) is not int or revision == 0 or not isinstance(start, str):
        raise bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    return revision, start[:-1] if start.endswith("\x00") else start


def _validate_list(match: str, resource_version: str, token: str, send_initial: bool | None) -> None:
    """Upstream ValidateListOptions for a list (not a watch): a 422 on ListOptions."""
    causes = []
    if match:
        if not resource_version:
            causes.append(forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden unless resourceVersion is provided"))
        if token:
            causes.append(forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided"))
        if match not in ("Exact", "NotOlderThan"):
            causes.append(not_supported("resourceVersionMatch", match, ("Exact", "NotOlderThan", "")))
        if match == "Exact" and resource_version == "0":
            causes.append(forbidden("resourceVersionMatch", 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'))
    if send_initial is not None:
        causes.append(forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list"))
    if causes:
        raise invalid("ListOptions", "", causes, "meta.k8s.io")


def parse_list_options(resource: ResourceDef, params: dict[str, str], force_watch: bool = False) -> ListOptions:
    try:
        labels = parse_label_selector(params.get("labelSelector", ""))
        fields = parse_field_selector(params.get("fieldSelector", ""))
    except SelectorError as exc:
        raise bad_request(str(exc)) from None
    for field_name, _op, _value in fields:
        if not resource.supports_field(field_name):
            raise bad_request(f'field label not supported: {field_name}')
    limit = _parse_int("limit", params["limit"]) if params.get("limit") else 0
    watch = force_watch or parse_bool("watch", params.get("watch", ""))
    timeout = _parse_int("timeoutSeconds", params["timeoutSeconds"]) if params.get("timeoutSeconds") else 0
    send_initial = None
    if "sendInitialEvents" in params:
        send_initial = parse_bool("sendInitialEvents", params["sendInitialEvents"])
    resource_version = params.get("resourceVersion", "")
    match = params.get("resourceVersionMatch", "")
    if not watch:
        _validate_list(match, resource_version, params.get("continue", ""), send_initial)
    if match not in ("", "NotOlderThan", "Exact"):
        raise bad_request(f'resourceVersionMatch: Unsupported value: "{match}": supported values: "Exact", "NotOlderThan"')
    revision = parse_resource_version(resource_version)
    token = params.get("continue", "")
    start_after = ""
    if token:
        if watch:
            raise bad_request("continue is not allowed when watch is true")
        if resource_version not in ("", "0"):
            raise bad_request("specifying resource version is not allowed when using continue")
        revision, start_after = decode_continue(token)
        revision = max(revision, 0)  # 0: the current revision
    elif match == "Exact" and revision == 0:
        raise bad_request('resourceVersionMatch "Exact" is forbidden for resourceVersion "0" or ""')
    return ListOptions(
        labels, fields, max(limit, 0), start_after, revision, resource_version, match, watch, max(timeout, 0),
        send_initial, bool(token),
    )

