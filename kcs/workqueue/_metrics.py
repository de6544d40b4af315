"""Hooks through which a work queue reports what it does; no-op unless one is given."""

from __future__ import annotations

from typing import Protocol

__all__ = ["NoQueueMetrics", "QueueMetrics"]


class QueueMetrics(Protocol):
    """What a :class:`~kcs.workqueue.WorkQueue` reports, as it happens.

    Every method is called synchronously from the queue's own operations, on the event
    loop, and must be cheap and must not raise. Subclass :class:`NoQueueMetrics` to
    implement only some of them.

    Gauges that grow with time are read instead of pushed: the longest running processor
    and the unfinished work are :meth:`~kcs.workqueue.WorkQueue.longest_running_processor`
    and :meth:`~kcs.workqueue.WorkQueue.unfinished_work`; depth is also ``len(queue)``.
    """

    def added(self) -> None:
        """A key started waiting (adds deduplicated into a waiting key are not counted)."""

    def depth(self, waiting: int) -> None:
        """The number of keys waiting to be handed out changed to ``waiting``."""

    def latency(self, seconds: float) -> None:
        """A key was handed to a worker after waiting ``seconds`` since it became due."""

    def work_duration(self, seconds: float) -> None:
        """A worker called ``done(key)`` ``seconds`` after it got the key."""

    def retried(self) -> None:
        """``add_rate_limited`` accepted a key."""

    def ignored(self) -> None:
        """An add arrived after ``shut_down()`` and was ignored."""

    def dropped(self, count: int) -> None:
        """``shut_down()`` discarded ``count`` keys (delayed ones, or all with ``drop_waiting``)."""


class NoQueueMetrics:
    """The default :class:`QueueMetrics`: records nothing and costs a method call."""

    def added(self) -> None:
        """Record nothing."""

    def depth(self, waiting: int) -> None:
        """Record nothing."""

    def latency(self, seconds: float) -> None:
        """Record nothing."""

    def work_duration(self, seconds: float) -> None:
        """Record nothing."""

    def retried(self) -> None:
        """Record nothing."""

    def ignored(self) -> None:
        """Record nothing."""

    def dropped(self, count: int) -> None:
        """Record nothing."""
