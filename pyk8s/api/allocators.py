"""ClusterIP and NodePort allocation, as upstream's service REST storage does it
(pkg/registry/core/service/ipallocator and portallocator): a range, a set of taken values,
random choice for new ones, and upstream's messages for a value that is taken or out of
range.  The API server rebuilds the sets from stored services when it starts."""

from __future__ import annotations

import ipaddress
import random

__all__ = ["AllocationError", "IPAllocator", "PortAllocator", "SERVICE_CIDR", "NODE_PORT_RANGE"]

SERVICE_CIDR = "10.96.0.0/12"
NODE_PORT_RANGE = (30000, 32767)


class AllocationError(Exception):
    """A requested value cannot be had; the message is upstream's detail."""


class IPAllocator:
    """IPv4 addresses of one CIDR, without its network and broadcast addresses."""

    def __init__(self, cidr: str = SERVICE_CIDR) -> None:
        self.network = ipaddress.IPv4Network(cidr)
        self.cidr = cidr
        self._first = int(self.network.network_address) + 1
        self._size = self.network.num_addresses - 2
        self._taken: set[int] = set()

    def nth(self, index: int) -> str:
        """The index-th usable address: ``nth(0)`` is ``.1``, the ``kubernetes`` service's."""
        return str(ipaddress.IPv4Address(self._first + index))

    def _parse(self, ip: str) -> int:
        try:
            value = int(ipaddress.IPv4Address(ip))
        except ValueError:
            raise AllocationError(f"failed to allocate IP {ip}: the provided IP ({ip}) is not a valid IP") from None
        if not self._first <= value < self._first + self._size:
            raise AllocationError(
                f"failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. "
                f"The range of valid IPs is {self.cidr}"
            )
        return value

    def check(self, ip: str) -> None:
        """Raise if ``ip`` cannot be allocated (taken or out of range); reserves nothing."""
        if self._parse(ip) in self._taken:
            raise AllocationError(f"failed to allocate IP {ip}: provided IP is already allocated")

    def allocate(self, ip: str) -> str:
        self.check(ip)
        self._taken.add(self._parse(ip))
        return ip

    def allocate_next(self, reserve: bool = True) -> str:
        if len(self._taken) >= self._size:
            raise AllocationError("failed to allocate a serviceIP: range is full")
        # Random start, then scan: new services do not all crowd at the low end, and a
        # nearly full range still finds its free addresses.
        offset = random.randrange(self._size)
        for step in range(self._size):
            value = self._first + (offset + step) % self._size
            if value not in self._taken:
                if reserve:
                    self._taken.add(value)
                return str(ipaddress.IPv4Address(value))
        raise AllocationError("failed to allocate a serviceIP: range is full")

    def release(self, ip: str) -> None:
        try:
            self._taken.discard(int(ipaddress.IPv4Address(ip)))
        except ValueError:
            pass

    def __contains__(self, ip: str) -> bool:
        try:
            return int(ipaddress.IPv4Address(ip)) in self._taken
        except ValueError:
            return False


class PortAllocator:
    def __init__(self, low: int = NODE_PORT_RANGE[0], high: int = NODE_PORT_RANGE[1]) -> None:
        self.low, self.high = low, high
        self._taken: set[int] = set()

    def check(self, port: int) -> None:
        if not self.low <= port <= self.high:
            raise AllocationError(
                f"provided port is not in the valid range. The range of valid ports is {self.low}-{self.high}"
            )
        if port in self._taken:
            raise AllocationError("provided port is already allocated")

    def allocate(self, port: int) -> int:
        self.check(port)
        self._taken.add(port)
        return port

    def allocate_next(self, reserve: bool = True) -> int:
        size = self.high - self.low + 1
        offset = random.randrange(size)
        for step in range(size):
            port = self.low + (offset + step) % size
            if port not in self._taken:
                if reserve:
                    self._taken.add(port)
                return port
        raise AllocationError("range is full")

    def release(self, port: int) -> None:
        self._taken.discard(port)

    def __contains__(self, port: int) -> bool:
        return port in self._taken
