"""kcs.watch: list + watch of one resource as one endless stream of events.

A :class:`Watcher` turns the apiserver's list and watch verbs into a closed set of
events — ``InitStart``, ``InitApply``, ``InitDone`` for a (re)list, then ``Apply``,
``Delete`` and ``Bookmark`` — and recovers from everything that goes wrong on the way:
disconnects and server timeouts (resumed from the last resourceVersion), 410 Gone and
refused resume points (relisted), throttling and failures (backoff with jitter),
permanent errors such as 403 (reported in plain words, retried slowly), stalls
(dead-stream timeout), bad lines and objects that cannot be cached. Every trouble is a
typed :class:`WatchError`: counted in :class:`WatchStats`, logged, and passed to the
``on_error`` hook. Settings are one frozen :class:`WatchOptions`. See ``docs/watch.md``.

It builds on :class:`kcs.client.Client` only.
"""

from kcs.watch._backoff import Backoff
from kcs.watch._errors import WatchError, WatchErrorHook, WatchErrorKind
from kcs.watch._events import Apply, Bookmark, Delete, Event, InitApply, InitDone, InitStart
from kcs.watch._listerwatcher import ListerWatcher, RawWatch
from kcs.watch._options import InitialList, WatchOptions
from kcs.watch._state import WatcherState
from kcs.watch._stats import ErrorTally, WatchStats
from kcs.watch._stream import INITIAL_EVENTS_END
from kcs.watch._watcher import Watcher, describe_scope

__all__ = [
    "INITIAL_EVENTS_END",
    "Apply",
    "Backoff",
    "Bookmark",
    "Delete",
    "ErrorTally",
    "Event",
    "InitApply",
    "InitDone",
    "InitStart",
    "InitialList",
    "ListerWatcher",
    "RawWatch",
    "WatchError",
    "WatchErrorHook",
    "WatchErrorKind",
    "WatchOptions",
    "WatchStats",
    "Watcher",
    "WatcherState",
    "describe_scope",
]
