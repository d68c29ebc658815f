"""EndpointSlice controller against a live API server, pods' IPs and readiness set by hand
through pods/status (no kubelet runs), and what kubectl 1.37 shows of it."""

from __future__ import annotations

import asyncio
import datetime as dt

from controllerhelpers import fresh_namespace, running_controllers, wait_for
from kubectlhelpers import AsyncKubectl
from pyk8s.client import ENDPOINT_SLICES, NODES, PODS, SERVICES, AlreadyExists

MANAGED = "endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io"


def now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def ensure_node(client, name: str, zone: str | None = None) -> None:
    labels = {"topology.kubernetes.io/zone": zone} if zone else {}
    try:
        await client.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}})
    except AlreadyExists:
        pass


def pod_body(name: str, labels: dict, http_port: int = 8080, node: str = "node-a", **spec) -> dict:
    container = {"name": "app", "image": "nginx",
                 "ports": [{"name": "http", "containerPort": http_port},
                           {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"nodeName": node, "containers": [container], **spec}}


async def start_pod(client, namespace: str, name: str, ip: str | None, ready: bool) -> None:
    status = {"phase": "Running",
              "conditions": [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now_text()}]}
    if ip:
        status.update(podIP=ip, podIPs=[{"ip": ip}])
    await client.patch(PODS, name, {"status": status}, namespace=namespace, subresource="status")


async def add_pods(client, namespace: str, specs: list[tuple[str, str | None, bool]], labels: dict, **body) -> None:
    for name, ip, ready in specs:
        await client.create(PODS, pod_body(name, labels, **body), namespace=namespace)
        await start_pod(client, namespace, name, ip, ready)


def service_body(name: str, selector: dict | None, ports: list[dict] | None = None, **spec) -> dict:
    body_spec = dict(spec)
    if selector is not None:
        body_spec["selector"] = selector
    if ports is not None:
        body_spec["ports"] = ports
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": {"tier": "front"}},
            "spec": body_spec}


async def slices_of(client, namespace: str, service: str) -> list[dict]:
    found = await client.list(ENDPOINT_SLICES, namespace=namespace,
                              label_selector=f"kubernetes.io/service-name={service}")
    return found["items"]


def summary(slices: list[dict]) -> list[tuple]:
    """Each slice as (ports, sorted (pod, ready, serving, terminating)), sorted."""
    rows = []
    for endpoint_slice in slices:
        ports = tuple((p["name"], p.get("port"), p["protocol"]) for p in endpoint_slice.get("ports") or ())
        endpoints = tuple(sorted(
            (e["targetRef"]["name"], e["conditions"]["ready"], e["conditions"]["serving"], e["conditions"]["terminating"])
            for e in endpoint_slice.get("endpoints") or ()))
        rows.append((ports, endpoints))
    return sorted(rows)


async def wait_slices(client, namespace: str, service: str, expected: list[tuple], timeout: float = 10.0) -> list[dict]:
    expected = sorted((ports, tuple(sorted(endpoints))) for ports, endpoints in expected)

    async def check():
        slices = await slices_of(client, namespace, service)
        return slices if summary(slices) == expected else None

    try:
        return await wait_for(check, timeout=timeout)
    except AssertionError:
        raise AssertionError(f"slices {summary(await slices_of(client, namespace, service))} != {expected}") from None


def up(*names: str) -> tuple:
    """Ready, serving, not terminating."""
    return tuple((name, True, True, False) for name in names)


WEB_PORTS = [
    {"name": "http", "port": 80, "targetPort": "http"},
    {"name": "metrics", "port": 9090, "targetPort": 9100},
    {"name": "dns", "port": 53, "targetPort": "dns", "protocol": "UDP"},
]
ALL_PORTS = (("http", 8080, "TCP"), ("metrics", 9100, "TCP"), ("dns", 53, "UDP"))


def test_slices_follow_pods_and_kubectl_shows_them(apiserver, tmp_path):
    async def scenario():
        controllers = ["endpointslice-controller", "garbage-collector-controller"]
        async with running_controllers(apiserver.url, controllers) as (client, manager):
            await ensure_node(client, "node-a", zone="zone-a")
            ns = await fresh_namespace(client)
            service = await client.create(SERVICES, service_body("web", {"app": "web"}, WEB_PORTS), namespace=ns)
            # Before any pod: one empty placeholder slice.
            await wait_slices(client, ns, "web", [((), ())])
            await add_pods(client, ns, [("web-0", "10.1.0.1", True), ("web-1", "10.1.0.2", True),
                                        ("web-2", "10.1.0.3", False)], {"app": "web"})
            await add_pods(client, ns, [("other", "10.1.0.50", True)], {"app": "other"})
            await add_pods(client, ns, [("web-noip", None, True)], {"app": "web"})

            slices = await wait_slices(client, ns, "web", [(ALL_PORTS, up("web-0", "web-1") + (("web-2", False, False, False),))])
            (endpoint_slice,) = slices
            meta = endpoint_slice["metadata"]
            assert meta["generateName"] == "web-" and meta["name"].startswith("web-")
            assert meta["labels"] == {"tier": "front", "kubernetes.io/service-name": "web",
                                      "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
            assert meta["ownerReferences"] == [{"apiVersion": "v1", "kind": "Service", "name": "web",
                                                "uid": service["metadata"]["uid"], "controller": True,
                                                "blockOwnerDeletion": True}]
            assert endpoint_slice["addressType"] == "IPv4"
            pod = await client.get(PODS, "web-0", namespace=ns)
            first = next(e for e in endpoint_slice["endpoints"] if e["targetRef"]["name"] == "web-0")
            assert first == {"addresses": ["10.1.0.1"], "conditions": {"ready": True, "serving": True, "terminating": False},
                             "targetRef": {"kind": "Pod", "namespace": ns, "name": "web-0", "uid": pod["metadata"]["uid"]},
                             "nodeName": "node-a", "zone": "zone-a"}
            assert "endpoints.kubernetes.io/last-change-trigger-time" in meta["annotations"]

            # A pod whose "http" is another port number gets a slice of its own port list.
            await add_pods(client, ns, [("web-3", "10.1.0.4", True)], {"app": "web"}, http_port=8081)
            await wait_slices(client, ns, "web", [
                (ALL_PORTS, up("web-0", "web-1") + (("web-2", False, False, False),)),
                ((("http", 8081, "TCP"),) + ALL_PORTS[1:], up("web-3")),
            ])
            await client.delete(PODS, "web-3", namespace=ns, grace_period_seconds=0)

            # A terminating pod stays, not ready but still serving; readiness moves web-2 up.
            await client.delete(PODS, "web-1", namespace=ns)
            await client.patch(PODS, "web-2", {"status": {"conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": now_text()}]}}, namespace=ns, subresource="status")
            slices = await wait_slices(client, ns, "web", [(ALL_PORTS, up("web-0", "web-2") + (("web-1", False, True, True),))])

            # What kubectl shows: the slices, and describe's Endpoints line (ready ones only).
            kubectl = AsyncKubectl(apiserver.url, tmp_path)
            out = await kubectl.ok("get", "endpointslices", "-n", ns)
            header, row = out.splitlines()
            assert header.split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
            name, address_type, ports, endpoints = row.split()[:4]
            assert (name, address_type, ports) == (slices[0]["metadata"]["name"], "IPv4", "8080,9100,53"), row
            assert sorted(endpoints.split(",")) == ["10.1.0.1", "10.1.0.2", "10.1.0.3"], row
            out = await kubectl.ok("describe", "service", "web", "-n", ns)
            endpoint_lines = [sorted(line.split()[1].split(",")) for line in out.splitlines() if line.startswith("Endpoints:")]
            assert endpoint_lines == [["10.1.0.1:8080", "10.1.0.3:8080"], ["10.1.0.1:9100", "10.1.0.3:9100"],
                                      ["10.1.0.1:53", "10.1.0.3:53"]], out

            # Unrelated changes write nothing.
            versions = {s["metadata"]["name"]: s["metadata"]["resourceVersion"] for s in slices}
            await client.patch(PODS, "web-0", {"metadata": {"annotations": {"note": "x"}}}, namespace=ns)
            await asyncio.sleep(0.5)
            assert {s["metadata"]["name"]: s["metadata"]["resourceVersion"]
                    for s in await slices_of(client, ns, "web")} == versions

            # A slice deleted by hand comes back; the Service's deletion takes its slices away.
            await client.delete(ENDPOINT_SLICES, slices[0]["metadata"]["name"], namespace=ns)
            await wait_slices(client, ns, "web", [(ALL_PORTS, up("web-0", "web-2") + (("web-1", False, True, True),))])
            await client.delete(SERVICES, "web", namespace=ns)
            await wait_for(lambda: _none_left(client, ns, "web"), message="slices garbage-collected")

    asyncio.run(scenario())


async def _none_left(client, namespace: str, service: str) -> bool:
    return not await slices_of(client, namespace, service)


def test_capacity_headless_publish_not_ready_and_unmanaged_services(apiserver):
    async def scenario():
        options = {"max_endpoints_per_slice": 2}
        async with running_controllers(apiserver.url, ["endpointslice-controller"], options=options) as (client, manager):
            await ensure_node(client, "node-a")
            ns = await fresh_namespace(client)
            await add_pods(client, ns, [(f"db-{i}", f"10.2.0.{i + 1}", i != 4) for i in range(5)], {"app": "db"})
            # The first sync sees all five (else the slices are filled in another grouping).
            cache = manager.controller("endpointslice-controller").pods.indexer
            await wait_for(lambda: sum(1 for pod in cache.by_index("namespace", ns) if pod.get("status", {}).get("podIPs")) == 5)

            # At most two endpoints a slice: five pods make three slices.
            await client.create(SERVICES, service_body("db", {"app": "db"}, [{"port": 5432, "targetPort": 8080}]),
                                namespace=ns)
            slices = await wait_slices(client, ns, "db", [
                ((("", 8080, "TCP"),), (("db-0", True, True, False), ("db-1", True, True, False))),
                ((("", 8080, "TCP"),), (("db-2", True, True, False), ("db-3", True, True, False))),
                ((("", 8080, "TCP"),), (("db-4", False, False, False),)),
            ])
            assert all(len(s["endpoints"]) <= 2 for s in slices)
            # Scaling down empties and deletes a slice rather than repacking the others.
            for name in ("db-2", "db-3"):
                await client.delete(PODS, name, namespace=ns, grace_period_seconds=0)
            await wait_slices(client, ns, "db", [
                ((("", 8080, "TCP"),), (("db-0", True, True, False), ("db-1", True, True, False))),
                ((("", 8080, "TCP"),), (("db-4", False, False, False),)),
            ])

            # Headless, no ports, publishing not-ready pods: every pod ready, the headless label.
            headless = service_body("db-all", {"app": "db"}, clusterIP="None", publishNotReadyAddresses=True)
            await client.create(SERVICES, headless, namespace=ns)
            slices = await wait_slices(client, ns, "db-all", [
                ((), (("db-0", True, True, False), ("db-1", True, True, False))),
                ((), (("db-4", True, False, False),)),
            ])
            assert slices[0]["metadata"]["labels"]["service.kubernetes.io/headless"] == ""

            # No selector, or ExternalName: no slices from this controller.
            await client.create(SERVICES, service_body("external", None, [{"port": 80}]), namespace=ns)
            await client.create(SERVICES, service_body("alias", {"app": "db"}, type="ExternalName",
                                                       externalName="db.example.com"), namespace=ns)
            # A pod on a node nobody has registered is left out until the node appears.
            await add_pods(client, ns, [("late-0", "10.3.0.1", True)], {"app": "late"}, node="node-late")
            await client.create(SERVICES, service_body("late", {"app": "late"}, [{"port": 80, "targetPort": 8080}]),
                                namespace=ns)
            await wait_slices(client, ns, "late", [((), ())])
            await asyncio.sleep(0.3)
            assert await slices_of(client, ns, "external") == [] and await slices_of(client, ns, "alias") == []
            await ensure_node(client, "node-late", zone="zone-b")
            slices = await wait_slices(client, ns, "late", [((("", 8080, "TCP"),), up("late-0"))])
            assert slices[0]["endpoints"][0]["zone"] == "zone-b"

            # A terminal pod is no endpoint.
            pod = await client.get(PODS, "db-0", namespace=ns)
            pod["status"]["phase"] = "Failed"
            await client.update(PODS, pod, namespace=ns, subresource="status")
            await wait_slices(client, ns, "db-all", [((), (("db-1", True, True, False),)),
                                                     ((), (("db-4", True, False, False),))])

    asyncio.run(scenario())
