"""Election events and the end reasons of a term: the timing hook for metrics, benchmarks
and tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ElectionEvent", "ElectionEventHandler", "ElectionEventKind", "EndReason"]


class EndReason(StrEnum):
    """Why a term of leadership ended. The closed set; the values are the strings the
    earlier API used (``reason == "fenced"`` still holds)."""

    FENCED = "fenced"
    """No renewal succeeded by the renew deadline: the fence closed on its own."""
    LOST = "lost"
    """The lease was seen held by another holder."""
    DELETED = "deleted"
    """The lease was seen deleted."""
    RELEASED = "released"
    """A graceful stop (:meth:`~kcs.leaderelection.LeaderElector.release`)."""
    YIELDED = "yielded"
    """Handed over to the preferred holder set on the lease."""
    CANCELLED = "cancelled"
    """:meth:`~kcs.leaderelection.LeaderElector.run` was cancelled."""
    ERROR = "error"
    """The leader-only work raised."""

    @property
    def unexpected(self) -> bool:
        """Whether the term ended against this replica's will (logged as a warning)."""
        return self in (EndReason.FENCED, EndReason.LOST, EndReason.DELETED, EndReason.ERROR)


class ElectionEventKind(StrEnum):
    """What happened. The closed set of events an elector reports."""

    STARTED_LEADING = "started_leading"
    """This replica's write that took the lease succeeded; the work is about to start.
    ``sent`` is when that write was sent; ``detail`` is ``"crash"`` when the lease was
    taken early on a crash signal of its holder."""
    RENEWED = "renewed"
    """A renewal succeeded; the fence moved to ``sent + renew_deadline``."""
    RENEW_FAILED = "renew_failed"
    """A renewal failed (``detail`` says how); the work keeps running until the fence
    deadline."""
    STOPPED_LEADING = "stopped_leading"
    """The work has stopped (returned or been cancelled); ``reason`` says why (an
    :class:`EndReason`; ``detail`` carries the same string)."""
    RELEASED = "released"
    """The lease was released (holder cleared) after the work stopped."""
    HANDED_OFF = "handed_off"
    """The lease was handed to ``holder`` after the work stopped."""
    LEADER_CHANGED = "leader_changed"
    """This replica observed a new holder (``holder``; ``""`` for none)."""
    ENDPOINT_OPENED = "endpoint_opened"
    """With crash detection: this replica's liveness endpoint listens; ``detail`` says
    where: ``listening on <ip>:<port>, advertised as <ip>:<port> <nonce>``."""
    WATCHING_HOLDER = "watching_holder"
    """With crash detection: this replica holds a connection to the liveness endpoint of
    ``holder``, which greeted it: a crash of that process will be seen at once."""
    HOLDER_CRASHED = "holder_crashed"
    """This replica has proof that the process of ``holder`` is gone (its liveness
    endpoint refused a connection after greeting this replica): it takes the lease now
    instead of waiting it out."""
    CANDIDATE_REMOVED = "candidate_removed"
    """This replica deleted the candidate Lease of ``holder``, a replica that had not
    renewed it for far longer than its time to live."""


@dataclass(frozen=True, slots=True)
class ElectionEvent:
    """One event, stamped with this process's monotonic clock (``time.monotonic()``,
    which on Linux every process of the machine shares, so tests can compare replicas).

    ``term`` counts this elector's terms of leadership (0 before the first); ``reason``
    is set on ``STOPPED_LEADING``.
    """

    kind: ElectionEventKind
    at: float
    identity: str
    holder: str = ""
    term: int = 0
    sent: float | None = None
    detail: str = ""
    reason: EndReason | None = None


ElectionEventHandler = Callable[[ElectionEvent], None]
"""Receives every :class:`ElectionEvent`; called in the elector's task, must be quick and
must not raise (an exception is logged and ignored)."""
