"""One term of leadership: the lease held, its renewals, and the fence around the work.

The fence is two guards with one deadline, ``send time of the last successful renewal +
renew_deadline`` on this process's monotonic clock:

* an anyio cancel scope around the work, which cancels it when the deadline passes or
  the term is ended;
* a :class:`kcs.client.Fence` in force for the work, which every request checks right
  before its bytes are written (a cancel scope alone lets a paused process send one more
  request when it resumes).

A renewal moves both forward only if it succeeded while the fence was still open, so a
renewal answered after the deadline (the process was paused, the answer was slow) never
reopens the fence. A term that ended stays ended; the first reason given wins.

Nothing here depends on *which* Lease is held: a shard's Lease can be held as a term too.
"""

from __future__ import annotations

import logging
from enum import StrEnum

import anyio

from kcs.client import ClientError, Fence
from kcs.core import ApiError, Object
from kcs.leaderelection._context import Election
from kcs.leaderelection._events import ElectionEventKind, EndReason
from kcs.leaderelection._leadership import Leadership
from kcs.leaderelection._lock import holder_write
from kcs.leaderelection._observe import Observation
from kcs.leaderelection._ownwrite import write_own

__all__ = ["MAX_IMMEDIATE_RETRIES", "Term", "TermState"]

_log = logging.getLogger("kcs.leaderelection")

MAX_IMMEDIATE_RETRIES = 3
"""Writes retried at once after a conflict, before waiting a retry period."""


class TermState(StrEnum):
    """Where a term is."""

    LEADING = "leading"
    """The work runs; the lease is renewed every retry period."""
    DRAINING = "draining"
    """A graceful stop or a hand-off was asked for: the work is told to stop
    (:attr:`Leadership.stopping`); the lease is still renewed until it has."""
    ENDING = "ending"
    """The term was ended (a reason is set): the fence is closed, the work is being
    cancelled."""
    ENDED = "ended"
    """The work has stopped; :attr:`Leadership.reason` says why."""


class Term:
    """The lease this replica holds now, renewed, with the fence of its work.

    ``acquired_sent`` is when the write that took the lease was sent; ``lease`` is what
    it stored (the base of the first renewal).
    """

    def __init__(
        self, election: Election, number: int, acquired_sent: float, lease: Object
    ) -> None:
        self.election = election
        deadline = acquired_sent + election.timings.renew_deadline
        self.fence = Fence(f"{election.who} term {number}", deadline)
        self.scope = anyio.CancelScope(deadline=deadline)
        """The cancel scope the work runs in."""
        self.leadership = Leadership(election.identity, number, anyio.current_time(), self.fence)
        self.own: Object | None = lease
        """The lease as this replica last wrote or read it while holding it."""
        self.state = TermState.LEADING
        self.yield_to: str | None = None
        """The preferred holder this term hands over to, once the leader decided to."""
        self._requested: EndReason | None = None

    @property
    def requested_end(self) -> EndReason | None:
        """The reason the term was ended with, while the work is being stopped."""
        return self._requested

    def drain(self) -> None:
        """Ask the work to stop (graceful stop or hand-off); the lease is kept renewed."""
        if self.state is TermState.LEADING:
            self.state = TermState.DRAINING
        self.leadership.stopping.set()

    def end(self, reason: EndReason) -> None:
        """End the term now: close the fence and cancel the work. The first reason given
        is the one reported."""
        if self._requested is None:
            self._requested = reason
        if self.state in (TermState.LEADING, TermState.DRAINING):
            self.state = TermState.ENDING
        self.fence.close(str(reason))
        self.scope.cancel()

    def close_fence(self, why: str) -> None:
        """Close the fence without ending the term: no request of the work goes out any
        more (used when the liveness endpoint closes; the term ends by cancellation)."""
        self.fence.close(why)

    def finish(self, reason: EndReason) -> None:
        """Record that the work has stopped, for ``reason``."""
        self.fence.close(str(reason))
        self.state = TermState.ENDED
        self.leadership.reason = reason

    def lost_reason(self, obs: Observation | None) -> EndReason | None:
        """Whether ``obs`` shows the lease taken (LOST) or deleted (DELETED)."""
        if obs is None or self.own is None:
            return None
        if obs.lease is None:
            return EndReason.DELETED
        if obs.holder != self.election.identity:
            return EndReason.LOST
        return None

    async def renew(self) -> None:
        """One renewal: a preconditioned update of the lease, retried at once after a
        conflict that still shows us as the holder; bounded by the time left before the
        fence closes. Ends the term when the lease is seen taken or deleted."""
        el = self.election
        attempt_timeout = el.timings.request_timeout
        for _ in range(MAX_IMMEDIATE_RETRIES):
            sent = anyio.current_time()
            remaining = self.fence.deadline - sent
            base = self.own
            if remaining <= 0 or base is None:
                return
            spec, annotations = holder_write(base, el.identity, el.timings)
            with anyio.move_on_after(min(remaining, attempt_timeout)):
                try:
                    written = await write_own(el, base, spec, annotations)
                except (ApiError, ClientError) as e:
                    self._failed(str(e))
                    return
                if written.read_error is not None:
                    self._failed(f"conflict, and reading the lease failed: {written.read_error}")
                    return
                if written.ended is not None:
                    self.end(written.ended)
                    return
                if written.retry is not None:
                    self.own = written.retry
                    continue
                lease = written.lease
                assert lease is not None
                el.observer.observe(lease)
                self.own = lease
                new_deadline = sent + el.timings.renew_deadline
                if self.fence.extend(new_deadline):
                    self.scope.deadline = new_deadline
                el.emit(ElectionEventKind.RENEWED, holder=el.identity, sent=sent)
                return
            self._failed("timed out")
            return

    def _failed(self, why: str) -> None:
        el = self.election
        left = max(self.fence.deadline - anyio.current_time(), 0.0)
        _log.warning("%s: renewing the lease failed (%s); work is cancelled in %.2fs unless a "
                     "renewal succeeds", el.who, why, left)
        el.emit(ElectionEventKind.RENEW_FAILED, holder=el.identity, detail=why)
