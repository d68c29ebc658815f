"""Leader election through a Lease against a live pyk8s-apiserver: one leader of two,
takeover after the leader stops renewing, release on clean shutdown, loss on renew failure."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time

import pytest

from pyk8s.apiserver.testing import APIServerProcess, run_apiserver
from pyk8s.client import LEASES, NAMESPACES, AlreadyExists, ApiClient, LeaderElector, format_micro_time, parse_micro_time

# lease 2 s > renew deadline 1 s > 1.2 * retry period 0.2 s (client-go's constraints)
TIMING = dict(lease_duration=2.0, renew_deadline=1.0, retry_period=0.2)
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture(scope="module")
def server():
    with run_apiserver("native") as live:
        yield live


def run(coroutine, timeout: float = 20.0):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


async def make_namespace(client: ApiClient, name: str) -> None:
    try:
        await client.create(NAMESPACES, {"metadata": {"name": name}})
    except AlreadyExists:
        pass


class Candidate:
    """An elector plus a log of what it did."""

    def __init__(self, client: ApiClient, identity: str, lease: str, **kwargs) -> None:
        self.identity = identity
        self.started = asyncio.Event()
        self.stopped = asyncio.Event()
        self.work_cancelled = False
        self.elector = LeaderElector(
            client, name=lease, namespace="le", identity=identity,
            on_started_leading=self._lead, on_stopped_leading=self.stopped.set, **{**TIMING, **kwargs},
        )
        self.task = asyncio.create_task(self.elector.run())

    async def _lead(self) -> None:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.work_cancelled = True
            raise

    async def cancel(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def test_micro_time_round_trip():
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=dt.timezone.utc)
    assert format_micro_time(moment) == "2026-01-02T03:04:05.000600Z"
    assert parse_micro_time("2026-01-02T03:04:05.000600Z") == moment
    assert parse_micro_time("2026-01-02T03:04:05Z") == moment.replace(microsecond=0)


def test_timing_is_validated():
    client = ApiClient("http://127.0.0.1:1")
    async def lead():
        pass
    for bad in (dict(lease_duration=1.0, renew_deadline=1.0), dict(renew_deadline=2.0, retry_period=2.0)):
        with pytest.raises(ValueError):
            LeaderElector(client, name="x", namespace="y", identity="z", on_started_leading=lead, **bad)


def test_two_candidates_one_leader_then_takeover_when_renewals_stop(server):
    async def main():
        async with ApiClient(server.url) as client:
            await make_namespace(client, "le")
            a = Candidate(client, "a", "race", release_on_cancel=False)
            b = Candidate(client, "b", "race", release_on_cancel=False)
            await asyncio.wait([asyncio.create_task(a.started.wait()), asyncio.create_task(b.started.wait())],
                               return_when=asyncio.FIRST_COMPLETED)
            # Several renewal rounds: the other never gets in.
            for _ in range(10):
                await asyncio.sleep(0.1)
                assert a.started.is_set() != b.started.is_set()
                assert a.elector.is_leader() != b.elector.is_leader()
            leader, standby = (a, b) if a.started.is_set() else (b, a)
            lease = await client.get(LEASES, "race", namespace="le")
            spec = lease["spec"]
            assert spec["holderIdentity"] == leader.identity
            assert spec["leaseDurationSeconds"] == 2
            assert MICRO_TIME.match(spec["renewTime"]) and MICRO_TIME.match(spec["acquireTime"])
            assert spec["renewTime"] > spec["acquireTime"]  # renewed since acquired
            assert standby.elector.observed_holder == leader.identity
            transitions = spec.get("leaseTransitions", 0)

            # The leader goes away without releasing (as a crash would): the standby takes
            # over once renewTime + 2 s has passed.
            gone_at = time.monotonic()
            await leader.cancel()
            await asyncio.wait_for(standby.started.wait(), 5)
            waited = time.monotonic() - gone_at
            assert 1.0 < waited < 3.5
            lease = await client.get(LEASES, "race", namespace="le")
            assert lease["spec"]["holderIdentity"] == standby.identity
            assert lease["spec"]["leaseTransitions"] == transitions + 1
            assert leader.stopped.is_set() and leader.work_cancelled
            await standby.cancel()

    run(main())


def test_release_on_cancel_lets_the_standby_in_at_once(server):
    async def main():
        async with ApiClient(server.url) as client:
            await make_namespace(client, "le")
            a = Candidate(client, "a", "release")
            await asyncio.wait_for(a.started.wait(), 5)
            b = Candidate(client, "b", "release", lease_duration=30.0, renew_deadline=10.0)
            await asyncio.sleep(0.3)
            assert not b.started.is_set()
            released_at = time.monotonic()
            await a.cancel()
            assert a.stopped.is_set()
            lease = await client.get(LEASES, "release", namespace="le")
            assert lease["spec"]["holderIdentity"] in ("", "b")
            await asyncio.wait_for(b.started.wait(), 5)
            # Well before a's 2 s lease could have expired.
            assert time.monotonic() - released_at < 1.0
            await b.cancel()

    run(main())


def test_leadership_is_lost_when_the_lease_is_taken():
    """The holder cannot renew (someone else holds an unexpired lease): it stops leading
    within the renew deadline, its work is cancelled and on_stopped_leading runs."""
    process = APIServerProcess("native").start()
    try:
        async def main():
            async with ApiClient(process.url) as client:
                await make_namespace(client, "le")
                a = Candidate(client, "a", "stolen")
                await asyncio.wait_for(a.started.wait(), 5)
                lease = await client.get(LEASES, "stolen", namespace="le")
                now = format_micro_time(dt.datetime.now(dt.timezone.utc))
                lease["spec"].update(holderIdentity="intruder", renewTime=now, leaseDurationSeconds=60)
                await client.update(LEASES, lease)
                await asyncio.wait_for(a.stopped.wait(), 3)
                assert a.work_cancelled and not a.elector.is_leader()
                await asyncio.wait_for(a.task, 1)  # run() returns after losing

                # Renewals failing (server gone) also end leadership within the deadline.
                b = Candidate(client, "b", "other")
                await asyncio.wait_for(b.started.wait(), 5)
                await asyncio.to_thread(process.stop)
                await asyncio.wait_for(b.stopped.wait(), TIMING["renew_deadline"] + 2 * TIMING["retry_period"] + 1.0)
                assert b.work_cancelled

        run(main())
    finally:
        process.stop()
