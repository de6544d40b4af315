"""Who is in the ring: the shard Leases, watched, with expiry timed on this clock.

A member is the holder of a shard Lease (label ``sharding.kcs.io/ring=<ring>``) that this
process saw change less than ``lease_duration`` ago. Nothing compares wall clocks: a Lease
is "fresh" from the moment a change of it was *observed* here, exactly as a standby times
the leader's lease.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import anyio

from kcs.client import Client
from kcs.core import Object
from kcs.informer import Informer, ResourceEventHandler
from kcs.leaderelection import LEASES, LeaderElectionRecord
from kcs.sharding._options import RING_LABEL, Sharding

__all__ = ["Member", "Membership"]


@dataclass(frozen=True, slots=True)
class Member:
    """A shard Lease as last observed: whose it is and when it last changed here."""

    identity: str
    lease: str
    observed_at: float
    """Monotonic time at which this process saw the Lease's current content."""
    duration: float
    """How long after :attr:`observed_at` the member counts as live."""
    key: bytes

    def live(self, now: float) -> bool:
        """Whether the member is live at monotonic time ``now``."""
        return bool(self.identity) and now < self.observed_at + self.duration


class _Observer(ResourceEventHandler):
    def __init__(self, membership: Membership) -> None:
        self._m = membership

    def on_add(self, obj: Object, is_initial: bool) -> None:
        self._m._observe(obj)

    def on_update(self, old: Object, new: Object) -> None:
        self._m._observe(new)

    def on_delete(self, obj: Object) -> None:
        self._m._forget(obj)


class Membership:
    """The live members of one ring, from a watch of its shard Leases.

    Guarantees:

    * :attr:`members` is the set of identities whose Lease this process saw change less
      than ``lease_duration`` ago (the larger of the ring's setting and the Lease's own
      ``leaseDurationSeconds``), minus those whose Lease was deleted or released.
    * Right after :meth:`run` starts (a new sharder, after a takeover) every existing
      Lease counts as just observed: a shard that died before the takeover is declared
      dead a full ``lease_duration`` later, never sooner.
    * :meth:`wait_changed` returns when :attr:`members` changed: a join, a graceful leave
      (Lease deleted or released) or an expiry (timed here, no polling of the server).
    """

    def __init__(self, client: Client, sharding: Sharding, namespace: str | None = None) -> None:
        self.sharding = sharding
        self.namespace = namespace or sharding.lease_namespace or client.namespace
        self.informer = Informer(client, LEASES, self.namespace,
                                 label_selector={RING_LABEL: sharding.ring})
        self._observed: dict[str, Member] = {}
        self._members: frozenset[str] = frozenset()
        self._changed = anyio.Event()
        self._wake = anyio.Event()
        self.informer.add_handler(_Observer(self), name=f"sharding {sharding.ring}: leases")

    @property
    def members(self) -> frozenset[str]:
        """The live members now."""
        return self._members

    @property
    def has_synced(self) -> bool:
        """Whether the Lease watch has listed once."""
        return self.informer.has_synced

    def _observe(self, obj: Object) -> None:
        record = LeaderElectionRecord.from_lease(obj.to_dict())
        name = obj.metadata.name
        before = self._observed.get(name)
        if before is not None and before.key == record.key:
            return
        duration = max(self.sharding.timings.lease_duration, record.lease_duration or 0.0)
        self._observed[name] = Member(record.holder_identity, name, anyio.current_time(),
                                      duration, record.key)
        self._recompute()

    def _forget(self, obj: Object) -> None:
        self._observed.pop(obj.metadata.name, None)
        self._recompute()

    def _recompute(self) -> None:
        now = anyio.current_time()
        live = frozenset(m.identity for m in self._observed.values() if m.live(now))
        if live != self._members:
            self._members = live
            self._changed.set()
            self._changed = anyio.Event()
        self._wake.set()

    async def wait_changed(self) -> None:
        """Wait until :attr:`members` changes."""
        await self._changed.wait()

    async def run(self) -> None:
        """Watch the Leases and time their expiry until cancelled."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.informer.run)
            while True:
                self._wake = anyio.Event()
                now = anyio.current_time()
                expiries = [m.observed_at + m.duration for m in self._observed.values()
                            if m.live(now)]
                next_expiry = min(expiries, default=math.inf)
                with anyio.move_on_after(max(0.0, next_expiry - now) + 0.001):
                    await self._wake.wait()
                self._recompute()
