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
        return None

    def depth(self, waiting: int) -> None:
        """The number of keys waiting to be handed out changed to ``waiting``."""
        return None

    def latency(self, seconds: float) -> None:
        """A key was handed to a worker after waiting ``seconds`` since it became due."""
        return None

    def work_duration(self, seconds: float) -> None:
        """A worker called ``done(key)`` ``seconds`` after it got the key."""
        return None

    def retried(self) -> None:
        """``add_rate_limited`` accepted a key."""
        return None

    def ignored(self) -> None:
        """An add arrived after ``shut_down()`` and was ignored."""
        return None

    def dropped(self, count: int) -> None:
        """``shut_down()`` discarded ``count`` keys (delayed ones, or all with ``drop_waiting``)."""
        return None


class NoQueueMetrics(QueueMetrics):
    """The default :class:`QueueMetrics`: records nothing and costs a method call.

    Its methods are the protocol's own, which do nothing; a subclass overrides only the
    ones it records.
    """
