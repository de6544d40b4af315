"""Hooks through which a controller reports what it does; no-op unless one is given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = ["ControllerMetrics", "ControllerStats", "NoControllerMetrics", "Outcome"]

Outcome = Literal["success", "requeue_after", "error", "terminal", "timeout", "cancelled"]
"""How one reconcile ended (``cancelled``: the controller was stopped meanwhile)."""


class ControllerMetrics(Protocol):
    """What a :class:`~kcs.controller.Runner` reports, as it happens.

    Called on the event loop from the worker that did the work; must be quick and must
    not raise. Subclass :class:`NoControllerMetrics` to implement only some methods. The
    work queue has its own hooks (:class:`~kcs.workqueue.QueueMetrics`).
    """

    def reconcile_done(self, controller: str, outcome: Outcome, seconds: float) -> None:
        """A reconcile ended with ``outcome`` after ``seconds`` (excluding the
        read-your-writes wait before it)."""

    def read_your_writes_waited(self, controller: str, seconds: float, reached: bool) -> None:
        """A key waited ``seconds`` for its caches to see its writes (``reached``: they
        did; else the wait timed out and the reconcile went ahead)."""


class NoControllerMetrics:
    """The default :class:`ControllerMetrics`: records nothing."""

    def reconcile_done(self, controller: str, outcome: Outcome, seconds: float) -> None:
        """Record nothing."""

    def read_your_writes_waited(self, controller: str, seconds: float, reached: bool) -> None:
        """Record nothing."""


@dataclass(slots=True)
class ControllerStats:
    """Counters of a controller since it was created (monotonic, for tests and logs).

    :ivar reconciles: Reconciles started.
    :ivar successes: Reconciles that returned ``None`` or a plain ``Result()``.
    :ivar requeues_after: Reconciles that asked for ``Result(requeue_after=...)``.
    :ivar errors: Reconciles that raised (retried with backoff); timeouts included.
    :ivar timeouts: Reconciles cut off by the reconcile timeout.
    :ivar terminal_errors: Reconciles that raised :class:`~kcs.controller.TerminalError` (not
        retried).
    :ivar cancelled: Reconciles cancelled from outside (the controller was stopped).
    :ivar read_your_writes_waits: Reconciles that had to wait for their own writes to reach the
        cache.
    :ivar read_your_writes_timeouts: Of those, the waits that timed out.
    :ivar read_your_writes_seconds: Total seconds spent in those waits.
    :ivar skipped: Keys the runner's gate refused (a sharded replica's keys of other shards).
    """

    reconciles: int = 0
    successes: int = 0
    requeues_after: int = 0
    errors: int = 0
    timeouts: int = 0
    terminal_errors: int = 0
    cancelled: int = 0
    read_your_writes_waits: int = 0
    read_your_writes_timeouts: int = 0
    read_your_writes_seconds: float = 0.0
    skipped: int = 0
