"""kcs.watch: list + watch of one resource as one endless stream of events.

A :class:`Watcher` turns the apiserver's list and watch verbs into a closed set of
events — ``InitStart``, ``InitApply``, ``InitDone`` for a (re)list, then ``Apply``,
``Delete`` and ``Bookmark`` — and hides everything that goes wrong on the way:
disconnects and server timeouts (resumed from the last resourceVersion), 410 Gone
(relisted), throttling and failures (backoff with jitter), stalls (dead-stream timeout) and
bad lines. See ``docs/watch.md`` for the event model, recovery and guarantees.

It builds on :class:`kcs.client.Client` only.
"""

from kcs.watch._backoff import DEFAULT_BACKOFF, Backoff
from kcs.watch._events import Apply, Bookmark, Delete, Event, InitApply, InitDone, InitStart
from kcs.watch._listerwatcher import ListerWatcher, RawWatch
from kcs.watch._stats import WatchStats
from kcs.watch._stream import INITIAL_EVENTS_END
from kcs.watch._watcher import (
    DEFAULT_DEAD_STREAM_TIMEOUT,
    DEFAULT_PAGE_SIZE,
    DEFAULT_WATCH_TIMEOUT,
    InitialList,
    Watcher,
)

__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_DEAD_STREAM_TIMEOUT",
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_WATCH_TIMEOUT",
    "INITIAL_EVENTS_END",
    "Apply",
    "Backoff",
    "Bookmark",
    "Delete",
    "Event",
    "InitApply",
    "InitDone",
    "InitStart",
    "InitialList",
    "ListerWatcher",
    "RawWatch",
    "WatchStats",
    "Watcher",
]
