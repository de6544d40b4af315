"""Work queues: the :class:`~kcs.workqueue.QueueMetrics` hook, plus gauges read at collection."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from opentelemetry.metrics import CallbackOptions, Observation

from kcs.observability._telemetry import Telemetry, default_telemetry

__all__ = ["QueueTelemetry", "RunningQueue", "observe_queue"]


class RunningQueue(Protocol):
    """What :func:`observe_queue` reads from a queue (a :class:`~kcs.workqueue.WorkQueue`)."""

    def longest_running_processor(self) -> float:
        """Seconds the longest-running key has been processed."""
        ...

    def unfinished_work(self) -> float:
        """Seconds of work in progress, summed over the keys being processed."""
        ...


class QueueTelemetry:
    """A :class:`~kcs.workqueue.QueueMetrics` recording ``kcs.workqueue.*`` for queue ``name``.

    Every metric carries the attribute ``name`` (the controller's name for a controller's
    queue). Each method is one instrument call: cheap, and never raises.
    """

    __slots__ = ("_attrs", "_t")

    def __init__(self, name: str, telemetry: Telemetry | None = None) -> None:
        self._t = telemetry if telemetry is not None else default_telemetry()
        self._attrs = {"name": name}

    def added(self) -> None:
        """Count ``kcs.workqueue.adds``."""
        self._t.workqueue_adds.add(1, self._attrs)

    def depth(self, waiting: int) -> None:
        """Set ``kcs.workqueue.depth``."""
        self._t.workqueue_depth.set(waiting, self._attrs)

    def latency(self, seconds: float) -> None:
        """Record ``kcs.workqueue.queue_duration``."""
        self._t.workqueue_queue_duration.record(seconds, self._attrs)

    def work_duration(self, seconds: float) -> None:
        """Record ``kcs.workqueue.work_duration``."""
        self._t.workqueue_work_duration.record(seconds, self._attrs)

    def retried(self) -> None:
        """Count ``kcs.workqueue.retries``."""
        self._t.workqueue_retries.add(1, self._attrs)

    def ignored(self) -> None:
        """Count one ``kcs.workqueue.dropped`` with ``reason=ignored``."""
        self._t.workqueue_dropped.add(1, {**self._attrs, "reason": "ignored"})

    def dropped(self, count: int) -> None:
        """Count ``kcs.workqueue.dropped`` with ``reason=shutdown``."""
        self._t.workqueue_dropped.add(count, {**self._attrs, "reason": "shutdown"})


def observe_queue(name: str, queue: RunningQueue, telemetry: Telemetry | None = None) -> None:
    """Report ``kcs.workqueue.longest_running`` and ``kcs.workqueue.unfinished_work`` of
    ``queue`` (read at collection, so they cost nothing between collections).

    The queue is held weakly; a later queue of the same ``name`` replaces it.
    """
    t = telemetry if telemetry is not None else default_telemetry()
    t.queues[name] = queue
    if "queues" in t.pull_registered:
        return
    t.pull_registered.add("queues")

    def longest(_: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(q.longest_running_processor(), {"name": n})
            for n, q in list(t.queues.items())
        ]

    def unfinished(_: CallbackOptions) -> Iterable[Observation]:
        return [Observation(q.unfinished_work(), {"name": n}) for n, q in list(t.queues.items())]

    t.observe(
        "kcs.workqueue.longest_running", "s",
        "Seconds the longest-running key of the queue has been processed.", longest, gauge=True,
    )
    t.observe(
        "kcs.workqueue.unfinished_work", "s",
        "Seconds of work in progress, summed over the keys being processed.", unfinished,
        gauge=True,
    )
