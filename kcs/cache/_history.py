"""A bounded history of recent changes, and watching the store from a resourceVersion.

The in-process counterpart of the apiserver's watch cache: consumers in the same process
(another controller, a debug endpoint, a secondary cache) can start from a
resourceVersion they saw and receive every change after it, without a relist, as long as
the history still reaches back that far. The history is a ring of ``(rv, delta)`` with a
fixed number of entries, so its memory is bounded; once an entry falls out, starting
from before it raises :class:`~kcs.cache.HistoryExpired` (the 410 of this layer).

By default (``history_retention="watched"``) the ring records only while at least one
:class:`HistoryWatch` of the store is alive: an informer nobody watches keeps no replaced
objects, so its memory does not grow with churn. A watch opened while nothing records
starts the history at the store's current resourceVersion.
"""

from __future__ import annotations

import weakref

import anyio

from kcs.cache._delta import Delta
from kcs.cache._errors import HistoryExpired
from kcs.core import parse_resource_version

__all__ = ["History", "HistoryWatch"]


class History:
    """A ring of the last ``size`` ``(resource_version, delta)`` entries (internal).

    Entries have absolute positions ``0, 1, 2, ...``; the ring holds ``[start, end)``.
    ``floor`` is the resourceVersion of the newest entry that fell out (or that was not
    recorded): the history is complete for every resourceVersion at or after it (``""``:
    nothing fell out yet, the history reaches back to the empty store).

    ``always=False``: :attr:`recording` is true only while a watch is attached
    (:meth:`attach`); the store skips :meth:`record` otherwise, and the ring is emptied
    when the last watch goes away.
    """

    __slots__ = ("_appended", "_base", "_buf", "_refs", "always", "end", "floor",
                 "recording", "size")

    def __init__(self, size: int, *, always: bool = True) -> None:
        if size < 1:
            raise ValueError("history size must be at least 1")
        self.size = size
        self.always = always
        self.recording = always
        self._buf: list[tuple[str, Delta]] = []
        self._base = 0  # the position of _buf[0] when the ring was last emptied
        self.end = 0
        self.floor = ""
        self._appended: anyio.Event | None = None
        self._refs: set[weakref.ref[HistoryWatch]] = set()

    @property
    def start(self) -> int:
        """The absolute position of the oldest entry held."""
        return self.end - len(self._buf)

    def __len__(self) -> int:
        return len(self._buf)

    def record(self, resource_version: str, delta: Delta) -> None:
        """Append one entry, dropping the oldest when full, and wake waiting watchers."""
        buf = self._buf
        entry = (resource_version, delta)
        if len(buf) < self.size:
            buf.append(entry)
        else:
            i = (self.end - self._base) % self.size
            self.floor = buf[i][0]
            buf[i] = entry
        self.end += 1
        event = self._appended
        if event is not None:
            self._appended = None
            event.set()

    def entry(self, position: int) -> tuple[str, Delta]:
        """The entry at absolute ``position`` (``start <= position < end``)."""
        return self._buf[(position - self._base) % self.size]

    # --- recording while watched -------------------------------------------------------
    def begin(self, current: str) -> None:
        """Start recording if nothing records: the history starts at ``current`` (the
        store's resourceVersion, which includes every change not recorded)."""
        if self.recording:
            return
        self._buf = []
        self._base = self.end
        self.floor = current
        self.recording = True

    def attach(self, watch: HistoryWatch) -> None:
        """Keep recording while ``watch`` is alive (it is dropped or garbage collected)."""
        self._refs.add(weakref.ref(watch, self._detach))

    def _detach(self, ref: weakref.ref[HistoryWatch]) -> None:
        self._refs.discard(ref)
        self.release()

    def release(self) -> None:
        """Stop recording (and free the ring) if nothing is attached and not ``always``."""
        if not self._refs and not self.always and self.recording:
            self.recording = False
            self._buf = []  # the replaced objects it held are freed now
            self._base = self.end

    async def wait_appended(self) -> None:
        """Return after the next :meth:`record`."""
        if self._appended is None:
            self._appended = anyio.Event()
        await self._appended.wait()

    def position_after(self, since: str, current: str) -> int:
        """The position of the first entry newer than ``since``.

        ``current`` is the store's resourceVersion. Raises :class:`HistoryExpired` when
        the history does not reach back to ``since``.
        """
        if since == current:
            return self.end
        s = parse_resource_version(since)
        if s is not None:
            if self.floor:
                f = parse_resource_version(self.floor)
                if f is None or s < f:
                    raise self._expired(since)
            i = self.end
            while i > self.start:
                r = parse_resource_version(self.entry(i - 1)[0])
                if r is None or r <= s:
                    break
                i -= 1
            return i
        if since == "" and not self.floor:
            return self.start
        for i in range(self.end - 1, self.start - 1, -1):
            if self.entry(i)[0] == since:
                return i + 1
        if since == self.floor:
            return self.start
        raise self._expired(since)

    def _expired(self, since: str) -> HistoryExpired:
        return HistoryExpired(
            f"too old resource version: {since!r} (the store's history of {self.size} "
            f"events starts after {self.floor!r})"
        )


class HistoryWatch:
    """An async iterator over the store's changes after a resourceVersion.

    Returned by :meth:`Store.watch() <kcs.cache.Store.watch>`. Guarantees:

    * every change the store makes after ``since_rv`` is delivered exactly once, in the
      order the store made it (a relist contributes its true differences);
    * it never ends by itself; stop it by leaving the ``async for`` (or cancelling);
    * if the consumer falls more than the history's size behind, the next step raises
      :class:`~kcs.cache.HistoryExpired` instead of silently skipping changes;
    * while it is alive (referenced), the store records its history, whatever the
      store's ``history_retention``.

    :attr:`resource_version` is the resourceVersion of the last change delivered (a
    consumer can resume from it with a new watch).
    """

    __slots__ = ("__weakref__", "_after", "_history", "_next", "resource_version")

    def __init__(self, history: History, position: int, since: str | None, current: str) -> None:
        self._history = history
        self._next = position
        self.resource_version = since if since is not None else current
        # A since_rv newer than the store: skip changes up to it when they arrive.
        after = parse_resource_version(since) if since is not None else None
        cur = parse_resource_version(current)
        self._after = after if after is not None and (cur is None or after > cur) else None

    def __aiter__(self) -> HistoryWatch:
        return self

    async def __anext__(self) -> Delta:
        history = self._history
        while True:
            if self._next < history.start:
                raise HistoryExpired(
                    f"the watch fell more than {history.size} events behind the store; "
                    f"last delivered resource version {self.resource_version!r}"
                )
            if self._next < history.end:
                rv, delta = history.entry(self._next)
                self._next += 1
                if self._after is not None:
                    r = parse_resource_version(rv)
                    if r is not None and r <= self._after:
                        continue
                    self._after = None
                self.resource_version = rv
                return delta
            await history.wait_appended()
