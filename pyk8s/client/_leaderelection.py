"""Leader election through a ``coordination.k8s.io/v1`` Lease, as client-go's
``tools/leaderelection`` with a LeaseLock.

1. Acquire: every ``retry_period`` (with up to 20 % jitter) try to take the lease.  It can be
   taken when it does not exist (create it), when its holder is empty (released), or when it
   has expired: ``renewTime + leaseDurationSeconds < now``.  Taking it writes holderIdentity,
   acquireTime, renewTime, leaseDurationSeconds and leaseTransitions + 1 with a
   compare-and-swap on resourceVersion, so of two candidates racing for it exactly one wins.
2. Lead: ``on_started_leading()`` runs as a task.  Every ``retry_period`` the leader renews
   (renewTime = now, CAS again); when no renewal succeeds for ``renew_deadline`` seconds it
   has lost the lease: the task is cancelled and ``on_stopped_leading()`` is called.  The
   renew deadline is shorter than the lease duration so that the old leader stops acting
   before anyone else may take over.
3. Release: when ``run()`` is cancelled while leading (clean shutdown), the lease is given up
   at once (holderIdentity emptied, as ReleaseOnCancel) so a standby need not wait it out.

Expiry is judged with the wall clock against the holder's renewTime, so candidates' clocks
are assumed roughly in step (upstream instead times how long it has watched the record stay
unchanged, which tolerates skew but makes a fresh candidate wait a full lease duration).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from pyk8s.client._errors import AlreadyExists, ApiError, Conflict, NotFound, TransportError
from pyk8s.client._resources import LEASES
from pyk8s.client._rest import ApiClient

__all__ = ["LeaderElector", "format_micro_time", "parse_micro_time"]

log = logging.getLogger(__name__)

_JITTER_FACTOR = 1.2


def format_micro_time(moment: dt.datetime) -> str:
    """MicroTime: RFC 3339 in UTC with exactly six fractional digits."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


class LeaderElector:
    def __init__(
        self,
        client: ApiClient,
        *,
        name: str,
        namespace: str,
        identity: str,
        on_started_leading: Callable[[], Awaitable[Any]],
        on_stopped_leading: Callable[[], Any] | None = None,
        on_new_leader: Callable[[str], Any] | None = None,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        release_on_cancel: bool = True,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        # client-go's NewLeaderElector checks, so a misconfiguration fails at construction.
        if lease_duration <= renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if renew_deadline <= _JITTER_FACTOR * retry_period:
            raise ValueError("renew_deadline must be greater than retry_period * 1.2")
        if retry_period <= 0:
            raise ValueError("retry_period must be greater than zero")
        if not identity:
            raise ValueError("identity must not be empty")
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.on_new_leader = on_new_leader
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.release_on_cancel = release_on_cancel
        self.clock = clock
        self.observed_holder = ""
        self._lease: dict | None = None
        self._leading = False

    def is_leader(self) -> bool:
        return self._leading

    async def run(self) -> None:
        """Acquire, lead until the lease is lost, then return; cancel it to step down."""
        await self._acquire()
        self._leading = True
        log.info("%s became leader of lease %s/%s", self.identity, self.namespace, self.name)
        work = asyncio.create_task(self._lead())
        try:
            await self._renew_until_lost(work)
        finally:
            self._leading = False
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            if asyncio.current_task().cancelling() and self.release_on_cancel:
                await asyncio.shield(self._release())
            if self.on_stopped_leading is not None:
                result = self.on_stopped_leading()
                if inspect.isawaitable(result):
                    await result

    async def _lead(self) -> None:
        try:
            await self.on_started_leading()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("on_started_leading of %s failed", self.identity)

    async def _acquire(self) -> None:
        while not await self._try_acquire_or_renew():
            await asyncio.sleep(self.retry_period * (1.0 + (_JITTER_FACTOR - 1.0) * random.random()))

    async def _renew_until_lost(self, work: asyncio.Task) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.retry_period)
            deadline = loop.time() + self.renew_deadline
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    log.warning("%s failed to renew lease %s/%s: leadership lost", self.identity, self.namespace, self.name)
                    return
                try:
                    renewed = await asyncio.wait_for(self._try_acquire_or_renew(), remaining)
                except TimeoutError:
                    renewed = False
                if renewed:
                    break
                if not self._still_ours():
                    log.warning("%s: lease %s/%s taken by %s", self.identity, self.namespace, self.name, self.observed_holder)
                    return
                await asyncio.sleep(min(self.retry_period, max(0.0, deadline - loop.time())))

    def _still_ours(self) -> bool:
        return self.observed_holder in ("", self.identity)

    # -- one attempt -----------------------------------------------------------------------

    async def _try_acquire_or_renew(self) -> bool:
        now = self.clock()
        stamp = format_micro_time(now)
        try:
            lease = await self.client.get(LEASES, self.name, namespace=self.namespace)
        except NotFound:
            body = {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(stamp, stamp, 0),
            }
            try:
                self._lease = await self.client.create(LEASES, body)
            except (AlreadyExists, Conflict):
                return False
            except (ApiError, TransportError) as error:
                log.warning("%s: creating lease failed: %s", self.identity, error)
                return False
            self._observe(self.identity)
            return True
        except (ApiError, TransportError) as error:
            log.warning("%s: reading lease failed: %s", self.identity, error)
            return False
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        self._observe(holder)
        if holder and holder != self.identity and not self._expired(spec, now):
            return False
        if holder == self.identity and self._leading:
            acquire_time = spec.get("acquireTime") or stamp
            transitions = spec.get("leaseTransitions") or 0
        else:
            acquire_time = stamp
            transitions = (spec.get("leaseTransitions") or 0) + 1
        lease["spec"] = {**spec, **self._spec(acquire_time, stamp, transitions)}
        try:
            self._lease = await self.client.update(LEASES, lease)
        except Conflict:
            return False
        except (ApiError, TransportError) as error:
            log.warning("%s: updating lease failed: %s", self.identity, error)
            return False
        self._observe(self.identity)
        return True

    def _spec(self, acquire_time: str, renew_time: str, transitions: int) -> dict:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.lease_duration)),
            "acquireTime": acquire_time,
            "renewTime": renew_time,
            "leaseTransitions": transitions,
        }

    def _expired(self, spec: dict, now: dt.datetime) -> bool:
        renew = spec.get("renewTime") or spec.get("acquireTime")
        if not renew:
            return True
        try:
            renewed_at = parse_micro_time(renew)
        except ValueError:
            return True
        duration = spec.get("leaseDurationSeconds") or self.lease_duration
        return renewed_at + dt.timedelta(seconds=duration) < now

    def _observe(self, holder: str) -> None:
        if holder != self.observed_holder:
            self.observed_holder = holder
            if holder and self.on_new_leader is not None:
                try:
                    self.on_new_leader(holder)
                except Exception:
                    log.exception("on_new_leader of %s failed", self.identity)

    async def _release(self) -> None:
        """Empty holderIdentity if we still hold the lease (one attempt, bounded)."""
        lease = self._lease
        if lease is None:
            return
        spec = dict(lease.get("spec") or {})
        if spec.get("holderIdentity") != self.identity:
            return
        stamp = format_micro_time(self.clock())
        spec.update(holderIdentity="", leaseDurationSeconds=1, renewTime=stamp, acquireTime=stamp)
        lease = {**lease, "spec": spec}
        try:
            self._lease = await asyncio.wait_for(self.client.update(LEASES, lease), self.renew_deadline)
        except (TimeoutError, ApiError, TransportError) as error:
            log.warning("%s: releasing lease failed: %s", self.identity, error)
