"""The scheduler's algorithm: a framework of upstream-named plugins over a native node
table (csrc/sched), with a plain-Python twin (``ReferenceCluster``) as the test oracle.

The scheduling process (informers, queue, binding over HTTP) builds on ``Cluster``.
"""

from ._base import CycleOutcome, Explanation, Preemption, ScheduleResult
from ._objects import SchedulingInputError
from .cluster import Cluster
from .config import build_profiles
from .framework import Code, Profile, ProfileError, Registry, Status
from .plugins import default_registry

__all__ = [
    "Cluster",
    "Code",
    "CycleOutcome",
    "Explanation",
    "Preemption",
    "Profile",
    "ProfileError",
    "ReferenceCluster",
    "Registry",
    "ScheduleResult",
    "SchedulingInputError",
    "Status",
    "build_profiles",
    "default_registry",
]


def __getattr__(name: str):
    # The test oracle is imported on first use: the scheduler process never needs it.
    if name == "ReferenceCluster":
        from .reference import ReferenceCluster

        return ReferenceCluster
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
