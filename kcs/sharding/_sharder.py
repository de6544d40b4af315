"""The sharder: leader-only work that writes the assignment labels.

Stateless: everything it knows comes from the shard Leases (:class:`Membership`) and the
objects' labels, so a new leader rebuilds it at takeover. It never caches every object:
it watches only the *unassigned* ones (label selector ``!shard.kcs.io/<ring>``, metadata
only) and lists page by page when membership changes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc

from kcs.cache import StoreOptions
from kcs.client import Client, ClientError
from kcs.core import ApiError, Conflict, NotFound, Object, ObjectKey, Resource, split_api_version
from kcs.informer import Informer, InformerOptions, ResourceEventHandler
from kcs.sharding._membership import Membership
from kcs.sharding._options import Sharding
from kcs.sharding._ring import HashRing
from kcs.workqueue import WorkQueue, run_workers

__all__ = ["ShardTarget", "Sharder", "SharderStats"]

_log = logging.getLogger("kcs.sharding")
_PAGE = 500
_METADATA_ONLY = InformerOptions(store=StoreOptions(metadata_only=True))


@dataclass(frozen=True, slots=True)
class ShardTarget:
    """One sharded primary resource (in ``namespace``; ``None``: all) and the kinds its
    controller owns, whose objects follow their controller owner's shard."""

    primary: Resource
    namespace: str | None = None
    owned: tuple[Resource, ...] = ()


@dataclass(slots=True)
class SharderStats:
    """What the sharder has done since it started (monotonic counters).

    :ivar rebalances: Rebalances completed (one per change of the members).
    :ivar assigned: Unassigned primary objects given a shard.
    :ivar drains: Drain labels written (moves from a live shard).
    :ivar reassigned: Objects of a dead or departed shard given a live one directly.
    :ivar children: Owned objects labelled with their owner's shard.
    :ivar conflicts: Label writes that conflicted with another writer (retried later).
    :ivar last_rebalance_s: Seconds the last rebalance took.
    :ivar members: The shards of the last rebalance, sorted.
    """

    rebalances: int = 0
    assigned: int = 0
    drains: int = 0
    reassigned: int = 0
    children: int = 0
    conflicts: int = 0
    last_rebalance_s: float = 0.0
    members: list[str] = field(default_factory=list)


_Item = tuple[str, int, ObjectKey]  # ("primary" | "child" | "recheck", owned index, key)


class _Unassigned(ResourceEventHandler):
    def __init__(self, queue: WorkQueue[_Item], kind: str, index: int) -> None:
        self._queue = queue
        self._kind = kind
        self._index = index

    def on_add(self, obj: Object, is_initial: bool) -> None:
        self._queue.add((self._kind, self._index, ObjectKey.of(obj)))

    def on_update(self, old: Object, new: Object) -> None:
        self._queue.add((self._kind, self._index, ObjectKey.of(new)))


def _controller_owner(obj: Object, primary: Resource) -> ObjectKey | None:
    ref = obj.metadata.controller_reference()
    if ref is None or ref.kind != primary.kind:
        return None
    if split_api_version(ref.api_version)[0] != primary.group:
        return None
    return ObjectKey(obj.metadata.namespace if primary.namespaced else "", ref.name)


class _TargetSharder:
    """The sharder of one :class:`ShardTarget`."""

    def __init__(self, client: Client, sharding: Sharding, target: ShardTarget,
                 stats: SharderStats) -> None:
        self.client = client
        self.sharding = sharding
        self.target = target
        self.stats = stats
        self.ring = HashRing(vnodes=sharding.vnodes)
        self.balanced_once = False
        """Whether a rebalance of this term has run (the next may list only leavers)."""
        self.queue: WorkQueue[_Item] = WorkQueue(aging_interval=None)
        unassigned = f"!{sharding.shard_label}"
        self.primary = Informer(client, target.primary, target.namespace, unassigned,
                                options=_METADATA_ONLY)
        self.primary.add_handler(_Unassigned(self.queue, "primary", 0),
                                 name=f"sharder {sharding.ring}: {target.primary}")
        self.owned: list[Informer] = []
        for i, resource in enumerate(target.owned):
            informer = Informer(client, resource, target.namespace, unassigned,
                                options=_METADATA_ONLY)
            informer.add_handler(_Unassigned(self.queue, "child", i),
                                 name=f"sharder {sharding.ring}: {resource}")
            self.owned.append(informer)
        # Owned objects waiting for their owner's move: relabelled right before it.
        self.children_of: dict[ObjectKey, list[tuple[int, ObjectKey]]] = {}
        self.lock = anyio.Lock()

    @property
    def label(self) -> str:
        return self.sharding.shard_label

    @property
    def drain(self) -> str:
        return self.sharding.drain_label

    async def run(self) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.primary.run)
            for informer in self.owned:
                tg.start_soon(informer.run)
            await run_workers(self.queue, self.sharding.assign_concurrency, self._process)

    async def wait_synced(self) -> None:
        await self.primary.lister.wait_synced()
        for informer in self.owned:
            await informer.lister.wait_synced()

    # -- one object at a time ------------------------------------------------------------

    async def _process(self, item: _Item) -> None:
        kind, index, key = item
        try:
            if kind == "primary":
                await self._assign_unassigned(key)
            elif kind == "child":
                await self._assign_child(index, key)
            else:
                await self._recheck(key)
        except Conflict:
            self.stats.conflicts += 1
            self.queue.add_rate_limited(("recheck", 0, key) if kind == "recheck" else item)
        except NotFound:
            pass
        except (ApiError, ClientError, TimeoutError) as exc:
            _log.warning("sharder %s: %s %s: %s", self.sharding.ring, kind, key, exc)
            self.queue.add_rate_limited(item)
        else:
            self.queue.forget(item)

    async def _assign_unassigned(self, key: ObjectKey) -> None:
        obj = self.primary.lister.get(key.name, key.namespace or None)
        if obj is None or not len(self.ring):
            return
        async with self.lock:
            await self._assign(obj, None)
            self.stats.assigned += 1

    async def _assign(self, obj: Object, current: str | None) -> str:
        """Label ``obj`` (read at its resourceVersion) with its ring owner, its waiting
        children first; ``current`` is the label it had (``None``: unassigned)."""
        key = ObjectKey.of(obj)
        owner = self.ring.owner(self.sharding.partition_key(obj)) or ""
        for index, child in self.children_of.pop(key, ()):
            await self._label_child(index, child, owner)
        labels: dict[str, Any] = {self.label: owner}
        if self.drain in obj.metadata.labels:
            labels[self.drain] = None
        await self.client.patch(self.target.primary, key.name, {"metadata": {
            "resourceVersion": obj.metadata.resource_version, "labels": labels}},
            key.namespace or None)
        return owner

    async def _label_child(self, index: int, key: ObjectKey, shard: str) -> None:
        try:
            await self.client.patch(self.target.owned[index], key.name,
                                    {"metadata": {"labels": {self.label: shard}}},
                                    key.namespace or None)
            self.stats.children += 1
        except NotFound:
            pass

    async def _assign_child(self, index: int, key: ObjectKey) -> None:
        obj = self.owned[index].lister.get(key.name, key.namespace or None)
        if obj is None:
            return
        owner_key = _controller_owner(obj, self.target.primary)
        if owner_key is None:
            return
        owner = await self.client.get(self.target.primary, owner_key.name,
                                      owner_key.namespace or None)
        if owner is None:
            return
        async with self.lock:
            labels = owner.metadata.labels
            shard = labels.get(self.label)
            if shard is None or self.drain in labels:
                self.children_of.setdefault(owner_key, []).append((index, key))
                return
            await self._label_child(index, key, shard)

    async def _recheck(self, key: ObjectKey) -> None:
        obj = await self.client.get(self.target.primary, key.name, key.namespace or None)
        if obj is not None:
            async with self.lock:
                await self._decide(obj, self.ring.members)

    # -- membership changes --------------------------------------------------------------

    async def rebalance(self, members: frozenset[str]) -> None:
        """Move every object whose shard is not its ring owner among ``members``.

        When members only left since the last rebalance of this term, only their objects
        can have a new owner (a consistent-hash ring moves no other key), so only they
        are listed, by label: a dead shard's objects start moving after a list of its
        share, not of everything. (Not with owned kinds: a child and its owner may carry
        different labels for a while, so both lists stay whole.)"""
        async with self.lock:
            before = self.ring.members
            self.ring = HashRing(members, vnodes=self.sharding.vnodes)
            if not members:
                return
            gone = before - members
            selector = (f"{self.label} in ({','.join(sorted(gone))})"
                        if self.balanced_once and gone and members <= before
                        and not self.target.owned else None)
            moving: dict[ObjectKey, str] = {}
            stable: dict[ObjectKey, str] = {}
            decisions: list[Object] = []
            async for obj in self._list(self.target.primary, selector):
                key = ObjectKey.of(obj)
                shard = obj.metadata.labels.get(self.label)
                if shard is None:
                    self.queue.add(("primary", 0, key))
                    continue
                desired = self.ring.owner(self.sharding.partition_key(obj))
                if shard == desired and self.drain not in obj.metadata.labels:
                    if self.owned:
                        stable[key] = shard
                    continue
                moving[key] = shard
                decisions.append(obj)
            for index, resource in enumerate(self.target.owned):
                async for child in self._list(resource, selector):
                    owner_key = _controller_owner(child, self.target.primary)
                    if owner_key is None:
                        continue
                    ckey = ObjectKey.of(child)
                    if owner_key in moving:
                        self.children_of.setdefault(owner_key, []).append((index, ckey))
                    elif (owner_key in stable
                          and child.metadata.labels.get(self.label) != stable[owner_key]):
                        await self._label_child(index, ckey, stable[owner_key])
            del stable
            self.balanced_once = True
            limiter = anyio.CapacityLimiter(self.sharding.assign_concurrency)
            async with anyio.create_task_group() as tg:
                for obj in decisions:
                    tg.start_soon(self._decide_limited, obj, members, limiter)

    async def _decide_limited(self, obj: Object, members: frozenset[str],
                              limiter: anyio.CapacityLimiter) -> None:
        async with limiter:
            try:
                await self._decide(obj, members)
            except Conflict:
                self.stats.conflicts += 1
                self.queue.add(("recheck", 0, ObjectKey.of(obj)))
            except NotFound:
                pass
            except (ApiError, ClientError, TimeoutError) as exc:
                _log.warning("sharder %s: moving %s: %s", self.sharding.ring,
                             ObjectKey.of(obj), exc)
                self.queue.add_rate_limited(("recheck", 0, ObjectKey.of(obj)))

    async def _decide(self, obj: Object, members: frozenset[str]) -> None:
        """One assigned object: keep, drain (live shard), reassign (dead shard) or cancel
        a drain that is no longer wanted. The caller holds the lock."""
        labels = obj.metadata.labels
        shard = labels.get(self.label)
        if shard is None:
            self.queue.add(("primary", 0, ObjectKey.of(obj)))
            return
        desired = self.ring.owner(self.sharding.partition_key(obj))
        draining = self.drain in labels
        rv = obj.metadata.resource_version
        key = ObjectKey.of(obj)
        if shard == desired:
            if draining:  # it moved back before the shard acknowledged: stay
                await self.client.patch(self.target.primary, key.name, {"metadata": {
                    "resourceVersion": rv, "labels": {self.drain: None}}}, key.namespace or None)
                for index, child in self.children_of.pop(key, ()):
                    await self._label_child(index, child, shard)
            return
        if shard not in members:
            await self._assign(obj, shard)  # its shard's fence has closed: move at once
            self.stats.reassigned += 1
        elif not draining:
            await self.client.patch(self.target.primary, key.name, {"metadata": {
                "resourceVersion": rv, "labels": {self.drain: "true"}}}, key.namespace or None)
            self.stats.drains += 1

    async def _list(self, resource: Resource, label_selector: str | None = None) -> Any:
        token: str | None = None
        while True:
            page = await self.client.list(resource, self.target.namespace, limit=_PAGE,
                                          continue_=token, label_selector=label_selector)
            for obj in page:
                yield obj
            token = page.continue_
            if not token:
                return


class Sharder:
    """Assigns the objects of ``targets`` to the live members of the ring.

    Run it as leader-only work (the :class:`~kcs.manager.Manager` does, with
    ``sharding=``): one sharder at a time, fenced like any leader-only work.

    Guarantees:

    * **New objects at once.** An unassigned primary object gets the label of its ring
      owner as soon as the watch of unassigned objects delivers it (no scan); an
      unassigned owned object gets its controller owner's shard.
    * **Membership changes move about 1/N of the keys.** On a join, a graceful leave or
      an expiry, the sharder lists the objects (paginated) and moves exactly those whose
      ring owner changed: from a live shard by the drain (label ``drain.shard.kcs.io``;
      the shard acknowledges by removing its label, then the sharder assigns the new
      owner), from a dead or departed one directly (its fence closed before its Lease
      could expire here). Owned objects are relabelled right before their owner.
    * **Every write is conditioned** on the resourceVersion the decision was made on; a
      Conflict re-reads the object and decides again.
    """

    def __init__(self, client: Client, sharding: Sharding, membership: Membership,
                 targets: Sequence[ShardTarget]) -> None:
        self.client = client
        self.sharding = sharding
        self.membership = membership
        self.stats = SharderStats()
        self._targets = [_TargetSharder(client, sharding, t, self.stats) for t in targets]
        self.balanced = anyio.Event()
        """Set after the first rebalance of this sharder's term."""

    async def run(self) -> None:
        """Assign until cancelled (needs :attr:`membership` running)."""
        async with anyio.create_task_group() as tg:
            for target in self._targets:
                tg.start_soon(target.run)
            await self.membership.informer.lister.wait_synced()
            for target in self._targets:
                await target.wait_synced()
            while True:
                members = self.membership.members
                changed = self.membership.wait_changed
                started = anyio.current_time()
                for target in self._targets:
                    await target.rebalance(members)
                self.stats.rebalances += 1
                self.stats.members = sorted(members)
                self.stats.last_rebalance_s = anyio.current_time() - started
                _log.info("sharder %s: %d members %s; rebalanced in %.2fs",
                          self.sharding.ring, len(members), sorted(members),
                          self.stats.last_rebalance_s)
                self.balanced.set()
                if self.membership.members == members:
                    await changed()
