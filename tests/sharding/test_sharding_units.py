"""The shard's gate and fence, and the Manager's sharding setting, in one process against
the fake apiserver over HTTP (no sharder: the tests write the labels the sharder would)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import anyio
import pytest

from kcs.client import Client, FencedError
from kcs.controller import Builder, Context, Controller, Result
from kcs.core import Object, ObjectKey, builtin
from kcs.informer import InformerFactory
from kcs.leaderelection import LEASES, ElectionTimings
from kcs.manager import Manager
from kcs.sharding import Membership, Shard, ShardFence, Sharding, ShardLease, ShardLost
from kcs.testing import FakeApiServer, eventually

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

CONFIGMAPS = builtin("configmaps")
FAST = ElectionTimings(lease_duration=1.5, renew_deadline=1.0, retry_period=0.2)
SHARDING = Sharding("unit", timings=FAST)
LABEL = SHARDING.shard_label
DRAIN = SHARDING.drain_label


@pytest.fixture
async def api() -> AsyncIterator[FakeApiServer]:
    async with FakeApiServer() as server:
        yield server


@pytest.fixture
async def client(api: FakeApiServer) -> AsyncIterator[Client]:
    async with Client.from_url(api.url, qps=None) as c:
        yield c


class Blocking(Controller):
    """Records reconciles; a reconcile of ``hold`` waits until ``release`` is set."""

    read_your_writes_timeout = None
    max_concurrent_reconciles = 4

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []
        self.hold = ""
        self.release = anyio.Event()
        self.changed = anyio.Event()

    def setup(self, builder: Builder) -> None:
        builder.for_(CONFIGMAPS, namespace="default")

    async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
        self.started.append(key.name)
        self._changed()
        if key.name == self.hold:
            await self.release.wait()
        self.finished.append(key.name)
        self._changed()
        return None

    def _changed(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()

    async def wait(self, condition: object, within: float = 5.0) -> None:
        with anyio.fail_after(within):
            while not condition():  # type: ignore[operator]
                await self.changed.wait()


async def must_get(client: Client, name: str) -> Object:
    obj = await client.get(CONFIGMAPS, name, "default")
    assert obj is not None, f"configmap {name} is gone"
    return obj


def test_bad_settings_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="ring must be a DNS label"):
        Sharding("Not_A_Label")
    with pytest.raises(ValueError, match="vnodes"):
        Sharding("ok", vnodes=0)
    with pytest.raises(ValueError, match="assign_concurrency"):
        Sharding("ok", assign_concurrency=0)
    assert Sharding("web").shard_label == "shard.kcs.io/web"
    assert Sharding("web").lease_name("r1") == "web-shard-r1"


async def test_sharded_needs_the_setting(client: Client) -> None:
    manager = Manager(client, health_port=None, handle_signals=False)
    with pytest.raises(ValueError, match="sharding="):
        manager.add(Blocking(), sharded=True)


async def test_a_draining_key_is_acknowledged_only_after_its_reconcile_ended(
    api: FakeApiServer, client: Client
) -> None:
    for name in ("a", "b"):
        api.create("configmaps", {"metadata": {"name": name, "namespace": "default",
                                               "labels": {LABEL: "me"}}})
    api.create("configmaps", {"metadata": {"name": "other", "namespace": "default",
                                           "labels": {LABEL: "someone-else"}}})
    shard = Shard(client, SHARDING, "me")
    shard.lease.fence.extend(math.inf)  # no Lease in this test: an open fence
    controller = Blocking()
    controller.hold = "a"
    factory = InformerFactory(client)
    runner = shard.runner(controller, factory)
    gate = shard.gates[0]
    async with anyio.create_task_group() as tg:
        tg.start_soon(factory.run)
        tg.start_soon(gate.run)
        tg.start_soon(runner.run)
        # Only this shard's objects are cached and reconciled.
        await controller.wait(lambda: "b" in controller.finished and "a" in controller.started)
        assert len(runner.primary.lister) == 2
        assert "other" not in controller.started
        # The sharder asks for a's drain while a's reconcile is in flight: nothing is
        # acknowledged until it ends.
        await client.patch(CONFIGMAPS, "a", {"metadata": {"labels": {DRAIN: "true"}}},
                           "default")
        await eventually(lambda: ObjectKey("default", "a") in gate.released)
        await anyio.sleep(0.3)  # a window in which a premature acknowledgement would show
        assert DRAIN in (await must_get(client, "a")).metadata.labels
        controller.release.set()
        async def acknowledged() -> bool:
            obj = await client.get(CONFIGMAPS, "a", "default")
            return obj is not None and LABEL not in obj.metadata.labels
        await eventually(acknowledged, what="the drain acknowledged")
        assert DRAIN not in (await must_get(client, "a")).metadata.labels
        assert gate.stats.drained == 1
        # Released: a change wakes nothing here. Assigned back: reconciled here again.
        reconciles = len(controller.started)
        await client.patch(CONFIGMAPS, "a", {"metadata": {"labels": {LABEL: "me"}}},
                           "default")
        await controller.wait(lambda: len(controller.started) > reconciles)
        assert controller.started[-1] == "a"
        assert gate.stats.returned == 1
        tg.cancel_scope.cancel()


async def test_a_closed_fence_refuses_every_reconcile(api: FakeApiServer, client: Client) -> None:
    api.create("configmaps", {"metadata": {"name": "a", "namespace": "default",
                                           "labels": {LABEL: "me"}}})
    fence = ShardFence("test")
    fence.close("test")
    shard = Shard(client, SHARDING, "me")
    shard.lease.fence.close("test")
    controller = Blocking()
    factory = InformerFactory(client)
    runner = shard.runner(controller, factory)
    async with anyio.create_task_group() as tg:
        tg.start_soon(factory.run)
        tg.start_soon(runner.run)
        await eventually(lambda: runner.stats.skipped >= 1)
        assert controller.started == []
        assert not fence.open() and not fence.extend(math.inf)
        tg.cancel_scope.cancel()


async def test_a_shard_whose_lease_is_deleted_stops_and_the_manager_raises(
    api: FakeApiServer, client: Client
) -> None:
    api.create("configmaps", {"metadata": {"name": "a", "namespace": "default"}})
    manager = Manager(client, identity="solo", health_port=None, handle_signals=False,
                      sharding=SHARDING)
    controller = Blocking()
    manager.add(controller)
    assert manager.shard is not None

    async def delete_the_lease() -> None:
        await controller.wait(lambda: "a" in controller.finished, within=10)
        labels = (await must_get(client, "a")).metadata.labels
        assert labels[LABEL] == "solo"
        await client.delete(LEASES, SHARDING.lease_name("solo"), "default")

    with anyio.fail_after(15):
        async with anyio.create_task_group() as tg:
            tg.start_soon(delete_the_lease)
            with pytest.raises(ShardLost, match="changed or deleted by someone else"):
                await manager.run()
    assert not manager.shard.lease.fence.open()


async def test_a_lagging_lease_watch_never_declares_a_live_shard_dead(
    api: FakeApiServer, client: Client
) -> None:
    lease = ShardLease(client, SHARDING, "x")
    await lease.acquire()
    async with Client.from_url(api.url, qps=None, user_agent_suffix="membership") as watcher:
        membership = Membership(watcher, SHARDING)
        seen: list[frozenset[str]] = []

        async def record() -> None:
            while True:
                await membership.wait_changed()
                seen.append(membership.members)

        async with anyio.create_task_group() as tg:
            renewing = anyio.CancelScope()

            async def renew() -> None:
                with renewing:
                    await lease.renew_forever()

            tg.start_soon(renew)
            tg.start_soon(record)
            tg.start_soon(membership.run)
            await eventually(lambda: membership.members == {"x"})
            # The observer's watch stops delivering (and its requests hang) for longer
            # than a lease while x goes on renewing: its timer fires, but the delete that
            # would confirm the expiry is conditioned on the renewal it saw, and fails.
            api.faults.partition(user_agent="membership")
            await anyio.sleep(FAST.lease_duration * 1.5)
            api.faults.heal()
            await eventually(lambda: membership.refuted >= 1 and not membership.confirming)
            await anyio.sleep(FAST.retry_period * 3)
            assert membership.members == {"x"}
            assert all(m == {"x"} for m in seen), seen
            assert lease.fence.open()
            # Once x stops renewing, it leaves: its Lease deleted on confirmation.
            renewing.cancel()
            await eventually(lambda: membership.members == frozenset(), within=10)
            assert membership.expired == 1
            assert await client.get(LEASES, SHARDING.lease_name("x"), "default") is None
            tg.cancel_scope.cancel()


async def test_a_write_after_the_fence_deadline_is_refused_before_it_is_sent(
    api: FakeApiServer, client: Client
) -> None:
    api.create("configmaps", {"metadata": {"name": "a", "namespace": "default"}})
    fence = ShardFence("shard test", anyio.current_time() + 0.2)
    writes = len(api.writes)
    with fence.guard():
        await client.patch(CONFIGMAPS, "a", {"data": {"in": "time"}}, "default")
        # As a process paused mid-reconcile that wakes after its deadline: the
        # cancellation has not reached this code yet, the transport refuses the write.
        with anyio.CancelScope(shield=True):
            await anyio.sleep(0.3)
            with pytest.raises(FencedError):
                await client.patch(CONFIGMAPS, "a", {"data": {"too": "late"}}, "default")
    assert not fence.open()
    assert len(api.writes) == writes + 1
    assert (await must_get(client, "a")).get("data") == {"in": "time"}
