"""ApiClient against a live pyk8s-apiserver: verbs, typed errors, patch types, paging,
selectors, subresources and a streaming watch."""

from __future__ import annotations

import asyncio

import pytest

from pyk8s.apiserver.testing import run_apiserver
from pyk8s.client import (
    CONFIG_MAPS, LEASES, NAMESPACES, NODES, PODS, AlreadyExists, ApiClient, BadRequest, Conflict,
    Expired, Invalid, NotFound, Resource, UnsupportedMediaType,
)


@pytest.fixture(scope="module")
def server():
    with run_apiserver("native") as live:
        yield live


def run(coroutine, timeout: float = 10.0):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def configmap(name: str, namespace: str, **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace, "labels": labels}, "data": {"k": "v"}}


async def make_namespace(client: ApiClient, name: str) -> None:
    try:
        await client.create(NAMESPACES, {"metadata": {"name": name}})
    except AlreadyExists:
        pass


def test_resource_paths():
    assert PODS.path() == "/api/v1/pods"
    assert PODS.path("ns", "p", "status") == "/api/v1/namespaces/ns/pods/p/status"
    assert LEASES.path("kube-system", "x") == "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x"
    assert NODES.path(None, "n1") == "/api/v1/nodes/n1"
    with pytest.raises(ValueError):
        PODS.path("ns", None, "status")


def test_crud_and_typed_errors(server):
    async def main():
        async with ApiClient(server.url) as client:
            await make_namespace(client, "crud")
            created = await client.create(CONFIG_MAPS, configmap("a", "crud"))
            assert created["metadata"]["resourceVersion"]
            with pytest.raises(AlreadyExists) as raised:
                await client.create(CONFIG_MAPS, configmap("a", "crud"))
            assert raised.value.code == 409 and raised.value.status["kind"] == "Status"
            fetched = await client.get(CONFIG_MAPS, "a", namespace="crud")
            assert fetched == created

            fetched["data"] = {"k": "changed"}
            updated = await client.update(CONFIG_MAPS, fetched)
            assert updated["data"] == {"k": "changed"}
            # The stale resourceVersion makes the second update a failed compare-and-swap.
            fetched["data"] = {"k": "stale"}
            with pytest.raises(Conflict):
                await client.update(CONFIG_MAPS, fetched)

            with pytest.raises(Invalid):
                await client.create(CONFIG_MAPS, configmap("Not_A_Name", "crud"))
            with pytest.raises(NotFound):
                await client.get(CONFIG_MAPS, "missing", namespace="crud")
            with pytest.raises(NotFound):
                await client.get(Resource("nope.example.com", "v1", "widgets"), "x")

            deleted = await client.delete(CONFIG_MAPS, "a", namespace="crud")
            assert deleted["kind"] in ("Status", "ConfigMap")
            with pytest.raises(NotFound):
                await client.delete(CONFIG_MAPS, "a", namespace="crud")

    run(main())


def test_patch_types(server):
    async def main():
        async with ApiClient(server.url) as client:
            await make_namespace(client, "patch")
            await client.create(PODS, {
                "metadata": {"name": "p", "namespace": "patch"},
                "spec": {"containers": [{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}]},
            })
            merged = await client.patch(PODS, "p", {"metadata": {"labels": {"x": "1"}}}, namespace="patch")
            assert merged["metadata"]["labels"] == {"x": "1"}
            # Strategic merge patches the container named "b" in place (merge key: name).
            strategic = await client.patch(
                PODS, "p", {"spec": {"containers": [{"name": "b", "image": "nginx"}]}},
                namespace="patch", patch_type="strategic",
            )
            assert [(c["name"], c["image"]) for c in strategic["spec"]["containers"]] == [("a", "busybox"), ("b", "nginx")]
            jsonpatch = await client.patch(
                PODS, "p", [{"op": "replace", "path": "/metadata/labels/x", "value": "2"}],
                namespace="patch", patch_type="json",
            )
            assert jsonpatch["metadata"]["labels"] == {"x": "2"}
            with pytest.raises(ValueError):
                await client.patch(PODS, "p", {}, namespace="patch", patch_type="apply")
            with pytest.raises((BadRequest, Invalid, UnsupportedMediaType)):
                await client.patch(PODS, "p", [{"op": "bogus"}], namespace="patch", patch_type="json")
            status = await client.patch(
                PODS, "p", {"status": {"phase": "Running"}}, namespace="patch", subresource="status",
            )
            assert status["status"]["phase"] == "Running"

    run(main())


def test_paging_selectors_and_delete_collection(server):
    async def main():
        async with ApiClient(server.url) as client:
            await make_namespace(client, "paging")
            for i in range(7):
                await client.create(CONFIG_MAPS, configmap(f"cm{i}", "paging", parity=str(i % 2)))
            first = await client.list(CONFIG_MAPS, namespace="paging", limit=3)
            assert len(first["items"]) == 3 and first["metadata"]["continue"]
            second = await client.list(CONFIG_MAPS, namespace="paging", limit=3, continue_token=first["metadata"]["continue"])
            assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
            everything = await client.list_all(CONFIG_MAPS, namespace="paging", page_size=2)
            assert sorted(i["metadata"]["name"] for i in everything["items"]) == [f"cm{i}" for i in range(7)]
            assert "continue" not in everything["metadata"]
            odd = await client.list(CONFIG_MAPS, namespace="paging", label_selector="parity=1")
            assert len(odd["items"]) == 3
            named = await client.list(CONFIG_MAPS, namespace="paging", field_selector="metadata.name=cm4")
            assert [i["metadata"]["name"] for i in named["items"]] == ["cm4"]
            await client.delete_collection(CONFIG_MAPS, namespace="paging", label_selector="parity=0")
            left = await client.list(CONFIG_MAPS, namespace="paging")
            assert sorted(i["metadata"]["name"] for i in left["items"]) == ["cm1", "cm3", "cm5"]

    run(main())


def test_watch_streams_events_bookmark_and_ends_at_timeout(server):
    async def main():
        async with ApiClient(server.url) as client:
            await make_namespace(client, "watching")
            start = await client.list(CONFIG_MAPS, namespace="watching")
            stream = client.watch(
                CONFIG_MAPS, namespace="watching", resource_version=start["metadata"]["resourceVersion"],
                timeout_seconds=3, allow_watch_bookmarks=True,
            )
            seen = []

            async def write():
                await client.create(CONFIG_MAPS, configmap("w", "watching"))
                await client.patch(CONFIG_MAPS, "w", {"data": {"k": "2"}}, namespace="watching")
                await client.delete(CONFIG_MAPS, "w", namespace="watching")

            writer = asyncio.create_task(write())
            async with stream:
                async for event_type, obj in stream:
                    seen.append((event_type, obj["metadata"].get("name"), obj["metadata"]["resourceVersion"]))
            await writer
            assert [(t, n) for t, n, _ in seen[:3]] == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]
            revisions = [int(rv) for _, _, rv in seen]
            assert revisions == sorted(revisions)
            # Upstream's cacher sends a last bookmark 2 s before the timeout.
            assert seen[-1][0] == "BOOKMARK"

    run(main())


def test_watch_and_continue_from_a_compacted_revision_are_expired():
    with run_apiserver("native", extra_args=("--compaction-interval", "0.1", "--compaction-retention", "0.2")) as live:
        async def main():
            async with ApiClient(live.url) as client:
                await make_namespace(client, "old")
                for i in range(3):
                    await client.create(CONFIG_MAPS, configmap(f"c{i}", "old"))
                first = await client.list(CONFIG_MAPS, namespace="old", limit=1)
                await client.create(CONFIG_MAPS, configmap("later", "old"))
                await asyncio.sleep(0.6)
                await client.create(CONFIG_MAPS, configmap("latest", "old"))
                await asyncio.sleep(0.3)
                with pytest.raises(Expired):
                    await client.list(CONFIG_MAPS, namespace="old", limit=1, continue_token=first["metadata"]["continue"])
                events = []
                try:
                    async with client.watch(CONFIG_MAPS, namespace="old", resource_version="2", timeout_seconds=2) as stream:
                        async for event in stream:
                            events.append(event)
                            break
                except Expired:
                    events.append(("ERROR", {"code": 410}))
                assert events and events[0][0] == "ERROR" and events[0][1]["code"] == 410

        run(main())
