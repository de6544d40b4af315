"""The work queue: keys, not events.

One entry per key. A key is *waiting* (due, in the ready heap), *delayed* (in the delay
heap until its deadline), or *parked* (added while a worker processes it; it joins the
ready heap at ``done``). Both heaps delete lazily: an entry is live only while its ticket
matches its item's, and a heap is rebuilt when stale entries outnumber live ones.
Delays need no task of their own: one waiting ``get()`` at a time holds the timer and
sleeps until the earliest deadline; every operation also promotes keys that are due.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import anyio
from anyio.lowlevel import checkpoint

from kcs.workqueue._metrics import NoQueueMetrics, QueueMetrics
from kcs.workqueue._priority import Priority, rank
from kcs.workqueue._ratelimit import ItemRateLimiter, default_controller_rate_limiter

__all__ = ["QueueShutDown", "WorkQueue"]

K = TypeVar("K", bound=Hashable)

_WAITING, _DELAYED, _PARKED, _GONE = 0, 1, 2, 3
# A heap is rebuilt when it holds more than twice its live entries plus this slack.
_COMPACT_SLACK = 1024


class QueueShutDown(Exception):
    """Raised by :meth:`WorkQueue.get` once the queue is shut down and has nothing left."""


class _Item(Generic[K]):
    """The one entry of a key that is waiting, delayed or parked."""

    __slots__ = ("deadline", "key", "priority", "seq", "since", "state", "ticket")

    def __init__(self, key: K, state: int, priority: int, since: float) -> None:
        self.key = key
        self.state = state
        self.priority = priority
        self.since = since  # when it became due: the start of its wait, for aging and latency
        self.deadline = since  # while delayed: when it becomes due
        self.seq = 0  # order of arrival among waiting keys; breaks ties
        self.ticket = 0  # identifies its live heap entry


class WorkQueue(Generic[K]):
    """A queue of keys for a controller's workers, built on anyio.

    Guarantees:

    - Dedup: a key added any number of times while it waits is queued once.
    - One worker per key: a key handed out by :meth:`get` is not handed out again until
      :meth:`done`. A key added meanwhile is marked dirty and waits again after ``done``,
      exactly once however many adds there were.
    - Delays: :meth:`add_after` makes a key due later. A key has one deadline: the
      earliest one asked for wins, and an immediate :meth:`add` supersedes any delay.
    - Backoff: :meth:`add_rate_limited` delays a key as the rate limiter says (by default
      client-go's: per-key 5 ms doubling to 1000 s, at most an overall 10/s with burst 100).
    - Order: highest effective priority first, ties in order of arrival, where the
      effective priority of a waiting key is ``priority + waited / aging_interval``: each
      level of priority is worth ``aging_interval`` seconds of waiting, so no key starves.
      Re-adding a waiting key at a higher priority raises it and keeps its time waited.
      With ``aging_interval=None`` priority is strict (FIFO within a priority).
    - :meth:`get` waits for a key; if it is cancelled it takes none.
    - Shutdown: after :meth:`shut_down` adds are ignored (and counted), delayed keys are
      dropped, workers still get the keys that were waiting or dirty, and then
      :class:`QueueShutDown`.

    Costs: O(log n) per operation, one small object per queued key, no task per key.
    Not thread-safe: call it from its event loop only (use ``anyio.from_thread`` elsewhere).
    """

    def __init__(
        self,
        *,
        rate_limiter: ItemRateLimiter[K] | None = None,
        aging_interval: float | None = 60.0,
        metrics: QueueMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create an empty queue.

        ``aging_interval`` is the seconds of waiting worth one priority level (``None``:
        no aging). ``clock`` is a monotonic clock in seconds, injectable for tests; with a
        fake clock, delayed keys are promoted whenever the queue is used after it moved.
        """
        if aging_interval is not None and not aging_interval > 0:
            raise ValueError("aging_interval must be positive or None")
        self._clock = clock
        self._aging = aging_interval
        self._limiter: ItemRateLimiter[K] = (
            rate_limiter
            if rate_limiter is not None
            else default_controller_rate_limiter(clock=clock)
        )
        self._metrics: QueueMetrics = metrics if metrics is not None else NoQueueMetrics()
        self._items: dict[K, _Item[K]] = {}
        self._ready: list[tuple[float, float, int, int, _Item[K]]] = []
        self._delayed: list[tuple[float, int, _Item[K]]] = []
        self._processing: dict[K, float] = {}
        # What shut_down(drop_waiting=True) replaced, freed with the queue (see there).
        self._dropped_entries: list[object] = []
        self._n_waiting = 0
        self._n_delayed = 0
        self._n_parked = 0
        self._counter = itertools.count(1)
        self._getters: deque[anyio.Event] = deque()
        self._timer: anyio.Event | None = None
        self._drained: anyio.Event | None = None
        self._shutting_down = False
        self._ignored = 0
        self._dropped = 0

    # -- adding -------------------------------------------------------------------------

    def add(self, key: K, priority: int = Priority.NORMAL) -> None:
        """Make ``key`` due now at ``priority``; ignored (and counted) after shutdown.

        A waiting key is not queued twice; a higher ``priority`` raises it. A delayed key
        becomes due now. A key being processed is marked dirty instead.
        """
        if self._refuse():
            return
        now = self._tick()
        item = self._items.get(key)
        if item is None:
            item = _Item(key, _WAITING, priority, now)
            self._items[key] = item
            self._metrics.added()
            self._enqueue(item)
        elif item.state == _DELAYED:
            self._n_delayed -= 1
            item.priority = max(item.priority, priority)
            item.since = now
            self._metrics.added()
            self._enqueue(item)
        elif priority > item.priority:
            item.priority = priority
            if item.state == _WAITING:
                self._push_ready(item)

    def add_after(self, key: K, delay: float, priority: int = Priority.NORMAL) -> None:
        """Make ``key`` due in ``delay`` seconds (now if ``delay <= 0``).

        A delayed key keeps the earlier of its deadlines and the higher priority. A key
        that is already due (waiting or dirty) is left as it is.
        """
        if delay <= 0:
            self.add(key, priority)
            return
        if self._refuse():
            return
        deadline = self._tick() + delay
        item = self._items.get(key)
        if item is None:
            item = _Item(key, _DELAYED, priority, deadline)
            self._items[key] = item
            self._n_delayed += 1
        elif item.state == _DELAYED:
            item.priority = max(item.priority, priority)
            if deadline >= item.deadline:
                return
        else:
            return
        head = self._next_deadline()
        item.deadline = deadline
        self._push_delayed(item)
        if head is None or deadline < head:
            self._rearm_timer()

    def add_rate_limited(self, key: K, priority: int = Priority.NORMAL) -> None:
        """Add ``key`` after the delay the rate limiter gives for one more failure of it."""
        if self._refuse():
            return
        self._metrics.retried()
        self.add_after(key, self._limiter.when(key), priority)

    def forget(self, key: K) -> None:
        """Reset the rate limiter's failure count for ``key`` (call it after a success)."""
        self._limiter.forget(key)

    def retries(self, key: K) -> int:
        """How many times ``key`` failed since it was last forgotten."""
        return self._limiter.retries(key)

    # -- handing out --------------------------------------------------------------------

    async def get(self) -> K:
        """Wait for the next due key and mark it as being processed; call :meth:`done` after.

        Cancellation is clean: a ``get()`` that is cancelled takes no key. Raises
        :class:`QueueShutDown` once the queue is shut down and no key is waiting or dirty.
        """
        await checkpoint()  # it never yields after taking a key, so a cancel takes none
        try:
            while True:
                item = self._pop_ready(self._tick())
                if item is not None:
                    break
                if self._shutting_down and self._n_parked == 0:
                    raise QueueShutDown
                await self._wait()
        finally:
            self._arm_timer()
        if self._shutting_down:
            self._check_finished()  # the last due key is out: other getters may stop
        return item.key

    def done(self, key: K) -> None:
        """Mark ``key`` as processed; if it was added meanwhile it is due again now.

        Raises ``ValueError`` if ``key`` is not being processed.
        """
        try:
            started = self._processing.pop(key)
        except KeyError:
            raise ValueError(f"done({key!r}): the key is not being processed") from None
        now = self._tick()
        self._metrics.work_duration(now - started)
        item = self._items.get(key)
        if item is not None and item.state == _PARKED:
            self._n_parked -= 1
            self._enqueue(item)
        self._check_finished()

    # -- shutting down ------------------------------------------------------------------

    def shut_down(self, *, drop_waiting: bool = False) -> None:
        """Stop accepting adds; drop delayed keys (and with ``drop_waiting`` all queued ones).

        Idempotent. Keys whose deadline has passed are due, not dropped. Workers keep
        getting the keys that remain, then :class:`QueueShutDown`. The entries that
        ``drop_waiting`` drops are gone from the queue at once, but their memory is
        freed with the queue, not in this call: freeing 100,000 takes about 30 ms, which
        a manager handing off its Lease spends after the Lease is written.
        """
        self._tick()
        self._shutting_down = True
        items = self._items
        if drop_waiting:
            # Every entry goes, and so do both heaps that refer to them: the dict and the
            # heaps are replaced whole. Deleting 100,000 keys one by one hashed each of
            # them again (a dataclass key hashes in Python): about 55 ms of a leader's
            # hand-off. The old ones are kept, not freed (see above).
            doomed = len(items)
            if items or self._ready or self._delayed:
                self._dropped_entries.append((items, self._ready, self._delayed))
                self._items, self._ready, self._delayed = {}, [], []
        else:
            delayed = [item for item in items.values() if item.state == _DELAYED]
            for item in delayed:
                del items[item.key]
                item.state = _GONE
            doomed = len(delayed)
        if doomed:
            self._delayed.clear()
            self._n_delayed = 0
            if drop_waiting:
                self._n_waiting = self._n_parked = 0
                self._metrics.depth(0)
            self._dropped += doomed
            self._metrics.dropped(doomed)
        self._check_finished()

    async def shut_down_with_drain(
        self,
        timeout: float | None = None,  # noqa: ASYNC109 - the answer says whether it drained
        *,
        drop_waiting: bool = False,
    ) -> bool:
        """Shut down, then wait until every remaining key has been handed out and is done.

        Returns ``True`` once drained, ``False`` if ``timeout`` seconds passed first (the
        queue stays shut down either way). Needs workers still calling :meth:`get` unless
        ``drop_waiting`` leaves only the keys in flight.
        """
        self.shut_down(drop_waiting=drop_waiting)
        if self._finished():
            await checkpoint()
            return True
        if self._drained is None:
            self._drained = anyio.Event()
        drained = self._drained
        with anyio.move_on_after(timeout):
            await drained.wait()
        return drained.is_set()

    # -- reading ------------------------------------------------------------------------

    def __len__(self) -> int:
        """The number of keys due and waiting to be handed out (the depth)."""
        self._tick()
        return self._n_waiting

    @property
    def processing(self) -> int:
        """The number of keys handed out and not yet done."""
        return len(self._processing)

    @property
    def delayed(self) -> int:
        """The number of keys waiting for their deadline."""
        self._tick()
        return self._n_delayed

    @property
    def shutting_down(self) -> bool:
        """Whether :meth:`shut_down` was called."""
        return self._shutting_down

    @property
    def ignored(self) -> int:
        """The number of adds ignored because the queue was shut down."""
        return self._ignored

    @property
    def dropped(self) -> int:
        """The number of keys discarded by :meth:`shut_down`."""
        return self._dropped

    def longest_running_processor(self) -> float:
        """Seconds since the oldest key still being processed was handed out (0 if none)."""
        if not self._processing:
            return 0.0
        return max(0.0, self._clock() - min(self._processing.values()))

    def unfinished_work(self) -> float:
        """Total seconds the keys still being processed have been processed so far."""
        now = self._clock()
        return sum(max(0.0, now - started) for started in self._processing.values())

    # -- internals: heaps ---------------------------------------------------------------

    def _refuse(self) -> bool:
        if self._shutting_down:
            self._ignored += 1
            self._metrics.ignored()
        return self._shutting_down

    def _tick(self) -> float:
        """Read the clock and move every delayed key whose deadline passed to the queue."""
        now = self._clock()
        heap = self._delayed
        while heap and heap[0][0] <= now:
            _, ticket, item = heapq.heappop(heap)
            if item.ticket != ticket or item.state != _DELAYED:
                continue
            self._n_delayed -= 1
            item.since = item.deadline
            self._metrics.added()
            self._enqueue(item)
        return now

    def _enqueue(self, item: _Item[K]) -> None:
        """Queue a due key, or park it while a worker has it."""
        if item.key in self._processing:
            item.state = _PARKED
            self._n_parked += 1
            return
        item.seq = next(self._counter)
        self._push_ready(item)
        self._n_waiting += 1
        self._metrics.depth(self._n_waiting)
        self._wake_one()

    def _push_ready(self, item: _Item[K]) -> None:
        item.state = _WAITING
        item.ticket = next(self._counter)
        first, second = rank(item.priority, item.since, self._aging)
        heapq.heappush(self._ready, (first, second, item.seq, item.ticket, item))
        if len(self._ready) > 2 * self._n_waiting + _COMPACT_SLACK:
            self._ready = [e for e in self._ready if e[4].ticket == e[3] and e[4].state == _WAITING]
            heapq.heapify(self._ready)

    def _pop_ready(self, now: float) -> _Item[K] | None:
        heap = self._ready
        while heap:
            *_, ticket, item = heapq.heappop(heap)
            if item.ticket == ticket and item.state == _WAITING:
                del self._items[item.key]
                item.state = _GONE
                self._n_waiting -= 1
                self._processing[item.key] = now
                self._metrics.depth(self._n_waiting)
                self._metrics.latency(max(0.0, now - item.since))
                return item
        return None

    def _push_delayed(self, item: _Item[K]) -> None:
        item.ticket = next(self._counter)
        heapq.heappush(self._delayed, (item.deadline, item.ticket, item))
        if len(self._delayed) > 2 * self._n_delayed + _COMPACT_SLACK:
            self._delayed = [
                e for e in self._delayed if e[2].ticket == e[1] and e[2].state == _DELAYED
            ]
            heapq.heapify(self._delayed)

    def _next_deadline(self) -> float | None:
        """The earliest live deadline, dropping stale heap heads on the way."""
        heap = self._delayed
        while heap and (heap[0][2].ticket != heap[0][1] or heap[0][2].state != _DELAYED):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    # -- internals: waking getters ------------------------------------------------------

    async def _wait(self) -> None:
        """Sleep until woken; the first sleeper while keys are delayed also holds the timer."""
        event = anyio.Event()
        timeout: float | None = None
        deadline = self._next_deadline() if self._timer is None else None
        if deadline is not None:
            self._timer = event
            timeout = max(0.0, deadline - self._clock())
        else:
            self._getters.append(event)
        try:
            with anyio.move_on_after(timeout):
                await event.wait()
        except BaseException:
            if self._timer is not event and not event.is_set():
                self._getters.remove(event)
            elif event.is_set():
                self._wake_one()  # pass on a wake-up this getter will not use
            raise
        finally:
            if self._timer is event:
                self._timer = None

    def _wake_one(self) -> None:
        if self._getters:
            self._getters.popleft().set()
        elif self._timer is not None:
            self._timer.set()

    def _wake_all(self) -> None:
        while self._getters:
            self._getters.popleft().set()
        if self._timer is not None:
            self._timer.set()

    def _rearm_timer(self) -> None:
        """The earliest deadline moved earlier: make the timer holder sleep anew."""
        if self._timer is not None:
            self._timer.set()
        elif self._getters:
            self._getters.popleft().set()

    def _arm_timer(self) -> None:
        """If keys are delayed and getters sleep but none holds the timer, wake one to."""
        if self._timer is None and self._n_delayed and self._getters:
            self._getters.popleft().set()

    def _finished(self) -> bool:
        return self._shutting_down and not self._items and not self._processing

    def _check_finished(self) -> None:
        if not self._shutting_down or self._n_waiting or self._n_parked:
            return
        self._wake_all()
        if not self._processing and self._drained is not None:
            self._drained.set()
