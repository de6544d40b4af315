"""Who is in the ring: the shard Leases, watched, with expiry timed on this clock and
confirmed by a conditioned write.

A member is the holder of a shard Lease (label ``sharding.kcs.io/ring=<ring>``). It stays
a member until this process has seen its Lease unchanged for ``lease_duration`` *and*
then deleted that very Lease with a resourceVersion precondition: the same proof a
standby gives when it takes the leader's lease. A watch that lags (and so missed
renewals) can make the timer fire early, but the conditioned delete then fails with a
Conflict and the member stays. Nothing compares wall clocks.

With crash detection (``Sharding(crash_detection=...)``) a member whose Lease advertises
a liveness endpoint is also followed there, and is removed as soon as its process is
proved gone (:func:`~kcs.leaderelection.wait_until_gone`): the same conditioned delete,
without waiting out the Lease.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import anyio
import anyio.abc

from kcs.client import Client, ClientError
from kcs.core import ApiError, Conflict, NotFound, Object
from kcs.informer import Informer, ResourceEventHandler
from kcs.leaderelection import (
    ANNOTATION_LIVENESS,
    LEASES,
    Endpoint,
    LeaderElectionRecord,
    parse_endpoint,
    wait_until_gone,
)
from kcs.sharding._options import RING_LABEL, Sharding

__all__ = ["Member", "Membership"]

_log = logging.getLogger("kcs.sharding")


@dataclass(frozen=True, slots=True)
class Member:
    """A shard Lease as last observed: whose it is and when it last changed here."""

    identity: str
    lease: str
    resource_version: str
    observed_at: float
    """Monotonic time at which this process saw the Lease's current content."""
    duration: float
    """How long after :attr:`observed_at` the member may have expired."""
    key: bytes
    endpoint: Endpoint | None = None
    """The liveness endpoint its Lease advertises (``None``: none, or unreadable)."""

    def expired(self, now: float) -> bool:
        """Whether the Lease has been seen unchanged for its whole duration at ``now``."""
        return now >= self.observed_at + self.duration


class _Observer(ResourceEventHandler):
    def __init__(self, membership: Membership) -> None:
        self._m = membership

    def on_add(self, obj: Object, is_initial: bool) -> None:
        self._m._observe(obj)

    def on_update(self, old: Object, new: Object) -> None:
        self._m._observe(new)

    def on_delete(self, obj: Object) -> None:
        self._m._forget(obj.metadata.name)


class Membership:
    """The members of one ring, from a watch of its shard Leases.

    Guarantees:

    * :attr:`members` holds every identity whose shard Lease is held (a non-empty
      ``holderIdentity``), until the Lease is deleted or released, or it expires: seen
      unchanged here for ``lease_duration`` (the larger of the ring's setting and the
      Lease's ``leaseDurationSeconds``) and then deleted by this process with a
      resourceVersion precondition. So a member leaves only once its shard's fence has
      closed (it cancels its work ``renew_deadline`` after its last successful renewal,
      and that renewal is the resourceVersion deleted) or it left on purpose.
    * Right after :meth:`run` starts (a new sharder, after a takeover) every existing
      Lease counts as just observed: a shard that died before the takeover is declared
      dead a full ``lease_duration`` later, never sooner.
    * With crash detection, a member whose liveness endpoint greeted this process and
      then refused a connection is removed at once, by the same conditioned delete
      (counted in :attr:`crashed`): its endpoint closes only after its fence has closed,
      or with its process. A pause or a partition never produces that proof.
    * :meth:`wait_changed` returns when :attr:`members` changed: a join, a graceful leave
      (Lease deleted or released), a confirmed expiry (timed here, no polling) or a
      proved crash.
    """

    def __init__(self, client: Client, sharding: Sharding, namespace: str | None = None) -> None:
        self.client = client
        self.sharding = sharding
        self.namespace = namespace or sharding.lease_namespace or client.namespace
        self.informer = Informer(client, LEASES, self.namespace,
                                 label_selector={RING_LABEL: sharding.ring})
        self._observed: dict[str, Member] = {}
        self._confirming: set[str] = set()
        self._members: frozenset[str] = frozenset()
        self._changed = anyio.Event()
        self._wake = anyio.Event()
        self.expired = 0
        """Members removed because their Lease expired (confirmed by the delete)."""
        self.refuted = 0
        """Expiries timed here that the conditioned delete refuted (the Lease had been
        renewed: this process's watch was behind)."""
        self.crashed = 0
        """Members removed at once because their process was proved gone."""
        self._followers: dict[str, tuple[Endpoint, anyio.CancelScope]] = {}
        self.informer.add_handler(_Observer(self), name=f"sharding {sharding.ring}: leases")

    @property
    def members(self) -> frozenset[str]:
        """The members now."""
        return self._members

    @property
    def confirming(self) -> frozenset[str]:
        """The Leases whose expiry is being confirmed now."""
        return frozenset(self._confirming)

    @property
    def has_synced(self) -> bool:
        """Whether the Lease watch has listed once."""
        return self.informer.has_synced

    def _observe(self, obj: Object) -> None:
        record = LeaderElectionRecord.from_lease(obj)
        name = obj.metadata.name
        before = self._observed.get(name)
        rv = obj.metadata.resource_version
        if before is not None and before.resource_version == rv:
            return  # the same write seen again (a relist): no renewal
        duration = max(self.sharding.timings.lease_duration, record.lease_duration or 0.0)
        advertised = obj.metadata.annotations.get(ANNOTATION_LIVENESS)
        self._observed[name] = Member(record.holder_identity, name, rv,
                                      anyio.current_time(), duration, record.key,
                                      parse_endpoint(advertised) if advertised else None)
        self._recompute()

    def _forget(self, name: str) -> None:
        self._observed.pop(name, None)
        self._recompute()

    def _recompute(self) -> None:
        live = frozenset(m.identity for m in self._observed.values() if m.identity)
        if live != self._members:
            self._members = live
            self._changed.set()
            self._changed = anyio.Event()
        self._wake.set()

    async def wait_changed(self) -> None:
        """Wait until :attr:`members` changes."""
        await self._changed.wait()

    async def run(self) -> None:
        """Watch the Leases, time their expiry and confirm it, until cancelled."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.informer.run)
            while True:
                self._wake = anyio.Event()
                self._follow_endpoints(tg)
                now = anyio.current_time()
                for member in list(self._observed.values()):
                    if (member.identity and member.expired(now)
                            and member.lease not in self._confirming):
                        self._confirming.add(member.lease)
                        tg.start_soon(self._confirm, member)
                pending = [m.observed_at + m.duration for m in self._observed.values()
                           if m.identity and not m.expired(now)]
                with anyio.move_on_after(max(0.0, min(pending, default=math.inf) - now)
                                         + 0.001):
                    await self._wake.wait()

    def _follow_endpoints(self, tg: anyio.abc.TaskGroup) -> None:
        """One follower per member's advertised endpoint (crash detection only)."""
        if self.sharding.crash_detection is None:
            return
        wanted = {m.lease: m.endpoint for m in self._observed.values()
                  if m.identity and m.endpoint is not None}
        for lease, (endpoint, scope) in list(self._followers.items()):
            if wanted.get(lease) != endpoint:
                scope.cancel()
                del self._followers[lease]
        for lease, endpoint in wanted.items():
            if endpoint is not None and lease not in self._followers:
                scope = anyio.CancelScope()
                self._followers[lease] = (endpoint, scope)
                tg.start_soon(self._follow, lease, endpoint, scope)

    async def _follow(self, lease: str, endpoint: Endpoint, scope: anyio.CancelScope) -> None:
        """Wait for the proof that the process behind ``endpoint`` is gone, then remove
        its member with the conditioned delete (retried while it is still observed with
        that endpoint: the proof stands, whatever later write of its Lease is seen)."""
        config = self.sharding.crash_detection
        assert config is not None
        timings = self.sharding.timings
        with scope:
            await wait_until_gone(endpoint, config, retry=timings.retry_period)
            _log.warning("sharding %s: the liveness endpoint of %s (%s) refused a connection "
                         "after greeting: its process is gone", self.sharding.ring, lease,
                         endpoint)
            while True:
                member = self._observed.get(lease)
                if member is None or member.endpoint != endpoint:
                    return
                if lease not in self._confirming:
                    self._confirming.add(lease)
                    await self._confirm(member, crashed=True)
                if lease not in self._observed:
                    return
                await anyio.sleep(timings.retry_period)

    async def _confirm(self, member: Member, *, crashed: bool = False) -> None:
        """Delete the expired (or crashed) member's Lease as observed; a Conflict means
        it was renewed."""
        try:
            while self._observed.get(member.lease) is member:
                try:
                    with anyio.fail_after(self.sharding.timings.request_timeout):
                        await self.client.delete(
                            LEASES, member.lease, self.namespace,
                            preconditions={"resourceVersion": member.resource_version})
                except NotFound:
                    pass
                except Conflict:
                    if not crashed:
                        self.refuted += 1
                    await self._reread(member)
                    return
                except (ApiError, ClientError, TimeoutError) as exc:
                    _log.warning("sharding %s: confirming the expiry of %s failed: %s",
                                 self.sharding.ring, member.lease, exc)
                    await anyio.sleep(self.sharding.timings.retry_wait())
                    continue
                if self._observed.get(member.lease) is member:
                    _log.warning("sharding %s: shard %s %s; its Lease is deleted",
                                 self.sharding.ring, member.identity,
                                 "crashed" if crashed else "expired")
                    if crashed:
                        self.crashed += 1
                    else:
                        self.expired += 1
                    self._forget(member.lease)
                return
        finally:
            self._confirming.discard(member.lease)
            self._wake.set()

    async def _reread(self, member: Member) -> None:
        try:
            current = await self.client.get(LEASES, member.lease, self.namespace)
        except (ApiError, ClientError) as exc:
            _log.warning("sharding %s: reading %s failed: %s", self.sharding.ring,
                         member.lease, exc)
            return
        if current is None:
            self._forget(member.lease)
        elif self._observed.get(member.lease) is member:
            self._observe(current)
