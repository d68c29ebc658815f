"""The scheduler process (in-process ``Scheduler`` against a live API server) with a custom
Bind plugin, and with queueing hints deciding which cluster events retry an unschedulable
pod."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from pyk8s.apiserver.testing import run_apiserver
from pyk8s.client import EVENTS, NAMESPACES, NODES, PODS, ApiClient
from pyk8s.scheduler import Code, Status, default_registry
from pyk8s.scheduler.framework import BindPlugin
from pyk8s.scheduler.scheduler import Scheduler


@pytest.fixture
def apiserver():
    with run_apiserver("native") as server:
        yield server


def node_body(name, cpu, labels=None):
    capacity = {"cpu": str(cpu), "memory": "8Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": {}, "status": {"allocatable": capacity, "capacity": capacity}}


def pod_body(name, namespace, cpu="100m", labels=None, **spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                                     "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}], **spec}}


@contextlib.asynccontextmanager
async def scheduler_running(client, **kwargs):
    scheduler = Scheduler(client, initial_backoff=0.05, max_backoff=0.2, **kwargs)
    task = asyncio.create_task(scheduler.run())
    try:
        await scheduler.wait_until_leading(10)
        yield scheduler
    finally:
        await scheduler.stop()
        await asyncio.wait_for(task, 10)


async def until(predicate, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class LabelBinder(BindPlugin):
    """Binds pods labelled binder=custom itself (through the handle's client), rejects
    binder=reject, fails on binder=crash and skips the rest (left to the next binder)."""

    NAME = "LabelBinder"

    def __init__(self, args, handle):
        self.handle = handle
        self.bound: list[str] = []

    async def bind(self, state, pod, node_name):
        meta = pod["metadata"]
        mode = (meta.get("labels") or {}).get("binder")
        if mode == "custom":
            await self.handle.client.create(PODS, {
                "apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node_name}}, name=meta["name"], subresource="binding")
            self.bound.append(meta["name"])
            return Status()
        if mode == "reject":
            return Status(Code.UNSCHEDULABLE, ("node is reserved",), self.NAME)
        if mode == "crash":
            raise RuntimeError("boom")
        return Status(Code.SKIP)


CUSTOM_BIND_CONFIG = {"profiles": [
    # bind: LabelBinder first, then the default DefaultBinder
    {"schedulerName": "custom-bind", "plugins": {"bind": {"enabled": [{"name": "LabelBinder"}]}}},
    {"schedulerName": "only-custom", "plugins": {"bind": {"enabled": [{"name": "LabelBinder"}],
                                                          "disabled": [{"name": "DefaultBinder"}]}}},
]}


def test_custom_bind_plugins_run_in_order_until_one_does_not_skip(apiserver):
    async def scenario():
        registry = default_registry()
        registry.register("LabelBinder", LabelBinder)
        async with ApiClient(apiserver.url) as client:
            await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "binders"}})
            await client.create(NODES, node_body("bind-0", 4))
            async with scheduler_running(client, config=CUSTOM_BIND_CONFIG, registry=registry) as scheduler:
                binder = scheduler.cluster.profiles["custom-bind"].plugins["bind"][0]
                assert [p.NAME for p in scheduler.cluster.profiles["custom-bind"].plugins["bind"]] == ["LabelBinder", "DefaultBinder"]
                for name, labels, profile in (("by-custom", {"binder": "custom"}, "custom-bind"),
                                              ("by-default", {}, "custom-bind"),
                                              ("rejected", {"binder": "reject"}, "custom-bind"),
                                              ("crashing", {"binder": "crash"}, "custom-bind"),
                                              ("all-skipped", {}, "only-custom")):
                    await client.create(PODS, pod_body(name, "binders", labels=labels, schedulerName=profile))

                async def two_bound():
                    pods = (await client.list_all(PODS, namespace="binders"))["items"]
                    return sorted(p["metadata"]["name"] for p in pods if p["spec"].get("nodeName")) == ["by-custom", "by-default"]

                await until(two_bound, what="by-custom and by-default bound")
                # rejected: to unschedulable with the binder recorded (a plugin without
                # registered events: any event, e.g. crashing's forgotten binding, retries it)
                await until(lambda: scheduler.metrics.attempts_total("unschedulable", "custom-bind") >= 1, what="rejected unschedulable")
                # the failing ones keep being retried after back-off: wait for a second try
                await until(lambda: scheduler.metrics.attempts_total("error", "custom-bind") >= 2, what="crashing retried")
                await until(lambda: scheduler.metrics.attempts_total("error", "only-custom") >= 2, what="all-skipped retried")
                rejected = scheduler.queue.entries["binders/rejected"]
                wanted = {("by-custom", "Scheduled"), ("by-default", "Scheduled"), ("rejected", "FailedScheduling"),
                          ("crashing", "FailedScheduling"), ("all-skipped", "FailedScheduling")}

                async def events_written():
                    events = (await client.list_all(EVENTS, namespace="binders"))["items"]
                    return events if wanted <= {(e["involvedObject"]["name"], e["reason"]) for e in events} else None

                events = await until(events_written, what="events written")
                return (binder.bound, rejected.unschedulable_plugins, scheduler.cluster.pods_by_node["bind-0"],
                        dict(scheduler.assumed), events)

    custom_bound, rejected_plugins, on_node, assumed, events = asyncio.run(scenario())
    assert custom_bound == ["by-custom"]  # by-default was skipped by LabelBinder, bound by DefaultBinder
    assert rejected_plugins == frozenset({"LabelBinder"})  # no registered events: any event retries it
    # Pods whose binding failed are forgotten: only the two bound pods count on the node.
    assert sorted(on_node) == ["binders/by-custom", "binders/by-default"]
    assert set(assumed) <= {"binders/by-custom", "binders/by-default"}
    messages = {}
    for e in events:
        messages.setdefault((e["involvedObject"]["name"], e["reason"]), e["message"])
    assert messages[("by-custom", "Scheduled")] == "Successfully assigned binders/by-custom to bind-0"
    assert messages[("by-default", "Scheduled")] == "Successfully assigned binders/by-default to bind-0"
    assert messages[("rejected", "FailedScheduling")] == "Binding rejected: node is reserved"
    assert messages[("crashing", "FailedScheduling")] == "running Bind plugin 'LabelBinder': RuntimeError('boom')"
    assert messages[("all-skipped", "FailedScheduling")] == "Binding rejected: every Bind plugin skipped the pod"


def test_unschedulable_pod_waits_for_an_event_its_plugin_cares_about(apiserver):
    """Rejected by NodeResourcesFit only: a node label or taint change leaves it waiting; a
    pod deleted from the node, or the node's allocatable growing, retries it."""

    async def scenario():
        async with ApiClient(apiserver.url) as client:
            await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "hints"}})
            await client.create(NODES, node_body("hint-0", 2))
            async with scheduler_running(client) as scheduler:
                await client.create(PODS, pod_body("filler", "hints", cpu="1500m"))
                await until(lambda: "hints/filler" in scheduler.cluster.pods, what="filler bound")
                await client.create(PODS, pod_body("big", "hints", cpu="1"))
                await until(lambda: scheduler.queue.where("hints/big") == "unschedulable", what="big unschedulable")
                entry = scheduler.queue.entries["hints/big"]
                plugins, attempts = entry.unschedulable_plugins, entry.attempts

                await client.patch(NODES, "hint-0", {"metadata": {"labels": {"touched": "yes"}},
                                                     "spec": {"taints": [{"key": "k", "value": "v", "effect": "PreferNoSchedule"}]}})
                await until(lambda: scheduler.cluster.nodes["hint-0"].labels.get("touched"), what="node update seen")
                await asyncio.sleep(0.3)  # a wrongly moved pod would be retried within its 50 ms back-off
                after_labels = (scheduler.queue.where("hints/big"), entry.attempts)

                await client.delete(PODS, "filler", namespace="hints", grace_period_seconds=0)
                await until(lambda: scheduler.queue.where("hints/big") is None, what="big bound after the delete")

                await client.create(PODS, pod_body("bigger", "hints", cpu="1500m"))
                await until(lambda: scheduler.queue.where("hints/bigger") == "unschedulable", what="bigger unschedulable")
                await client.patch(NODES, "hint-0", {"status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}},
                                   subresource="status")
                await until(lambda: scheduler.queue.where("hints/bigger") is None, what="bigger bound after the resize")
                pods = {p["metadata"]["name"]: p for p in (await client.list_all(PODS, namespace="hints"))["items"]}
                return plugins, attempts, after_labels, pods

    plugins, attempts, after_labels, pods = asyncio.run(scenario())
    assert plugins == frozenset({"NodeResourcesFit"})
    assert after_labels == ("unschedulable", attempts)  # not retried on the label/taint change
    assert pods["big"]["spec"]["nodeName"] == "hint-0" and pods["bigger"]["spec"]["nodeName"] == "hint-0"
