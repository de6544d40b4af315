"""Observing the election Lease: a :class:`kcs.watch.Watcher`, with a LIST as the poll
while the watch is not healthy.

Every replica, leader or standby, watches the one Lease (field selector
``metadata.name``) with the same watcher the informers use: list, watch from the list's
version with bookmarks, resume after a disconnect or a stall, relist after 410, back off
after a failure. What it knows is an :class:`Observation`: the Lease's content and the
moment *on this replica's monotonic clock* when that content was first seen. Expiry is
measured from that moment, never from the times written in the Lease, so clocks of
different machines are never compared (client-go's ``observedTime``).

While the watch is not healthy (not open, or failed since it last delivered), the
observer also lists the Lease every jittered ``retry_period``, so that a standby that
cannot watch still sees a release within a retry period.

Observations only move forward: a state older (by resourceVersion) than the current one
is ignored, so a late watch event or poll cannot undo what a write's response already
showed.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from kcs.client import ClientError
from kcs.core import ApiError, Object, parse_resource_version
from kcs.leaderelection._lock import LEASES, LeaseLock
from kcs.leaderelection._record import LeaderElectionRecord
from kcs.leaderelection._timing import ElectionTimings
from kcs.watch import (
    Apply,
    Backoff,
    Bookmark,
    Delete,
    InitApply,
    InitDone,
    InitStart,
    Watcher,
    WatchError,
    WatcherState,
    WatchOptions,
)

__all__ = ["LeaseObserver", "Observation"]

_log = logging.getLogger("kcs.leaderelection")

# Watches of the Lease ask for 180-360 s (WatchOptions draws in [t, 2t)).
_WATCH_TIMEOUT = 180.0


@dataclass(frozen=True, slots=True)
class Observation:
    """The Lease as this replica last saw it.

    ``lease`` is ``None`` when it does not exist (never created, or deleted); then
    ``last_record`` is the record seen before it disappeared, if any. ``observed_at`` is
    the monotonic time when the current content (``record.key``) was first seen; it does
    not move while the content stays the same, and a deletion keeps the time of the last
    content seen, so a deleted lease counts as held by its last holder until that holder's
    lease would have expired.
    """

    lease: Object | None
    record: LeaderElectionRecord | None
    resource_version: str
    observed_at: float
    last_record: LeaderElectionRecord | None = None

    @property
    def holder(self) -> str:
        """The holder now (``""`` if nobody, or the lease does not exist)."""
        return self.record.holder_identity if self.record is not None else ""


def _older(rv: str, than: str) -> bool:
    """Whether ``rv`` is known to be older than (or as old as) ``than``."""
    a, b = parse_resource_version(rv), parse_resource_version(than)
    return a is not None and b is not None and a <= b


class LeaseObserver:
    """Keeps the latest :class:`Observation` of one Lease and reports every change.

    ``on_change(new, old)`` is called (synchronously, in the caller of :meth:`observe`)
    whenever the observation changes. :meth:`run` keeps a :class:`kcs.watch.Watcher` of
    the Lease going and, while that watch is not healthy, lists the Lease every jittered
    ``retry_period``. Results of the elector's own reads and writes are fed in with
    :meth:`observe` too.
    """

    def __init__(
        self,
        lock: LeaseLock,
        timings: ElectionTimings,
        on_change: Callable[[Observation, Observation | None], None],
    ) -> None:
        self.lock = lock
        self.timings = timings
        self._on_change = on_change
        self.current: Observation | None = None
        self.watcher: Watcher | None = None
        """The watcher of the Lease while :meth:`run` runs (its ``stats`` and
        ``last_error`` say how the watch fares)."""
        self._failures = 0
        self._delivered_on = -1  # the watcher's stats.watches when it last delivered

    @property
    def watching(self) -> bool:
        """Whether the watch is healthy: the stream open now has delivered an event (a
        change or a bookmark) and nothing failed since (``False``: polling, or starting).

        A stream that has not delivered yet does not count: a watch whose start the
        client is still retrying (5xx answers) looks open but shows nothing."""
        w = self.watcher
        return (
            w is not None and w.state is WatcherState.WATCHING
            and w.stats.consecutive_failures == 0
            and self._delivered_on == w.stats.watches
        )

    def options(self) -> WatchOptions:
        """The watch settings of the Lease: retries as often as a retry period at first,
        and never less often than once a lease duration (permanent errors included)."""
        t = self.timings
        return WatchOptions(
            watch_timeout=_WATCH_TIMEOUT,
            backoff=Backoff(initial=t.retry_period, maximum=t.lease_duration),
            permanent_error_backoff=Backoff(
                initial=t.retry_period, maximum=t.lease_duration, jitter=0.2
            ),
        )

    def observe(
        self, lease: Object | None, resource_version: str | None = None
    ) -> Observation | None:
        """Take in a state of the Lease (``None``: it does not exist) read at
        ``resource_version`` (default: the Lease's own; ``""`` for a read that found
        nothing and carries no version, which is taken as current). A state known to be
        no newer than the current one is ignored. Returns the current observation."""
        cur = self.current
        if resource_version is not None:
            rv = resource_version
        else:
            rv = lease.resource_version if lease is not None else ""
        if cur is not None and (
            (rv and rv == cur.resource_version) or _older(rv, cur.resource_version)
        ):
            return cur
        now = anyio.current_time()
        if lease is None:
            if cur is not None and cur.lease is None:
                return cur
            last = cur.record if cur is not None and cur.record is not None else (
                cur.last_record if cur is not None else None
            )
            new = Observation(None, None, rv, cur.observed_at if cur else now, last)
        else:
            record = LeaderElectionRecord.from_lease(lease)
            same = cur is not None and cur.record is not None and cur.record.key == record.key
            observed_at = cur.observed_at if same and cur is not None else now
            new = Observation(lease, record, rv, observed_at)
        self.current = new
        self._on_change(new, cur)
        return new

    async def run(self) -> None:
        """Watch the Lease until cancelled, polling while the watch is not healthy.

        Never returns and never raises (but for cancellation): the watcher reports its
        failures (``kcs.watch`` logger, :attr:`watcher` stats) and retries; a failed poll
        is logged here and tried again a retry period later.
        """
        watcher = Watcher(
            self.lock.client, LEASES, self.lock.namespace,
            field_selector={"metadata.name": self.lock.name},
            options=self.options(), on_error=self._watch_failed,
        )
        self.watcher = watcher
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._poll)
                await self._follow(watcher)
        finally:
            self.watcher = None

    async def _follow(self, watcher: Watcher) -> None:
        listed: Object | None = None
        async with watcher:
            async for event in watcher:
                self._delivered_on = watcher.stats.watches
                match event:
                    case InitStart():
                        listed = None
                    case InitApply(obj):
                        if obj.metadata.name == self.lock.name:
                            listed = obj
                    case InitDone(rv):
                        self.observe(listed, rv if listed is None else None)
                        listed = None
                    case Apply(obj):
                        if obj.metadata.name == self.lock.name:
                            self.observe(obj)
                    case Delete(obj):
                        if obj.metadata.name == self.lock.name:
                            self.observe(None, obj.resource_version)
                    case Bookmark():
                        pass

    def _watch_failed(self, error: WatchError) -> None:
        _log.debug("watching %r: %s; polling every ~%.1fs until it recovers",
                   self.lock, error, self.timings.retry_period)

    async def _poll(self) -> None:
        rng = random.Random()
        while True:
            await anyio.sleep(self.timings.retry_wait(rng))
            if self.watching:
                self._failures = 0
                continue
            try:
                with anyio.fail_after(self.timings.request_timeout):
                    lease, rv = await self._list()
            except (ApiError, ClientError, TimeoutError, ValueError) as e:
                self._failures += 1
                if self._failures in (1, 10) or self._failures % 100 == 0:
                    _log.warning(
                        "polling %r failed (%d in a row): %s; trying again in ~%.1fs",
                        self.lock, self._failures, str(e) or type(e).__name__,
                        self.timings.retry_period,
                    )
                continue
            self._failures = 0
            self.observe(lease, rv if lease is None else None)

    async def _list(self) -> tuple[Object | None, str]:
        lock = self.lock
        result = await lock.client.list(
            LEASES, lock.namespace, field_selector={"metadata.name": lock.name}
        )
        lease = next((i for i in result if i.metadata.name == lock.name), None)
        return lease, result.resource_version
