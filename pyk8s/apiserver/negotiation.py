"""Accept header negotiation, as k8s.io/apiserver's negotiation package does it.

A resource response is JSON, optionally *converted*: ``as=Table`` (``g=meta.k8s.io``,
``v=v1`` or ``v1beta1``) asks for a server-side table; ``as=PartialObjectMetadata`` /
``as=PartialObjectMetadataList`` for metadata only.  Clauses are tried in order of
preference (q, then as written, as goautoneg sorts them); a clause with a conversion this
server does not offer is skipped, and when none is left the answer is 406 NotAcceptable.

Discovery (``/api``, ``/apis``) has its own conversion: aggregated discovery, asked for
with ``as=APIGroupDiscoveryList;g=apidiscovery.k8s.io;v=v2`` (or ``v2beta1``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from pyk8s.api.errors import StatusError

__all__ = ["MediaType", "negotiate_resource", "negotiate_discovery", "not_acceptable", "JSON"]

META_GROUP = "meta.k8s.io"
DISCOVERY_GROUP = "apidiscovery.k8s.io"
_META_VERSIONS = ("v1", "v1beta1")
_DISCOVERY_VERSIONS = ("v2", "v2beta1")
_JSON_RANGES = frozenset(("application/json", "application/*", "*/*"))
# What kube-apiserver lists in its 406 message; protobuf and YAML are not served here.
_SERVED = ("application/json",)


class MediaType(NamedTuple):
    """The chosen representation: ``convert`` is "" (the object itself), "Table",
    "PartialObjectMetadata", "PartialObjectMetadataList" or "APIGroupDiscoveryList";
    ``version`` the group version of that conversion ("v1", "v2", ...)."""

    convert: str
    version: str


JSON = MediaType("", "")


def not_acceptable() -> StatusError:
    return StatusError(
        406, "NotAcceptable", "only the following media types are accepted: " + ", ".join(_SERVED)
    )


def _parse(accept: str) -> list[tuple[str, dict[str, str]]]:
    """Media ranges in order of preference, each ``(type, params)`` without ``q``."""
    clauses = []
    for position, clause in enumerate(accept.split(",")):
        parts = clause.split(";")
        media = parts[0].strip().lower()
        if not media:
            continue
        params: dict[str, str] = {}
        quality = 1.0
        for part in parts[1:]:
            key, _, value = part.partition("=")
            key, value = key.strip(), value.strip().strip('"')
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
            elif key:
                params[key] = value
        if quality > 0:
            clauses.append((-quality, position, media, params))
    clauses.sort(key=lambda clause: (clause[0], clause[1]))
    return [(media, params) for _q, _position, media, params in clauses]


@lru_cache(maxsize=256)
def negotiate_resource(accept: str | None, is_list: bool) -> MediaType:
    """The representation of a resource GET (object or list); raises 406."""
    if not accept:
        return JSON
    for media, params in _parse(accept):
        if media not in _JSON_RANGES:
            continue
        conversion = params.get("as", "")
        if not conversion:
            return JSON
        if params.get("g") != META_GROUP or params.get("v") not in _META_VERSIONS:
            continue
        if conversion == "Table":
            return MediaType("Table", params["v"])
        if conversion == ("PartialObjectMetadataList" if is_list else "PartialObjectMetadata"):
            return MediaType(conversion, params["v"])
    raise not_acceptable()


@lru_cache(maxsize=64)
def negotiate_discovery(accept: str | None) -> MediaType:
    """Aggregated discovery when asked for, else the legacy JSON documents."""
    if not accept:
        return JSON
    for media, params in _parse(accept):
        if media not in _JSON_RANGES:
            continue
        conversion = params.get("as", "")
        if not conversion:
            return JSON
        if (
            conversion == "APIGroupDiscoveryList"
            and params.get("g") == DISCOVERY_GROUP
            and params.get("v") in _DISCOVERY_VERSIONS
        ):
            return MediaType(conversion, params["v"])
    return JSON
