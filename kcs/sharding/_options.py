"""The one setting that turns sharding on, and the labels it writes.

Names (``<ring>`` is :attr:`Sharding.ring`):

* ``sharding.kcs.io/ring=<ring>`` on each shard Lease ``<ring>-shard-<identity>``;
* ``shard.kcs.io/<ring>=<identity>`` on each assigned object (primary and owned): the
  shard that reconciles it;
* ``drain.shard.kcs.io/<ring>=true`` on a primary object the sharder wants to move: its
  shard stops reconciling it and acknowledges by removing both labels.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from kcs.core import Object, ObjectKey
from kcs.leaderelection import CrashDetection, ElectionTimings
from kcs.sharding._ring import DEFAULT_VNODES

__all__ = [
    "RING_LABEL",
    "PartitionKey",
    "Sharding",
    "default_partition_key",
]

RING_LABEL = "sharding.kcs.io/ring"
"""On a shard Lease: the ring it is a member of."""

PartitionKey = Callable[[Object], str]
"""The string a primary object is hashed by (default: ``namespace/name``)."""

_RING = re.compile(r"^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$")


def default_partition_key(obj: Object) -> str:
    """``namespace/name`` (``name`` for a cluster-scoped object): client-go's key."""
    return str(ObjectKey.of(obj))


def _default_timings() -> ElectionTimings:
    return ElectionTimings(lease_duration=15.0, renew_deadline=10.0, retry_period=2.0)


@dataclass(frozen=True, slots=True)
class Sharding:
    """Spread the manager's controllers over every replica that runs with this setting.

    ``ring`` names the group of replicas (a DNS label of at most 42 characters: it is
    part of label keys). ``timings`` are the shard Leases' (the same inequality as for
    leader election makes the per-shard fence safe). ``vnodes``: points per shard on the
    :class:`~kcs.sharding.HashRing`. ``partition_key`` maps a primary object to the string
    it is hashed by; it must read only the object's metadata (the sharder watches
    unassigned objects metadata-only) and give the same answer for the object's whole
    life (a changed key moves the object); owned objects always follow their controller
    owner. ``lease_namespace``:
    where the shard Leases live (default: the client's namespace). ``assign_concurrency``:
    label writes the sharder keeps in flight, and drain acknowledgements each shard does.
    ``crash_detection``: each shard listens on a liveness endpoint advertised in its
    Lease, and the sharder reassigns a shard's objects as soon as its process is proved
    gone instead of waiting out its Lease (the signal and its one network assumption are
    those of :class:`~kcs.leaderelection.CrashDetection`; give every replica of the ring
    the setting, and a port other than the leader election's if both are fixed).
    """

    ring: str
    timings: ElectionTimings = field(default_factory=_default_timings)
    vnodes: int = DEFAULT_VNODES
    partition_key: PartitionKey = default_partition_key
    lease_namespace: str | None = None
    assign_concurrency: int = 16
    crash_detection: CrashDetection | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.ring, str) or not _RING.match(self.ring):
            raise ValueError(
                f"ring must be a DNS label of at most 42 characters, not {self.ring!r}"
            )
        if self.vnodes < 1:
            raise ValueError("vnodes must be at least 1")
        if self.assign_concurrency < 1:
            raise ValueError("assign_concurrency must be at least 1")

    @property
    def shard_label(self) -> str:
        """The assignment label key: ``shard.kcs.io/<ring>``."""
        return f"shard.kcs.io/{self.ring}"

    @property
    def drain_label(self) -> str:
        """The drain label key: ``drain.shard.kcs.io/<ring>``."""
        return f"drain.shard.kcs.io/{self.ring}"

    def lease_name(self, identity: str) -> str:
        """The shard Lease of ``identity``: ``<ring>-shard-<identity>``."""
        return f"{self.ring}-shard-{identity}"
