"""What a watcher is doing right now."""

from __future__ import annotations

import enum

__all__ = ["WatcherState"]


class WatcherState(enum.Enum):
    """The state of a :class:`~kcs.watch.Watcher` (``watcher.state``).

    ``NEW`` -> ``LISTING`` -> ``WATCHING``, back to ``LISTING`` for a relist, through
    ``BACKING_OFF`` after a failure (``watcher.stats.last_error`` says which), and
    ``STOPPED`` at the end of the iteration.
    """

    NEW = "new"
    """Created; not iterated yet."""
    LISTING = "listing"
    """Getting a complete state: a paginated list or the initial events of a streaming
    list (the first list or a relist)."""
    WATCHING = "watching"
    """A watch stream is open (or being opened) from the last resourceVersion."""
    BACKING_OFF = "backing_off"
    """Waiting before the next attempt after a failure."""
    STOPPED = "stopped"
    """The iteration ended (``stop()``, ``async with`` left, or the consumer cancelled)."""
