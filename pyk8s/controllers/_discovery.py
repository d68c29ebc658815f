"""What the API server serves, read from its discovery documents, as client-go's
``ServerPreferredResources`` gives it to the garbage collector and the namespace controller:
one entry per resource (subresources left out) in each group's preferred version, with its
kind, scope and verbs.

A group whose document cannot be read does not stop the others: the resources found are
returned together with a ``GroupDiscoveryFailed`` naming the failed group versions (client-go's
``ErrGroupDiscoveryFailed``), so callers act on what they have and report the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from pyk8s.client import ApiClient, ApiError, Resource, TransportError

__all__ = ["APIResource", "GroupDiscoveryFailed", "server_preferred_resources", "with_verbs"]


@dataclass(frozen=True)
class APIResource:
    resource: Resource
    kind: str
    namespaced: bool
    verbs: frozenset[str]

    @property
    def api_version(self) -> str:
        return f"{self.resource.group}/{self.resource.version}" if self.resource.group else self.resource.version


class GroupDiscoveryFailed(Exception):
    """Some group versions could not be discovered; ``failed`` maps each to its error."""

    def __init__(self, failed: dict[str, Exception]) -> None:
        self.failed = failed
        details = ", ".join(f"{group_version}: {error}" for group_version, error in sorted(failed.items()))
        super().__init__(f"unable to retrieve the complete list of server APIs: {details}")


async def _group_version_resources(client: ApiClient, group: str, version: str) -> list[APIResource]:
    path = f"/api/{version}" if not group else f"/apis/{group}/{version}"
    document = await client.request("GET", path)
    found = []
    for entry in document.get("resources") or ():
        name = entry.get("name") or ""
        if not name or "/" in name:
            continue
        found.append(APIResource(
            Resource(group, version, name), entry.get("kind") or "", bool(entry.get("namespaced")),
            frozenset(entry.get("verbs") or ()),
        ))
    return found


async def server_preferred_resources(client: ApiClient) -> tuple[list[APIResource], GroupDiscoveryFailed | None]:
    """Every resource in its group's preferred version.  Raises ``ApiError`` /
    ``TransportError`` when not even the group lists (``/api``, ``/apis``) can be read."""
    core = await client.request("GET", "/api")
    groups = await client.request("GET", "/apis")
    wanted: list[tuple[str, str]] = []
    core_versions = core.get("versions") or ["v1"]
    wanted.append(("", core_versions[0]))
    for group in groups.get("groups") or ():
        preferred = (group.get("preferredVersion") or {}).get("version")
        if not preferred:
            versions = group.get("versions") or ()
            preferred = versions[0].get("version") if versions else None
        if preferred:
            wanted.append((group.get("name") or "", preferred))
    answers = await asyncio.gather(
        *(_group_version_resources(client, group, version) for group, version in wanted), return_exceptions=True,
    )
    resources: list[APIResource] = []
    failed: dict[str, Exception] = {}
    for (group, version), answer in zip(wanted, answers):
        if isinstance(answer, (ApiError, TransportError)):
            failed[f"{group}/{version}" if group else version] = answer
        elif isinstance(answer, BaseException):
            raise answer
        else:
            resources.extend(answer)
    return resources, GroupDiscoveryFailed(failed) if failed else None


def with_verbs(resources: Iterable[APIResource], *verbs: str) -> list[APIResource]:
    """client-go's ``FilteredBy(SupportsAllVerbs{...})``."""
    return [resource for resource in resources if all(verb in resource.verbs for verb in verbs)]
