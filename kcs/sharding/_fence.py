"""The fence a shard's work runs in: the only place sharding touches fencing.

A shard reconciles only while its shard Lease is fresh: the work runs inside a cancel
scope whose deadline is the send time of the last successful renewal plus
``renew_deadline`` (this process's monotonic clock), moved at each renewal, and closed at
once when the lease is lost. This is the fencing of leader-only work
(:class:`~kcs.leaderelection.Leadership`) applied to one shard.
"""

from __future__ import annotations

import math

import anyio

__all__ = ["ShardFence"]


class ShardFence:
    """A deadline on the monotonic clock after which the shard's work is cancelled.

    :meth:`extend` moves it (a renewal succeeded); :meth:`close` ends it for good; once
    closed or past its deadline it never opens again. :meth:`scope` is the cancel scope
    the work runs in.
    """

    __slots__ = ("_closed", "_scope", "name", "reason")

    def __init__(self, name: str, deadline: float = math.inf) -> None:
        self.name = name
        self._scope = anyio.CancelScope(deadline=deadline)
        self._closed = False
        self.reason = ""

    @property
    def scope(self) -> anyio.CancelScope:
        """The cancel scope the shard's work runs in."""
        return self._scope

    @property
    def deadline(self) -> float:
        """When the work is cancelled unless extended (``-inf`` once closed)."""
        return -math.inf if self._closed else self._scope.deadline

    def open(self) -> bool:
        """Whether the shard may still work now."""
        return not self._closed and anyio.current_time() < self._scope.deadline

    def extend(self, deadline: float) -> bool:
        """Move the deadline (ignored once closed or already past)."""
        if not self.open():
            self.close("its deadline passed")
            return False
        self._scope.deadline = deadline
        return True

    def close(self, reason: str) -> None:
        """Close the fence now: the work is cancelled and never resumes."""
        if not self._closed:
            self._closed = True
            self.reason = reason
        self._scope.cancel()
