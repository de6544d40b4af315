"""Observing the election Lease: a watch, with a LIST as the fallback poll.

Every replica, leader or standby, watches the one Lease (field selector
``metadata.name``). What it knows is an :class:`Observation`: the Lease's content and the
moment *on this replica's monotonic clock* when that content was first seen. Expiry is
measured from that moment, never from the times written in the Lease, so clocks of
different machines are never compared (client-go's ``observedTime``).

Observations only move forward: a state older (by resourceVersion) than the current one
is ignored, so a late watch event cannot undo what a write's response already showed.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import orjson

from kcs.client import ClientError
from kcs.core import ApiError, Gone, Object, object_from_dict, parse_resource_version
from kcs.leaderelection._lock import LEASES, LeaseLock
from kcs.leaderelection._record import LeaderElectionRecord
from kcs.leaderelection._timing import ElectionTimings

__all__ = ["LeaseObserver", "Observation"]

_log = logging.getLogger("kcs.leaderelection")

_WATCH_SECONDS = (240, 360)


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
    whenever the observation changes. :meth:`run` keeps a watch open and, when watching
    fails, re-reads the Lease every jittered ``retry_period`` until it can watch again.
    Results of the elector's own reads and writes are fed in with :meth:`observe` too.
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
        self.watching = False
        self._failures = 0

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
        """Watch the Lease until cancelled: list, then watch from the list's version,
        resume after a clean end, relist after 410. After a failure, poll (list every
        jittered ``retry_period``) for one lease duration before trying to watch again."""
        rng = random.Random()
        poll_until = 0.0
        while True:
            try:
                with anyio.fail_after(self.timings.request_timeout):
                    lease, rv = await self._list()
                self.observe(lease, rv if lease is None else None)
                if anyio.current_time() < poll_until:
                    await anyio.sleep(self.timings.retry_wait(rng))
                    continue
                while True:
                    rv = await self._watch(rv, rng)
            except Gone:
                _log.debug("watch of %r expired; listing again", self.lock)
            except (ApiError, ClientError, ValueError, TimeoutError) as e:
                self._failures += 1
                if self._failures in (1, 10) or self._failures % 100 == 0:
                    _log.warning(
                        "watching %r failed (%d in a row): %s; polling every ~%.1fs",
                        self.lock, self._failures, str(e) or type(e).__name__,
                        self.timings.retry_period,
                    )
                poll_until = anyio.current_time() + self.timings.lease_duration
                await anyio.sleep(self.timings.retry_wait(rng))

    async def _list(self) -> tuple[Object | None, str]:
        lock = self.lock
        result = await lock.client.list(
            LEASES, lock.namespace, field_selector={"metadata.name": lock.name}
        )
        lease = next((i for i in result if i.metadata.name == lock.name), None)
        return lease, result.resource_version

    async def _watch(self, rv: str, rng: random.Random) -> str:
        lock = self.lock
        stream = lock.client.watch_raw(
            LEASES, lock.namespace, resource_version=rv,
            field_selector={"metadata.name": lock.name}, allow_watch_bookmarks=True,
            timeout_seconds=rng.randint(*_WATCH_SECONDS),
        )
        try:
            # A watch that cannot start quickly (the client retries 5xx answers with
            # backoff) must not hold up the poll that replaces it.
            with anyio.fail_after(2 * self.timings.retry_period):
                await stream.start()
            self.watching = True
            async for lines in stream:
                self._failures = 0
                for line in lines:
                    rv = self._event(line, rv)
        finally:
            self.watching = False
            stream.aclose_now()
        return rv

    def _event(self, line: bytes, rv: str) -> str:
        event = orjson.loads(line)
        kind = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, dict):
            raise ValueError(f"watch event without an object: {line[:200]!r}")
        if kind == "ERROR":
            code = obj.get("code")
            if code == 410:
                raise Gone(obj, 410)
            raise ValueError(f"watch error: {obj.get('message') or obj}")
        meta = obj.get("metadata")
        new_rv = str(meta.get("resourceVersion") or rv) if isinstance(meta, dict) else rv
        if not isinstance(meta, dict) or meta.get("name") != self.lock.name:
            return new_rv
        if kind in ("ADDED", "MODIFIED"):
            self.observe(object_from_dict(obj))
        elif kind == "DELETED":
            self.observe(None, new_rv)
        return new_rv
