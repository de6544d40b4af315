"""The Event recorder: aggregated, rate limited, bounded in memory.

Events tell people what a controller did to an object (``kubectl describe`` shows them).
Written naively they are a flood: a controller that retries a failing object writes the
same Event again and again. The recorder does what client-go's ``EventCorrelator`` does,
in a few steps, all decided in memory when :meth:`EventRecorder.event` is called:

1. **Aggregation** of similar events: events about one object with the same type and
   reason but different messages are counted per window; once ``max_similar`` distinct
   messages were seen within ``window`` seconds, later ones are folded together under
   the message ``"(combined from similar events): <latest message>"``.
2. **Series**: an event identical to one recorded within ``window`` seconds (same
   involved object, type, reason, message, component) does not create a new Event object:
   the existing one's ``count`` and ``lastTimestamp`` are updated (a merge PATCH).
3. **Coalescing**: occurrences that arrive while a write of the same Event is still
   queued ride on that write (a burst of 1,000 identical events is one POST).
4. **Spam filter**: every API write takes a token from a per-object bucket (``burst``
   tokens, one more every ``refill_seconds``); without a token the write is skipped (the
   count stays right in memory and goes out with the next write that is allowed).

Memory is bounded: every table is a ``cachetools`` LRU or TTL cache of ``cache_size``
entries, and at most ``max_pending`` writes wait. Events are best effort, as in
Kubernetes: a write that fails is logged and counted, never raised to the caller.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import anyio
from cachetools import LRUCache, TTLCache

from kcs.client import Client, ClientError
from kcs.core import AlreadyExists, ApiError, NotFound, Object, builtin

__all__ = ["EventRecorder", "EventStats", "EventType"]

_log = logging.getLogger("kcs.controller.events")

EventType = Literal["Normal", "Warning"]
"""The type of a core/v1 Event."""

_EVENTS = builtin("Event", "v1")
_COMBINED = "(combined from similar events): "


@dataclass(slots=True)
class EventStats:
    """Counters of an :class:`EventRecorder` (monotonic, for tests and metrics).

    :ivar recorded: Calls of :meth:`EventRecorder.event`.
    :ivar created: Event objects created (POST).
    :ivar patched: Series updates written (PATCH of count and lastTimestamp).
    :ivar coalesced: Occurrences folded into a write that was still queued (no API call of their
        own).
    :ivar aggregated: Occurrences whose message was replaced by the combined message.
    :ivar spam_dropped: Writes skipped by the per-object spam filter.
    :ivar overflow_dropped: Writes dropped because ``max_pending`` writes were already queued.
    :ivar failed: Writes that failed (logged).
    """

    recorded: int = 0
    created: int = 0
    patched: int = 0
    coalesced: int = 0
    aggregated: int = 0
    spam_dropped: int = 0
    overflow_dropped: int = 0
    failed: int = 0


@dataclass(slots=True)
class _Series:
    """One Event object and the occurrences it has counted."""

    namespace: str
    name: str
    count: int
    event: dict[str, Any]  # the body it was created with, to create it again if it expired
    created: bool = False  # its POST has been queued


@dataclass(slots=True)
class _Bucket:
    tokens: float
    last: float


@dataclass(slots=True)
class _Write:
    series: _Series
    body: dict[str, Any]
    create: bool


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _reference(obj: Object | dict[str, Any]) -> dict[str, str]:
    if isinstance(obj, Object):
        meta = obj.metadata
        ref = {
            "apiVersion": obj.api_version,
            "kind": obj.kind,
            "name": meta.name,
            "namespace": meta.namespace,
            "uid": meta.uid,
            "resourceVersion": meta.resource_version,
        }
    else:
        md = obj.get("metadata") or {}
        ref = {
            "apiVersion": str(obj.get("apiVersion") or ""),
            "kind": str(obj.get("kind") or ""),
            "name": str(md.get("name") or ""),
            "namespace": str(md.get("namespace") or ""),
            "uid": str(md.get("uid") or ""),
            "resourceVersion": str(md.get("resourceVersion") or ""),
        }
    return {k: v for k, v in ref.items() if v}


class EventRecorder:
    """Records core/v1 Events about objects, aggregated and rate limited.

    :meth:`event` never blocks and never raises for API trouble: it decides in memory
    what to write and queues the write; :meth:`run` (started by the controller, or by
    you) performs the writes, one at a time, in order. :meth:`flush` waits until the
    queue is empty. Defaults are client-go's: a 10 minute window, 10 distinct messages
    before aggregation, 25 writes per object then one per 5 minutes, 4096 cache entries.

    ``component`` is the reporting controller (``source.component`` and
    ``reportingComponent``); ``instance`` the replica (``source.host`` and
    ``reportingInstance``), e.g. the pod name. Not thread-safe: call it from the event
    loop that runs :meth:`run`.
    """

    def __init__(
        self,
        client: Client,
        component: str,
        *,
        instance: str = "",
        window: float = 600.0,
        max_similar: int = 10,
        burst: int = 25,
        refill_seconds: float = 300.0,
        cache_size: int = 4096,
        max_pending: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_similar < 1 or burst < 1 or cache_size < 1 or max_pending < 1:
            raise ValueError("max_similar, burst, cache_size and max_pending must be >= 1")
        self.client = client
        self.component = component
        self.instance = instance
        self.stats = EventStats()
        self._max_similar = max_similar
        self._burst = float(burst)
        self._refill = refill_seconds
        self._max_pending = max_pending
        self._clock = clock
        self._series: TTLCache[tuple[str, ...], _Series] = TTLCache(cache_size, window, clock)
        self._similar: TTLCache[tuple[str, ...], set[str]] = TTLCache(cache_size, window, clock)
        self._buckets: LRUCache[tuple[str, ...], _Bucket] = LRUCache(cache_size)
        self._pending: dict[str, _Write] = {}  # by Event name, in order of first queueing
        self._wakeup: anyio.Event | None = None  # set while run() sleeps
        self._idle: anyio.Event | None = None  # flush() waiters
        self._writing = False

    # -- recording ----------------------------------------------------------------------

    def normal(self, obj: Object | dict[str, Any], reason: str, message: str) -> None:
        """Record a ``Normal`` event about ``obj`` (see :meth:`event`)."""
        self.event(obj, "Normal", reason, message)

    def warning(self, obj: Object | dict[str, Any], reason: str, message: str) -> None:
        """Record a ``Warning`` event about ``obj`` (see :meth:`event`)."""
        self.event(obj, "Warning", reason, message)

    def event(
        self, obj: Object | dict[str, Any], type: EventType, reason: str, message: str
    ) -> None:
        """Record that ``reason``/``message`` happened to ``obj``; returns at once.

        ``obj`` is a cached :class:`~kcs.core.Object` or an object ``dict``. The Event
        lands in ``obj``'s namespace (``default`` for cluster-scoped objects).
        """
        self.stats.recorded += 1
        ref = _reference(obj)
        involved = tuple(ref.get(f, "") for f in ("apiVersion", "kind", "namespace", "name"))
        involved += (ref.get("uid", ""),)
        message, combined = self._aggregate(involved, type, reason, message)
        # A combined message joins one series per (object, type, reason), whatever it says.
        key = (*involved, type, reason, _COMBINED if combined else message)
        now = _now()
        series = self._series.get(key)
        if series is None:
            namespace = ref.get("namespace") or "default"
            # client-go's naming: the object's name and a unique suffix (names <= 253).
            name = f"{ref.get('name', 'object')[:236]}.{secrets.token_hex(8)}"
            event = self._new_event(namespace, name, ref, type, reason, message, now)
            series = _Series(namespace, name, 1, event)
        else:
            series.count += 1
        self._series[key] = series  # (re)starts its window
        series.event.update(count=series.count, lastTimestamp=now, message=message)
        pending = self._pending.get(series.name)
        if pending is not None:
            self.stats.coalesced += 1
            pending.body.update(count=series.count, lastTimestamp=now, message=message)
            return
        if not self._take_token(involved):
            self.stats.spam_dropped += 1
            return
        if len(self._pending) >= self._max_pending:
            self.stats.overflow_dropped += 1
            return
        if series.created:
            body = {"count": series.count, "lastTimestamp": now, "message": message}
        else:
            body = dict(series.event)
        self._pending[series.name] = _Write(series, body, create=not series.created)
        series.created = True
        if self._wakeup is not None:
            self._wakeup.set()

    def _aggregate(
        self, involved: tuple[str, ...], type: str, reason: str, message: str
    ) -> tuple[str, bool]:
        """The message to record, and whether it is the combined one.

        As client-go: distinct messages are counted per (object, type, reason) within the
        window; once ``max_similar`` were seen, every message is combined.
        """
        key = (*involved, type, reason)
        seen = self._similar.get(key)
        if seen is None:
            seen = set()
        if len(seen) < self._max_similar:
            seen.add(message)
            self._similar[key] = seen
        if len(seen) < self._max_similar:
            return message, False
        self.stats.aggregated += 1
        return _COMBINED + message, True

    def _take_token(self, involved: tuple[str, ...]) -> bool:
        now = self._clock()
        bucket = self._buckets.get(involved)
        if bucket is None:
            bucket = self._buckets[involved] = _Bucket(self._burst, now)
        elif self._refill > 0:
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.last) / self._refill)
            bucket.last = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def _new_event(
        self,
        namespace: str,
        name: str,
        ref: dict[str, str],
        type: str,
        reason: str,
        message: str,
        now: str,
    ) -> dict[str, Any]:
        source = {"component": self.component}
        if self.instance:
            source["host"] = self.instance
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": ref,
            "reason": reason,
            "message": message,
            "type": type,
            "source": source,
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "reportingComponent": self.component,
            "reportingInstance": self.instance,
        }

    # -- writing ------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """The number of writes waiting to be sent."""
        return len(self._pending)

    async def flush(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until every queued write was sent (needs :meth:`run` running).

        Returns ``False`` if ``timeout`` seconds passed first.
        """
        with anyio.move_on_after(timeout):
            while self._pending or self._writing:
                if self._idle is None:
                    self._idle = anyio.Event()
                await self._idle.wait()
            return True
        return False

    async def run(self) -> None:
        """Send queued writes, one at a time, until cancelled (then the rest is dropped)."""
        try:
            while True:
                if not self._pending:
                    if self._idle is not None:
                        self._idle.set()
                        self._idle = None
                    self._wakeup = anyio.Event()
                    await self._wakeup.wait()
                    continue
                name = next(iter(self._pending))
                write = self._pending.pop(name)
                self._writing = True
                try:
                    await self._send(write)
                finally:
                    self._writing = False
        finally:
            self._wakeup = None

    async def _send(self, write: _Write) -> None:
        series = write.series
        try:
            if write.create:
                await self.client.create(_EVENTS, write.body, series.namespace)
                self.stats.created += 1
                return
            try:
                await self.client.patch(_EVENTS, series.name, write.body, series.namespace)
                self.stats.patched += 1
            except NotFound:
                # The Event expired on the server (kube keeps them for an hour): start anew.
                await self.client.create(_EVENTS, dict(series.event), series.namespace)
                self.stats.created += 1
        except AlreadyExists:
            self.stats.created += 1  # an earlier attempt of this very POST landed
        except (ApiError, ClientError) as exc:
            self.stats.failed += 1
            _log.warning("could not write Event %s/%s: %s", series.namespace, series.name, exc)
