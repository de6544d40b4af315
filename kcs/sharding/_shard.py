"""This replica as a shard: its Lease, its gated runners, and the sharder it may run."""

from __future__ import annotations

import logging
from typing import Any

import anyio

from kcs.client import Client
from kcs.controller import Controller, Runner
from kcs.core import LabelSelector
from kcs.informer import InformerFactory
from kcs.sharding._gate import ShardGate
from kcs.sharding._lease import ShardLease, ShardLost
from kcs.sharding._membership import Membership
from kcs.sharding._options import Sharding
from kcs.sharding._sharder import Sharder, ShardTarget

__all__ = ["Shard"]

_log = logging.getLogger("kcs.sharding")


class Shard:
    """One replica's membership of a ring and the controllers it runs as a shard.

    :meth:`runner` makes a :class:`~kcs.controller.Runner` whose ``for_`` and ``owns``
    informers select only this shard's label (so its caches hold about ``1/N`` of the
    objects) and whose reconciles pass a :class:`~kcs.sharding.ShardGate`.
    :meth:`run` joins the ring (creates the shard Lease), runs those runners inside the
    shard's fence until ``stopping`` is set, drains them, and leaves (deletes the Lease)
    only if every reconcile finished; it raises :class:`~kcs.sharding.ShardLost` when the
    fence closed first. :meth:`sharder` is the leader-only half (:meth:`run_sharder`).
    """

    def __init__(self, client: Client, sharding: Sharding, identity: str, *,
                 lease_client: Client | None = None) -> None:
        self.client = client
        self.sharding = sharding
        self.identity = identity
        self.lease = ShardLease(lease_client or client, sharding, identity)
        self._lease_client = lease_client or client
        self.scope = LabelSelector.of({sharding.shard_label: identity})
        """The label selector of this shard's objects."""
        self.runners: list[Runner] = []
        self.gates: list[ShardGate] = []
        self.joined = anyio.Event()
        """Set once the shard Lease is held."""
        self.last_sharder: Sharder | None = None

    def runner(self, controller: Controller, informers: InformerFactory,
               **options: Any) -> Runner:
        """A sharded runner for ``controller`` (``options``: the Runner's keywords)."""
        gate = ShardGate(self.client, self.sharding, self.identity, self.lease.fence)
        runner = Runner(controller, self.client, informers, scope=self.scope, gate=gate,
                        **options)
        gate.attach(runner)
        self.runners.append(runner)
        self.gates.append(gate)
        return runner

    def targets(self) -> list[ShardTarget]:
        """What the sharder assigns: each runner's primary and owned kinds."""
        targets: dict[tuple[object, ...], ShardTarget] = {}
        for runner in self.runners:
            primary = runner.primary
            owned = tuple(dict.fromkeys(s.resource for s in runner.sources if s.kind == "owns"))
            key = (primary.resource, primary.namespace)
            before = targets.get(key)
            if before is not None:
                owned = tuple(dict.fromkeys((*before.owned, *owned)))
            targets[key] = ShardTarget(primary.resource, primary.namespace, owned)
        return list(targets.values())

    async def run(self, stopping: anyio.Event, drain_timeout: float) -> bool:
        """Join, reconcile this shard's keys until ``stopping``, drain, leave. Returns
        whether the Lease was deleted (a clean leave); raises ShardLost if the fence
        closed before ``stopping``."""
        fence = self.lease.fence
        clean = lost = False
        released: bool | None = None
        async with anyio.create_task_group() as outer:
            liveness = self.lease.liveness
            if liveness is not None:  # closed with this group, which is after the Lease
                await liveness.open()  # was released (a leave, not a crash) or the fence
                outer.start_soon(liveness.serve)  # closed (it closes the fence first)
            await self.lease.acquire()
            self.joined.set()
            _log.info("%s: joined ring %s as a shard", self.identity, self.sharding.ring)
            async with anyio.create_task_group() as renewing:
                renewing.start_soon(self.lease.renew_forever)
                with fence.guard():
                    async with anyio.create_task_group() as tg:
                        for gate in self.gates:
                            tg.start_soon(gate.run)
                        for runner in self.runners:
                            tg.start_soon(runner.run)
                        await stopping.wait()
                        with anyio.move_on_after(drain_timeout) as drain:
                            for runner in self.runners:
                                if runner.queue is not None:
                                    await runner.queue.shut_down_with_drain(
                                        None, drop_waiting=True)
                        clean = not drain.cancelled_caught
                        tg.cancel_scope.cancel()
                lost = fence.scope.cancelled_caught and not stopping.is_set()
                renewing.cancel_scope.cancel()  # (no renewal racing the release below)
            if clean and not lost and fence.open():
                released = await self.lease.release()
            elif liveness is not None:
                # The fence closed by itself (or reconciles were cut short): that is no
                # crash. Closing the endpoint now would let the sharder move the keys at
                # once, before requests already sent had the margin an expiry gives.
                _log.warning("%s: shard fence closed (%s); holding the liveness endpoint "
                             "until the shard Lease could have expired", self.identity,
                             fence.reason or "reconciles did not finish")
                await anyio.sleep_until(self.lease.may_expire_at)
            outer.cancel_scope.cancel()
        if lost:
            raise ShardLost(f"{self.identity}: shard fence closed: {fence.reason}")
        if released is not None:
            return released
        _log.warning("%s: the shard Lease was not released (reconciles did not all finish, "
                     "or the fence closed); the sharder moves its objects once it expires",
                     self.identity)
        return False

    def sharder(self) -> Sharder:
        """A new sharder over this shard's targets (a new one per term of leadership).

        Its label writes and lists go through the main client; only the watch of the
        shard Leases (and the deletes that confirm an expiry) use the lease client, so
        that a rebalance never queues in front of a renewal."""
        membership = Membership(self._lease_client, self.sharding)
        self.last_sharder = Sharder(self.client, self.sharding, membership, self.targets())
        return self.last_sharder

    async def run_sharder(self) -> None:
        """Run a fresh sharder and its membership watch until cancelled."""
        sharder = self.sharder()
        async with anyio.create_task_group() as tg:
            tg.start_soon(sharder.membership.run)
            await sharder.run()
