"""Election events: the timing hook for metrics, benchmarks and tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ElectionEvent", "ElectionEventHandler", "ElectionEventKind"]


class ElectionEventKind(StrEnum):
    """What happened. The closed set of events an elector reports."""

    STARTED_LEADING = "started_leading"
    """This replica's write that took the lease succeeded; the work is about to start.
    ``sent`` is when that write was sent."""
    RENEWED = "renewed"
    """A renewal succeeded; the fence moved to ``sent + renew_deadline``."""
    RENEW_FAILED = "renew_failed"
    """A renewal failed; the work keeps running until the fence deadline."""
    STOPPED_LEADING = "stopped_leading"
    """The work has stopped (returned or been cancelled); ``detail`` says why:
    ``fenced`` (no renewal by the renew deadline), ``lost`` (another holder), ``deleted``,
    ``released`` (graceful stop), ``yielded`` (handed to a preferred holder),
    ``cancelled``, or ``error``."""
    RELEASED = "released"
    """The lease was released (holder cleared) after the work stopped."""
    HANDED_OFF = "handed_off"
    """The lease was handed to ``holder`` after the work stopped."""
    LEADER_CHANGED = "leader_changed"
    """This replica observed a new holder (``holder``; ``""`` for none)."""


@dataclass(frozen=True, slots=True)
class ElectionEvent:
    """One event, stamped with this process's monotonic clock (``time.monotonic()``,
    which on Linux every process of the machine shares, so tests can compare replicas).

    ``term`` counts this elector's terms of leadership (0 before the first).
    """

    kind: ElectionEventKind
    at: float
    identity: str
    holder: str = ""
    term: int = 0
    sent: float | None = None
    detail: str = ""


ElectionEventHandler = Callable[[ElectionEvent], None]
"""Receives every :class:`ElectionEvent`; called in the elector's task, must be quick and
must not raise (an exception is logged and ignored)."""
