"""The fence a shard's work runs in: the only place sharding touches fencing.

A shard reconciles only while its shard Lease is fresh. Its work runs inside a cancel
scope whose deadline is the send time of the last successful renewal plus
``renew_deadline`` (this process's monotonic clock), moved at each renewal and closed at
once when the Lease is lost; and under a :class:`kcs.client.Fence` with the same
deadline, so that a request of that work is refused at the moment it would be written
once the deadline has passed (a process paused in the middle of a reconcile wakes up
and cannot write). This is the fencing of leader-only work
(:class:`~kcs.leaderelection.Leadership`) applied to one shard.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import anyio

from kcs.client import Fence, fenced

__all__ = ["ShardFence"]


class ShardFence:
    """A deadline on the monotonic clock after which the shard's work is cancelled and
    its requests refused.

    :meth:`extend` moves it (a renewal succeeded); :meth:`close` ends it for good; once
    closed or past its deadline it never opens again. :meth:`guard` is the block the work
    runs in: the cancel scope and the client fence together.
    """

    __slots__ = ("_fence", "_scope", "name")

    def __init__(self, name: str, deadline: float = math.inf) -> None:
        self.name = name
        self._scope = anyio.CancelScope(deadline=deadline)
        self._fence = Fence(name, deadline)

    @property
    def scope(self) -> anyio.CancelScope:
        """The cancel scope the shard's work runs in."""
        return self._scope

    @property
    def fence(self) -> Fence:
        """The client fence of the shard's requests."""
        return self._fence

    @property
    def reason(self) -> str:
        """Why the fence closed (``""`` while open or when only the deadline passed)."""
        return self._fence.reason

    @property
    def deadline(self) -> float:
        """When the work is cancelled unless extended (``-inf`` once closed)."""
        return self._fence.deadline

    def open(self) -> bool:
        """Whether the shard may still work now."""
        return self._fence.open()

    def extend(self, deadline: float) -> bool:
        """Move the deadline (ignored once closed or already past)."""
        if not self._fence.extend(deadline):
            self.close(self._fence.reason or "its deadline passed")
            return False
        self._scope.deadline = deadline
        return True

    def close(self, reason: str) -> None:
        """Close the fence now: the work is cancelled, its requests refused, for good."""
        self._fence.close(reason)
        self._scope.cancel()

    @contextmanager
    def guard(self) -> Iterator[anyio.CancelScope]:
        """Run the block inside the cancel scope and under the client fence."""
        with self._scope, fenced(self._fence):
            yield self._scope
