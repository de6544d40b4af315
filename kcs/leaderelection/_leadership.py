"""A term of leadership, as the leader-only work sees it."""

from __future__ import annotations

import anyio

from kcs.client import Fence
from kcs.leaderelection._events import EndReason

__all__ = ["Leadership"]


class Leadership:
    """One term of leadership of this replica, handed to ``on_started_leading``.

    The work runs under two guards with the same deadline, ``send time of the last
    successful renewal + renew_deadline`` on this process's monotonic clock, moved forward
    at every successful renewal:

    * a cancel scope, which cancels the work when the deadline passes or the lease is
      seen taken or deleted;
    * :attr:`fence`, a :class:`kcs.client.Fence` in force for the work and every task it
      starts: each request the work makes through any :class:`~kcs.client.Client` checks
      it right before its bytes are written, and is refused with
      :class:`~kcs.client.FencedError` once it has closed. This holds when the process
      was paused past the deadline and the event loop resumes the work before the
      cancellation (see ``docs/leader-election.md``).

    On a graceful stop, :attr:`stopping` is set first: stop taking new work and return
    when in-flight work is done; the work is cancelled if it has not returned within the
    drain timeout. The lease is kept renewed while the work drains, and is released or
    handed over only after the work has returned or been cancelled.
    """

    __slots__ = ("acquired_at", "fence", "identity", "reason", "stopping", "term")

    def __init__(self, identity: str, term: int, acquired_at: float, fence: Fence) -> None:
        self.identity = identity
        self.term = term
        """1 for this elector's first term of leadership, 2 for the next, ..."""
        self.acquired_at = acquired_at
        """Monotonic time when the write that took the lease succeeded."""
        self.stopping = anyio.Event()
        """Set when a graceful stop (release or hand-off) was requested."""
        self.reason: EndReason | None = None
        """Why the term ended, once it has (``None`` while it lasts)."""
        self.fence = fence
        """The fence of this term (closed when the term ends, or by its deadline)."""

    @property
    def ended(self) -> bool:
        """Whether this term is over (the work has stopped)."""
        return self.reason is not None

    @property
    def deadline(self) -> float:
        """The fence deadline now (monotonic; ``-inf`` once the fence has closed): the
        work is cancelled then unless a renewal succeeds first."""
        return self.fence.deadline

    @property
    def active(self) -> bool:
        """Whether leader-only work may run now: the term has not ended and the fence
        is open."""
        return self.reason is None and self.fence.open()

    def __repr__(self) -> str:
        state = f"ended: {self.reason}" if self.reason is not None else "active"
        return f"Leadership(identity={self.identity!r}, term={self.term}, {state})"
