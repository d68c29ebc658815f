"""``pyk8s-controller-manager`` as a subprocess against a live API server: it reconciles,
serves /metrics and /healthz, elects one leader of two, stops cleanly on SIGTERM; plus its
flag parsing and the manager's stop-before-start, in-process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import aiohttp
import pytest
from controllerhelpers import fresh_namespace, wait_for

from pyk8s.apiserver.testing import free_port
from pyk8s.cli import controller_manager as cli
from pyk8s.client import LEASES, PODS, REPLICA_SETS, ApiClient, NotFound
from pyk8s.controllers import CONTROLLERS
from pyk8s.controllers.manager import ControllerManager

FAST_ELECTION = ("--leader-elect-lease-duration=3s", "--leader-elect-renew-deadline=2s",
                 "--leader-elect-retry-period=500ms")


class ManagerProcess:
    def __init__(self, url: str, *args: str) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-P", "-m", "pyk8s.cli.controller_manager", "--server", url,
             f"--metrics-port={self.port}", "--log-level=warning", *args],
            stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    async def get(self, path: str) -> str | None:
        try:
            async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{self.port}{path}") as response:
                return await response.text() if response.status == 200 else None
        except aiohttp.ClientError:
            return None

    def syncs(self, metrics: str) -> int:
        return sum(int(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                   if line.startswith('pyk8s_controller_syncs_total{controller="replicaset-controller"'))

    def terminate(self, timeout: float = 10.0) -> tuple[int, float, str]:
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            _out, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _out, err = self.process.communicate()
            raise AssertionError(f"did not exit within {timeout} s after SIGTERM:\n{err}") from None
        return self.process.returncode, time.monotonic() - started, err

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


def replica_set(namespace: str, replicas: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web", "namespace": namespace},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


async def pod_count(client: ApiClient, namespace: str) -> int:
    return len((await client.list(PODS, namespace=namespace))["items"])


def test_reconciles_serves_metrics_and_stops_on_sigterm(apiserver):
    manager = ManagerProcess(apiserver.url, "--controllers=replicaset", "--leader-elect=false",
                             "--concurrent-replicaset-syncs=3")

    async def scenario():
        async with ApiClient(apiserver.url) as client:
            metrics = await wait_for(lambda: manager.get("/metrics"), timeout=20, message="/metrics")
            assert 'workqueue_depth{name="replicaset-controller"} 0' in metrics
            assert "deployment-controller" not in metrics, "only the chosen controller runs"
            assert await manager.get("/healthz") == "ok"
            namespace = await fresh_namespace(client)
            await client.create(REPLICA_SETS, replica_set(namespace, 4))
            await wait_for(lambda: _is(pod_count(client, namespace), 4), timeout=20)
            metrics = await manager.get("/metrics")
            assert manager.syncs(metrics) > 0

    try:
        asyncio.run(scenario())
        code, seconds, err = manager.terminate()
        assert code == 0, err
        assert seconds < 5, f"SIGTERM took {seconds:.1f} s"
    finally:
        manager.kill()


async def _is(awaitable, expected):
    return await awaitable == expected


def test_two_managers_elect_one_leader_and_hand_over(apiserver):
    lease = "cm-election"
    common = ("--controllers=replicaset-controller", f"--leader-elect-resource-name={lease}", *FAST_ELECTION)
    first = ManagerProcess(apiserver.url, *common, "--identity=cm-a")

    async def holder(client: ApiClient) -> str:
        try:
            found = await client.get(LEASES, lease, namespace="kube-system")
        except NotFound:
            return ""
        return found["spec"].get("holderIdentity") or ""

    async def scenario():
        async with ApiClient(apiserver.url) as client:
            assert await wait_for(lambda: holder(client), timeout=20) == "cm-a"
            second = ManagerProcess(apiserver.url, *common, "--identity=cm-b")
            try:
                await wait_for(lambda: second.get("/metrics"), timeout=20, message="standby /metrics")
                namespace = await fresh_namespace(client)
                await client.create(REPLICA_SETS, replica_set(namespace, 3))
                await wait_for(lambda: _is(pod_count(client, namespace), 3), timeout=20)
                await asyncio.sleep(0.5)
                assert first.syncs(await first.get("/metrics")) > 0
                assert second.syncs(await second.get("/metrics")) == 0, "the standby must not act"
                assert await holder(client) == "cm-a"

                # The leader stops: it releases the lease, the standby takes over at once.
                code, seconds, err = first.terminate()
                assert code == 0, err
                assert seconds < 5
                assert await wait_for(lambda: holder(client), timeout=5, message="new leader") == "cm-b"
                await client.patch(REPLICA_SETS, "web", {"spec": {"replicas": 5}}, namespace=namespace)
                await wait_for(lambda: _is(pod_count(client, namespace), 5), timeout=20)
                await asyncio.sleep(0.5)
                assert await pod_count(client, namespace) == 5
                code, _seconds, err = second.terminate()
                assert code == 0, err
                assert await holder(client) == "", "a clean shutdown gives the lease up"
            finally:
                second.kill()

    try:
        asyncio.run(scenario())
    finally:
        first.kill()


def test_unknown_controller_exits_2():
    result = subprocess.run(
        [sys.executable, "-P", "-m", "pyk8s.cli.controller_manager", "--server", "http://127.0.0.1:9",
         "--controllers=replicaset,bogus"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "'bogus' is not in the list of known controllers" in result.stderr


def test_missing_controller_module_is_an_error_only_when_named(monkeypatch):
    monkeypatch.setitem(CONTROLLERS, "imaginary-controller", "pyk8s.controllers._imaginary:Imaginary")
    with pytest.raises(cli.UnavailableController, match="imaginary-controller.*module pyk8s.controllers._imaginary"):
        cli.select_controllers(["imaginary-controller"])
    everything = cli.select_controllers(["*"])
    assert "imaginary-controller" not in everything and "replicaset-controller" in everything
    assert cli.main(["--server", "http://127.0.0.1:9", "--controllers", "imaginary-controller"]) == 2


def test_flags_become_options():
    args = cli.parse_args(["--master", "http://x", "--node-monitor-grace-period=1m30s", "--node-monitor-period", "2",
                           "--concurrent-gc-syncs=7", "--controllers", "replicaset,-job", "--controllers=deployment",
                           "--secure-port=0", "--leader-elect=false"])
    options = cli.controller_options(args)
    assert options["node_monitor_grace_period"] == 90.0
    assert options["node_monitor_period"] == 2.0
    assert options["concurrent_gc_syncs"] == 7 and options["concurrent_replicaset_syncs"] == 5
    assert options["namespace_sync_period"] == 300.0
    assert args.controllers == ["replicaset", "-job", "deployment"]
    assert args.metrics_port == -1 and args.leader_elect is False
    assert cli.parse_args(["--server", "http://x"]).metrics_port == 10257
    for text, seconds in [("40s", 40.0), ("5m0s", 300.0), ("1h2m3.5s", 3723.5), ("300ms", 0.3), ("2.5", 2.5)]:
        assert cli.parse_duration(text) == seconds
    with pytest.raises(SystemExit):
        cli.parse_args(["--server", "http://x", "--node-monitor-period=5 minutes"])
    with pytest.raises(SystemExit):
        cli.parse_args(["--server", "http://x", "--leader-elect-lease-duration=5s", "--leader-elect-renew-deadline=5s"])


def test_manager_stopped_before_it_started_returns(apiserver):
    async def scenario():
        async with ApiClient(apiserver.url) as client:
            manager = ControllerManager(client, ["replicaset-controller"])
            await manager.stop()
            await asyncio.wait_for(manager.run(), 5)
            assert not manager.started
            # And during start-up, against a server that never answers the lists.
            async with ApiClient(f"http://127.0.0.1:{free_port()}") as unreachable:
                stalled = ControllerManager(unreachable, ["replicaset-controller"])
                task = asyncio.create_task(stalled.run())
                await asyncio.sleep(0.3)
                await stalled.stop()
                await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
