"""Counters a watcher keeps about itself, for logs, metrics, readiness and tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from kcs.watch._errors import WatchError, WatchErrorKind

__all__ = ["ErrorTally", "WatchStats"]


@dataclass(slots=True)
class ErrorTally:
    """How often one kind of trouble (with one HTTP code) happened, and the last time."""

    kind: WatchErrorKind
    code: int | None
    count: int = 0
    last_message: str = ""
    last_at: float = 0.0
    """``time.time()`` of the last occurrence."""


@dataclass(slots=True)
class WatchStats:
    """What one :class:`~kcs.watch.Watcher` has done so far.

    Plain counters, updated in the watcher's task; read them at any time (each value is
    current, the set of values is not a consistent snapshot). ``errors`` counts each kind
    of trouble by its :class:`~kcs.watch.WatchErrorKind` (a ``str`` enum, so
    ``stats.errors == {"gone": 1}`` reads naturally); ``tallies`` breaks them down by HTTP
    code with the last message; ``last_error`` is the most recent one in full.

    :ivar events: Objects delivered: InitApply, Apply and Delete events.
    :ivar bookmarks: Bookmarks received (including the end of a streaming list).
    :ivar lists: Initial lists completed (paginated or streaming), the first one included.
    :ivar relists: Lists started because the resume point was lost or refused, not the first
        one.
    :ivar pages: Pages of paginated lists received.
    :ivar watches: Watch streams opened.
    :ivar reconnects: Watch streams opened to resume after an earlier one ended (any reason).
    :ivar rejected: Objects dropped because they cannot be cached (see ``rejected_object``).
    :ivar errors: Troubles by kind.
    :ivar tallies: Troubles by kind and HTTP code: how often, and the last message.
    :ivar last_error: The most recent trouble (``str()`` of it is one line of plain words).
    :ivar consecutive_failures: Failed attempts since the watcher was last healthy (a list
        completed, a watch delivered an event); ``0`` while all is well.
    """

    events: int = 0
    bookmarks: int = 0
    lists: int = 0
    relists: int = 0
    pages: int = 0
    watches: int = 0
    reconnects: int = 0
    rejected: int = 0
    errors: dict[WatchErrorKind, int] = field(default_factory=dict)
    tallies: dict[tuple[WatchErrorKind, int | None], ErrorTally] = field(default_factory=dict)
    last_error: WatchError | None = None
    consecutive_failures: int = 0

    def record(self, error: WatchError) -> None:
        """Count ``error`` and remember it as the last one."""
        kind = error.kind
        self.errors[kind] = self.errors.get(kind, 0) + 1
        key = (kind, error.code)
        tally = self.tallies.get(key)
        if tally is None:
            tally = self.tallies[key] = ErrorTally(kind, error.code)
        tally.count += 1
        tally.last_message = error.message
        tally.last_at = error.at
        self.last_error = error
