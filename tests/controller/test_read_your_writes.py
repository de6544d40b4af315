"""Read-your-writes: a reconcile never acts on a cache from before its own writes.

The fake apiserver's ``stall`` holds watch delivery, so the informer lags behind a write
the way a busy apiserver or a slow network makes it lag in production.
"""

from __future__ import annotations

import anyio
import pytest
from ctl_helpers import Calls, deployment, running

from kcs.client import Client
from kcs.controller import Builder, Context, Controller, Result, Runner
from kcs.controller._writes import WriteTracker
from kcs.core import Object, ObjectKey, builtin, object_from_dict
from kcs.informer import InformerFactory
from kcs.testing import FakeApiServer, eventually

DEPLOYMENTS = builtin("deployments.apps")
CONFIGMAPS = builtin("configmaps")
KEY = ObjectKey("default", "web")


class CreatesChild(Controller):
    """Creates ``<name>-config`` when its cache does not show it; the first time only after
    the test opens ``gate``."""

    def __init__(self) -> None:
        self.calls = Calls()
        self.gate = anyio.Event()
        self.saw_child: list[bool] = []

    def setup(self, builder: Builder) -> None:
        builder.for_(DEPLOYMENTS)
        self.configmaps = builder.owns(CONFIGMAPS)

    async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
        dep = await ctx.cache.get(DEPLOYMENTS, key.name, key.namespace)
        if dep is None:
            return None
        await self.gate.wait()
        child = self.configmaps.lister.get(f"{key.name}-config", key.namespace)
        self.saw_child.append(child is not None)
        self.calls.record(key)
        if child is None:
            await ctx.client.create(CONFIGMAPS, {"metadata": {
                "name": f"{key.name}-config", "namespace": key.namespace,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": key.name, "uid": dep.uid, "controller": True}],
            }})
        return None


async def _write_then_lag(api: FakeApiServer, ctl: CreatesChild, run: Runner) -> None:
    """Reconcile once with the watches stalled (the child's ADDED is held back), then ask
    for the key again, as another change would."""
    api.create(DEPLOYMENTS, deployment("web"))
    await eventually(lambda: run.primary.lister.get("web", "default") is not None)
    api.faults.stall()
    ctl.gate.set()
    await ctl.calls.wait_until(lambda: ctl.calls.count() == 1)
    run.enqueue(KEY)


def _creates(api: FakeApiServer) -> int:
    return sum(1 for w in api.writes.records if w.resource == "configmaps" and w.verb == "create")


@pytest.mark.anyio
@pytest.mark.timeout(20)
async def test_the_next_reconcile_waits_until_the_cache_has_its_write(
    api: FakeApiServer, client: Client, factory: InformerFactory
) -> None:
    ctl = CreatesChild()
    run = Runner(ctl, client, factory)
    async with running(factory, run):
        await _write_then_lag(api, ctl, run)
        await anyio.sleep(0.3)  # the lag being simulated, not a wait for an event
        assert ctl.calls.count() == 1, "the second reconcile is still waiting"
        api.faults.unstall()
        await ctl.calls.wait_until(lambda: ctl.calls.count() >= 2)
    assert ctl.saw_child[:2] == [False, True]
    assert _creates(api) == 1, "no duplicate child"
    assert run.stats.errors == 0
    assert run.stats.read_your_writes_waits == 1
    assert run.stats.read_your_writes_timeouts == 0
    assert run.stats.read_your_writes_seconds >= 0.25


@pytest.mark.anyio
@pytest.mark.timeout(20)
async def test_without_it_the_reconcile_acts_on_its_stale_past(
    api: FakeApiServer, client: Client, factory: InformerFactory
) -> None:
    ctl = CreatesChild()
    ctl.read_your_writes_timeout = None
    run = Runner(ctl, client, factory)
    async with running(factory, run):
        await _write_then_lag(api, ctl, run)
        await eventually(lambda: run.stats.errors >= 1)  # AlreadyExists: it created again
        api.faults.unstall()
    assert ctl.saw_child[:2] == [False, False]
    assert run.stats.read_your_writes_waits == 0


@pytest.mark.anyio
@pytest.mark.timeout(20)
async def test_the_wait_is_bounded(
    api: FakeApiServer, client: Client, factory: InformerFactory
) -> None:
    ctl = CreatesChild()
    ctl.read_your_writes_timeout = 0.2
    run = Runner(ctl, client, factory)
    async with running(factory, run):
        await _write_then_lag(api, ctl, run)
        await eventually(lambda: run.stats.read_your_writes_timeouts == 1)
        await ctl.calls.wait_until(lambda: ctl.calls.count() >= 2)
        api.faults.unstall()
    assert ctl.saw_child[:2] == [False, False]
    assert 0.2 <= run.stats.read_your_writes_seconds < 2.0


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_only_writes_an_informer_will_see_are_waited_for(
    api: FakeApiServer, client: Client
) -> None:
    factory = InformerFactory(client)
    in_default = factory.informer(CONFIGMAPS, namespace="default", label_selector="app=web")
    tracker = WriteTracker(DEPLOYMENTS)
    tracker.track(in_default)
    tracker.track(factory.informer(DEPLOYMENTS))

    def cm(ns: str, labels: dict[str, str], rv: str = "7") -> Object:
        return object_from_dict({"kind": "ConfigMap",
                                 "metadata": {"name": "c", "namespace": ns, "labels": labels,
                                              "resourceVersion": rv}})

    tracker.record(CONFIGMAPS, cm("default", {"app": "web"}))
    assert len(tracker) == 0, "outside a reconcile nothing is remembered"
    with tracker.reconciling(KEY):
        tracker.record(CONFIGMAPS, cm("other", {"app": "web"}))  # another namespace
        tracker.record(CONFIGMAPS, cm("default", {"app": "api"}))  # outside the selector
        tracker.record(CONFIGMAPS, cm("default", {"app": "web"}, rv=""))  # no version: nothing
        assert tracker.pending(KEY) == {}
        tracker.record(CONFIGMAPS, cm("default", {"app": "web"}, rv="8"))
        assert tracker.pending(KEY) == {in_default: "8"}
        # A write to another primary object is remembered for that object's key too.
        tracker.record(DEPLOYMENTS, object_from_dict({"kind": "Deployment", "metadata": {
            "name": "other", "namespace": "default", "resourceVersion": "9"}}))
    assert set(tracker.pending(ObjectKey("default", "other")).values()) == {"9"}
    assert set(tracker.pending(KEY).values()) == {"8", "9"}
    tracker.discard(KEY)
    assert tracker.pending(KEY) == {}
