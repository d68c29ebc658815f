"""Endpoints controller against a live API server, pods' IPs and readiness set by hand
through pods/status (no kubelet runs)."""

from __future__ import annotations

import asyncio
import datetime as dt

from controllerhelpers import fresh_namespace, running_controllers, wait_for
from kubectlhelpers import AsyncKubectl
from pyk8s.client import ENDPOINTS, PODS, SERVICES, NotFound
from pyk8s.controllers.endpoints import repack_subsets

CONTROLLERS = ["endpoints-controller"]


def now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_body(name: str, labels: dict, http_port: int = 8080) -> dict:
    container = {"name": "app", "image": "nginx",
                 "ports": [{"name": "http", "containerPort": http_port}, {"name": "dns", "containerPort": 53,
                                                                          "protocol": "UDP"}]}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"nodeName": "node-a", "containers": [container]}}


async def start_pod(client, namespace: str, name: str, ip: str | None, ready: bool) -> None:
    status = {"phase": "Running",
              "conditions": [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now_text()}]}
    if ip:
        status.update(podIP=ip, podIPs=[{"ip": ip}])
    await client.patch(PODS, name, {"status": status}, namespace=namespace, subresource="status")


async def set_ready(client, namespace: str, name: str, ready: bool) -> None:
    pod = await client.get(PODS, name, namespace=namespace)
    status = pod["status"]
    status["conditions"] = [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now_text()}]
    await client.update(PODS, pod, namespace=namespace, subresource="status")


def service_body(name: str, selector: dict | None, ports: list[dict] | None = None, **spec) -> dict:
    body_spec = dict(spec)
    if selector is not None:
        body_spec["selector"] = selector
    if ports is not None:
        body_spec["ports"] = ports
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": {"tier": "front"}},
            "spec": body_spec}


async def endpoints_of(client, namespace: str, name: str) -> dict | None:
    try:
        return await client.get(ENDPOINTS, name, namespace=namespace)
    except NotFound:
        return None


def summary(endpoints: dict | None) -> list[tuple]:
    """Subsets as (ready pods, not-ready pods, ports) for compact comparison."""
    if endpoints is None:
        return []
    return [
        (
            [a["targetRef"]["name"] for a in subset.get("addresses") or ()],
            [a["targetRef"]["name"] for a in subset.get("notReadyAddresses") or ()],
            [(p.get("name"), p["port"], p["protocol"]) for p in subset.get("ports") or ()],
        )
        for subset in endpoints.get("subsets") or ()
    ]


async def wait_summary(client, namespace: str, name: str, expected: list[tuple], timeout: float = 10.0) -> dict:
    async def check():
        endpoints = await endpoints_of(client, namespace, name)
        return endpoints if sorted(summary(endpoints)) == sorted(expected) else None

    try:
        return await wait_for(check, timeout=timeout)
    except AssertionError:
        raise AssertionError(f"endpoints {summary(await endpoints_of(client, namespace, name))} != {expected}") from None


WEB_PORTS = [
    {"name": "http", "port": 80, "targetPort": "http"},
    {"name": "metrics", "port": 9090, "targetPort": 9100},
    {"name": "dns", "port": 53, "targetPort": "dns", "protocol": "UDP"},
]
BOTH = [("dns", 53, "UDP"), ("http", 8080, "TCP"), ("metrics", 9100, "TCP")]


def test_ready_split_named_ports_and_scaling(apiserver, tmp_path):
    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS) as (client, manager):
            ns = await fresh_namespace(client)
            await client.create(SERVICES, service_body("web", {"app": "web"}, WEB_PORTS), namespace=ns)
            for index, ready in ((0, True), (1, True), (2, False)):
                await client.create(PODS, pod_body(f"web-{index}", {"app": "web"}), namespace=ns)
                await start_pod(client, ns, f"web-{index}", f"10.1.0.{index + 1}", ready)
            # Not selected, and selected but without an IP: neither is listed.
            await client.create(PODS, pod_body("other", {"app": "other"}), namespace=ns)
            await start_pod(client, ns, "other", "10.1.0.50", True)
            await client.create(PODS, pod_body("web-noip", {"app": "web"}), namespace=ns)

            endpoints = await wait_summary(client, ns, "web", [(["web-0", "web-1"], ["web-2"], BOTH)])
            address = endpoints["subsets"][0]["addresses"][0]
            pod = await client.get(PODS, "web-0", namespace=ns)
            assert address == {"ip": "10.1.0.1", "nodeName": "node-a", "targetRef": {
                "kind": "Pod", "namespace": ns, "name": "web-0", "uid": pod["metadata"]["uid"]}}
            assert endpoints["metadata"]["labels"] == {"tier": "front"}
            assert "endpoints.kubernetes.io/last-change-trigger-time" in endpoints["metadata"]["annotations"]

            # A pod whose "http" is another port number splits the subsets (RepackSubsets).
            await client.create(PODS, pod_body("web-3", {"app": "web"}, http_port=8081), namespace=ns)
            await start_pod(client, ns, "web-3", "10.1.0.4", True)
            await wait_summary(client, ns, "web", [
                (["web-0", "web-1"], ["web-2"], [("http", 8080, "TCP")]),
                (["web-0", "web-1", "web-3"], ["web-2"], [("dns", 53, "UDP"), ("metrics", 9100, "TCP")]),
                (["web-3"], [], [("http", 8081, "TCP")]),
            ])
            await client.delete(PODS, "web-3", namespace=ns, grace_period_seconds=0)

            # Readiness moves a pod across; scale down and up.
            await set_ready(client, ns, "web-2", True)
            await wait_summary(client, ns, "web", [(["web-0", "web-1", "web-2"], [], BOTH)])
            await client.delete(PODS, "web-1", namespace=ns, grace_period_seconds=0)
            await client.create(PODS, pod_body("web-4", {"app": "web"}), namespace=ns)
            await start_pod(client, ns, "web-4", "10.1.0.5", True)
            endpoints = await wait_summary(client, ns, "web", [(["web-0", "web-2", "web-4"], [], BOTH)])

            # A terminating pod (graceful delete of a bound pod leaves it, marked) drops out.
            await client.delete(PODS, "web-4", namespace=ns)
            assert (await client.get(PODS, "web-4", namespace=ns))["metadata"].get("deletionTimestamp")
            endpoints = await wait_summary(client, ns, "web", [(["web-0", "web-2"], [], BOTH)])

            # What kubectl shows.
            kubectl = AsyncKubectl(apiserver.url, tmp_path)
            out = await kubectl.ok("get", "endpoints", "web", "-n", ns)
            assert "10.1.0.1:53" in out and "10.1.0.3:" in out, out
            assert out.splitlines()[0].split()[:2] == ["NAME", "ENDPOINTS"]

            # Unrelated pod changes write nothing.
            version = endpoints["metadata"]["resourceVersion"]
            await client.patch(PODS, "web-0", {"metadata": {"annotations": {"note": "x"}}}, namespace=ns)
            await asyncio.sleep(0.5)
            assert (await client.get(ENDPOINTS, "web", namespace=ns))["metadata"]["resourceVersion"] == version

            # Endpoints deleted by hand come back; the Service's deletion takes them away.
            await client.delete(ENDPOINTS, "web", namespace=ns)
            await wait_summary(client, ns, "web", [(["web-0", "web-2"], [], BOTH)])
            await client.delete(SERVICES, "web", namespace=ns)
            await wait_for(lambda: gone(client, ns, "web"), message="endpoints deleted")

    asyncio.run(scenario())


def test_publish_not_ready_headless_and_selectorless(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS) as (client, manager):
            ns = await fresh_namespace(client)
            for index, ready in ((0, True), (1, False)):
                await client.create(PODS, pod_body(f"db-{index}", {"app": "db"}), namespace=ns)
                await start_pod(client, ns, f"db-{index}", f"10.2.0.{index + 1}", ready)

            everyone = service_body("db-all", {"app": "db"}, [{"port": 5432, "targetPort": 8080}],
                                    publishNotReadyAddresses=True)
            await client.create(SERVICES, everyone, namespace=ns)
            await wait_summary(client, ns, "db-all", [(["db-0", "db-1"], [], [(None, 8080, "TCP")])])

            headless = service_body("db", {"app": "db"}, clusterIP="None")
            await client.create(SERVICES, headless, namespace=ns)
            endpoints = await wait_summary(client, ns, "db", [(["db-0"], ["db-1"], [])])
            assert endpoints["metadata"]["labels"] == {"tier": "front", "service.kubernetes.io/headless": ""}

            # No selector: Endpoints are the user's, left as written.
            await client.create(SERVICES, service_body("external", None, [{"port": 80}]), namespace=ns)
            mine = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "external"},
                    "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 80}]}]}
            created = await client.create(ENDPOINTS, mine, namespace=ns)
            await asyncio.sleep(0.5)
            kept = await client.get(ENDPOINTS, "external", namespace=ns)
            assert kept["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]

            # A terminal pod is not an endpoint, even with publishNotReadyAddresses.
            pod = await client.get(PODS, "db-1", namespace=ns)
            pod["status"]["phase"] = "Failed"
            await client.update(PODS, pod, namespace=ns, subresource="status")
            await wait_summary(client, ns, "db-all", [(["db-0"], [], [(None, 8080, "TCP")])])

    asyncio.run(scenario())


async def gone(client, namespace: str, name: str) -> bool:
    return await endpoints_of(client, namespace, name) is None


def test_repack_merges_addresses_sharing_ports():
    def address(ip, uid):
        return {"ip": ip, "targetRef": {"kind": "Pod", "name": uid, "uid": uid}}

    http = {"name": "http", "port": 80, "protocol": "TCP"}
    https = {"name": "https", "port": 443, "protocol": "TCP"}
    subsets = [
        {"addresses": [address("10.0.0.2", "b")], "ports": [http]},
        {"addresses": [address("10.0.0.1", "a")], "ports": [http]},
        {"addresses": [address("10.0.0.1", "a")], "ports": [https]},
        # Not ready on one port makes it not ready there only; b serves https not at all.
        {"notReadyAddresses": [address("10.0.0.2", "b")], "ports": [http]},
    ]
    assert repack_subsets(subsets) == [
        {"addresses": [address("10.0.0.1", "a")], "ports": [https]},
        {"addresses": [address("10.0.0.1", "a")], "notReadyAddresses": [address("10.0.0.2", "b")], "ports": [http]},
    ]
