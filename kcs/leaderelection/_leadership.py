"""A term of leadership, as the leader-only work sees it."""

from __future__ import annotations

import anyio

__all__ = ["Leadership"]


class Leadership:
    """One term of leadership of this replica, handed to ``on_started_leading``.

    The work runs inside a cancel scope (the *fence*) whose deadline is
    ``last successful renewal's send time + renew_deadline`` on this process's monotonic
    clock, moved forward at every successful renewal. When the deadline passes, or the
    lease is seen taken or deleted, the work is cancelled at once.

    On a graceful stop, :attr:`stopping` is set first: stop taking new work and return
    when in-flight work is done; the work is cancelled if it has not returned within the
    drain timeout. The lease is kept renewed while the work drains, and is released or
    handed over only after the work has returned or been cancelled.
    """

    __slots__ = ("_fence", "acquired_at", "ended", "identity", "reason", "stopping", "term")

    def __init__(
        self, identity: str, term: int, acquired_at: float, fence: anyio.CancelScope
    ) -> None:
        self.identity = identity
        self.term = term
        """1 for this elector's first term of leadership, 2 for the next, ..."""
        self.acquired_at = acquired_at
        """Monotonic time when the write that took the lease succeeded."""
        self.stopping = anyio.Event()
        """Set when a graceful stop (release or hand-off) was requested."""
        self.ended = False
        """Whether this term is over (the work has stopped)."""
        self.reason = ""
        """Why the term ended (see :class:`~kcs.leaderelection.ElectionEventKind`)."""
        self._fence = fence

    @property
    def deadline(self) -> float:
        """The fence deadline now (monotonic): the work is cancelled then unless a
        renewal succeeds first."""
        return self._fence.deadline

    @property
    def active(self) -> bool:
        """Whether leader-only work may run now: the term has not ended and the fence
        deadline has not passed."""
        return not self.ended and anyio.current_time() < self._fence.deadline

    def __repr__(self) -> str:
        state = f"ended: {self.reason}" if self.ended else "active"
        return f"Leadership(identity={self.identity!r}, term={self.term}, {state})"
