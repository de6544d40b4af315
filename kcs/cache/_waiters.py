"""Tasks waiting for the store to reach a resourceVersion, woken by events, not polling."""

from __future__ import annotations

import heapq
import itertools

import anyio

from kcs.core import parse_resource_version

__all__ = ["ResourceVersionWaiters"]

_NOBODY = 1 << 62  # above any resourceVersion: nobody waits


class ResourceVersionWaiters:
    """Waiters ordered by the resourceVersion they wait for (internal).

    Numeric resourceVersions wait in a heap, so each change of the store's rv wakes
    exactly the waiters it satisfies in ``O(log n)`` each; a non-numeric one can only be
    reached by equality. ``count`` is zero when nobody waits: the store's hot path checks
    it and does nothing else. ``low`` is the lowest integer resourceVersion that would
    wake anyone (``0`` while a non-numeric one waits: any change may): the store calls
    :meth:`notify` only when it reaches ``low``, not on every event while someone waits.
    """

    __slots__ = ("_exact", "_heap", "_seq", "count", "low")

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, anyio.Event]] = []
        self._exact: list[tuple[str, anyio.Event]] = []
        self._seq = itertools.count()
        self.count = 0
        self.low = _NOBODY

    def _update_low(self) -> None:
        if self._exact:
            self.low = 0
        else:
            self.low = self._heap[0][0] if self._heap else _NOBODY

    def add(self, resource_version: str) -> anyio.Event:
        """An event that is set when :meth:`notify` reports ``resource_version`` reached."""
        event = anyio.Event()
        n = parse_resource_version(resource_version)
        if n is None:
            self._exact.append((resource_version, event))
        else:
            heapq.heappush(self._heap, (n, next(self._seq), event))
        self.count += 1
        self._update_low()
        return event

    def discard(self, event: anyio.Event) -> None:
        """Forget ``event`` (its waiter timed out or was cancelled)."""
        if event.is_set():
            return
        for i, item in enumerate(self._heap):
            if item[2] is event:
                self._heap[i] = self._heap[-1]
                self._heap.pop()
                heapq.heapify(self._heap)
                self.count -= 1
                self._update_low()
                return
        for i, (_, ev) in enumerate(self._exact):
            if ev is event:
                del self._exact[i]
                self.count -= 1
                self._update_low()
                return

    def notify(self, resource_version: str) -> None:
        """The store reached ``resource_version``: wake every waiter it satisfies."""
        n = parse_resource_version(resource_version)
        heap = self._heap
        if n is not None:
            while heap and heap[0][0] <= n:
                heapq.heappop(heap)[2].set()
                self.count -= 1
        if self._exact:
            keep = []
            for rv, event in self._exact:
                if rv == resource_version:
                    event.set()
                    self.count -= 1
                else:
                    keep.append((rv, event))
            self._exact = keep
        self._update_low()
