"""The shard's side of assignment: which keys this replica may reconcile, and the drain.

A :class:`ShardGate` is the :class:`~kcs.controller.ReconcileGate` of a sharded
:class:`~kcs.controller.Runner` and a handler on its primary informer (which selects
only this shard's label).
"""

from __future__ import annotations

import logging

import anyio
import anyio.abc

from kcs.client import Client, ClientError
from kcs.controller import Runner
from kcs.core import ApiError, Conflict, NotFound, Object, ObjectKey
from kcs.informer import ResourceEventHandler
from kcs.sharding._fence import ShardFence
from kcs.sharding._options import Sharding

__all__ = ["ShardGate", "ShardGateStats"]

_log = logging.getLogger("kcs.sharding")


class ShardGateStats:
    """What a gate has done (monotonic counters)."""

    __slots__ = ("drained", "refused", "returned")

    def __init__(self) -> None:
        self.drained = 0
        """Keys handed back to the sharder (drain acknowledged)."""
        self.returned = 0
        """Keys that came back to this shard after a drain (or whose drain was cancelled)."""
        self.refused = 0
        """Reconciles refused (not this shard's key, draining, released, fence closed)."""


class ShardGate(ResourceEventHandler):
    """Admits a reconcile only of a key this shard owns now; drains keys on request.

    Guarantees:

    * **Own keys only.** A reconcile of ``key`` is admitted only while the fence is open
      and either the primary object is in this shard's cache with this shard's label and
      no drain label, or its deletion (while it was this shard's) is what woke the key.
    * **Drain.** When the primary object gets the drain label, the key is blocked at
      once (no new reconcile is admitted), the reconcile in flight, if any, is waited for,
      and only then are both labels removed, with a resourceVersion precondition: the
      removal is the acknowledgement. The key stays blocked (released) until the object
      is assigned to this shard again, so a reconcile of it never overlaps one on the
      shard it moves to. With the fence closed nothing is acknowledged: the sharder then
      waits for this shard's Lease to expire.
    """

    def __init__(self, client: Client, sharding: Sharding, identity: str,
                 fence: ShardFence) -> None:
        self.client = client
        self.sharding = sharding
        self.identity = identity
        self.fence = fence
        self.stats = ShardGateStats()
        self._runner: Runner | None = None
        self._in_flight: dict[ObjectKey, anyio.Event] = {}
        self._blocked: set[ObjectKey] = set()
        self._draining: set[ObjectKey] = set()
        self._tombstones: set[ObjectKey] = set()
        self._tg: anyio.abc.TaskGroup | None = None
        self._pending: list[ObjectKey] = []
        # Acknowledgements in flight at once: a rebalance can ask for thousands of drains.
        self._acks = anyio.CapacityLimiter(sharding.assign_concurrency)

    def attach(self, runner: Runner) -> None:
        """Gate ``runner`` (made with this gate and the shard's scope)."""
        self._runner = runner
        runner.primary.add_handler(self, name=f"sharding {self.sharding.ring}: {runner.name}")

    @property
    def in_flight(self) -> frozenset[ObjectKey]:
        """Keys being reconciled now."""
        return frozenset(self._in_flight)

    @property
    def released(self) -> frozenset[ObjectKey]:
        """Keys blocked here: draining or handed back."""
        return frozenset(self._blocked)

    # -- the ReconcileGate ---------------------------------------------------------------

    def enter(self, key: ObjectKey) -> bool:
        if not self._admits(key):
            self.stats.refused += 1
            return False
        self._in_flight[key] = anyio.Event()
        return True

    def _admits(self, key: ObjectKey) -> bool:
        runner = self._runner
        if runner is None or not self.fence.open() or key in self._blocked:
            return False
        obj = runner.primary.lister.get(key.name, key.namespace or None)
        if obj is None:
            if key in self._tombstones:
                self._tombstones.discard(key)
                return True
            return False
        labels = obj.metadata.labels
        return (labels.get(self.sharding.shard_label) == self.identity
                and self.sharding.drain_label not in labels)

    def exit(self, key: ObjectKey) -> None:
        done = self._in_flight.pop(key, None)
        if done is not None:
            done.set()

    # -- the primary informer's events ---------------------------------------------------

    def on_add(self, obj: Object, is_initial: bool) -> None:
        self._seen(obj)

    def on_update(self, old: Object, new: Object) -> None:
        self._seen(new)

    def on_delete(self, obj: Object) -> None:
        key = ObjectKey.of(obj)
        if key in self._blocked:
            return  # it left this shard's selection after the drain: not a deletion here
        self._tombstones.add(key)
        self._enqueue(key)

    def _seen(self, obj: Object) -> None:
        key = ObjectKey.of(obj)
        labels = obj.metadata.labels
        if labels.get(self.sharding.shard_label) != self.identity:
            return
        self._tombstones.discard(key)
        if self.sharding.drain_label in labels:
            if key not in self._draining:
                self._blocked.add(key)
                self._draining.add(key)
                self._start(key)
        elif key in self._blocked and key not in self._draining:
            self._blocked.discard(key)
            self.stats.returned += 1
            self._enqueue(key)

    def _enqueue(self, key: ObjectKey) -> None:
        if self._runner is not None:
            self._runner.enqueue(key)

    def _start(self, key: ObjectKey) -> None:
        if self._tg is None:
            self._pending.append(key)
        else:
            self._tg.start_soon(self._drain, key)

    # -- draining ------------------------------------------------------------------------

    async def run(self) -> None:
        """Run the drains until cancelled (beside the runner, inside the fence)."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                for key in self._pending:
                    tg.start_soon(self._drain, key)
                self._pending.clear()
                await anyio.sleep_forever()
            finally:
                self._tg = None

    async def _drain(self, key: ObjectKey) -> None:
        runner = self._runner
        assert runner is not None
        try:
            busy = self._in_flight.get(key)
            if busy is not None:
                await busy.wait()
            obj: Object | None = runner.primary.lister.get(key.name, key.namespace or None)
            while obj is not None and self.fence.open():
                labels = obj.metadata.labels
                if labels.get(self.sharding.shard_label) != self.identity:
                    return
                if self.sharding.drain_label not in labels:
                    self._blocked.discard(key)  # the sharder cancelled the move
                    self.stats.returned += 1
                    self._enqueue(key)
                    return
                async with self._acks:
                    obj = await self._acknowledge(runner, key, obj)
        finally:
            self._draining.discard(key)

    async def _acknowledge(self, runner: Runner, key: ObjectKey, obj: Object) -> Object | None:
        """Remove both labels from ``obj`` as read; the object to retry with, or None."""
        patch = {"metadata": {
            "resourceVersion": obj.metadata.resource_version,
            "labels": {self.sharding.shard_label: None, self.sharding.drain_label: None},
        }}
        resource = runner.primary.resource
        namespace = key.namespace or None
        try:
            await self.client.patch(resource, key.name, patch, namespace)
        except NotFound:
            return None
        except (ApiError, ClientError) as exc:
            if not isinstance(exc, Conflict):
                _log.warning("%s: acknowledging the drain of %s failed: %s",
                             self.identity, key, exc)
                await anyio.sleep(self.sharding.timings.retry_period)
            return await self._reread(runner, key, obj)
        self.stats.drained += 1
        return None

    async def _reread(self, runner: Runner, key: ObjectKey, obj: Object) -> Object | None:
        try:
            return await self.client.get(runner.primary.resource, key.name,
                                         key.namespace or None)
        except (ApiError, ClientError) as exc:
            _log.warning("%s: reading %s failed: %s", self.identity, key, exc)
            await anyio.sleep(self.sharding.timings.retry_period)
            return obj
