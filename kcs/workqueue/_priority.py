"""Priorities and the aging rule that orders waiting keys."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Priority"]


class Priority(IntEnum):
    """Named priority levels; any ``int`` is accepted where a priority is asked for.

    Higher values are handed out first. A controller enqueues the keys of its initial list
    at ``LOW`` and keys from fresh watch events at ``NORMAL`` (or ``HIGH``), so that a fresh
    change does not wait behind the whole initial list. Aging (see
    :class:`~kcs.workqueue.WorkQueue`) keeps ``LOW`` keys from starving.
    """

    LOW = -1
    NORMAL = 0
    HIGH = 1


def rank(priority: int, since: float, aging_interval: float | None) -> tuple[float, float]:
    """The sort key of a waiting key: smaller ranks are handed out first.

    With aging, the effective priority at time ``now`` is
    ``priority + (now - since) / aging_interval``. Comparing two keys at the same ``now``,
    the ``now`` cancels out: the key with the smaller ``since - priority * aging_interval``
    has the higher effective priority, for every ``now``. So one static key orders the heap
    exactly as the time-varying rule would. Without aging the order is priority first, then
    ``since``.
    """
    if aging_interval is None:
        return (-float(priority), since)
    return (since - priority * aging_interval, 0.0)
