"""Controllers against the fake apiserver: sources, outcomes, concurrency, priorities."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from ctl_helpers import Calls, deployment, running

from kcs.client import Client
from kcs.controller import (
    Builder,
    CacheSyncTimeout,
    Context,
    Controller,
    GenerationChanged,
    Result,
    Runner,
    TerminalError,
)
from kcs.core import Object, ObjectKey, builtin
from kcs.informer import Informer, InformerFactory
from kcs.testing import FakeApiServer, eventually

DEPLOYMENTS = builtin("deployments.apps")
CONFIGMAPS = builtin("configmaps")
SECRETS = builtin("secrets")
KEY = ObjectKey("default", "web")


class ConfigPerDeployment(Controller):
    """Keeps a ConfigMap ``<name>-config`` holding each Deployment's image, owned by it."""

    def __init__(self) -> None:
        self.calls = Calls()

    def setup(self, builder: Builder) -> None:
        builder.for_(DEPLOYMENTS, predicates=[GenerationChanged()])
        self.configmaps: Informer = builder.owns(CONFIGMAPS)

    async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
        self.calls.record(key)
        dep = await ctx.cache.get(DEPLOYMENTS, key.name, key.namespace)
        if dep is None:
            return None
        want = {"image": dep["spec"]["template"]["spec"]["containers"][0]["image"]}
        name = f"{key.name}-config"
        cm = await ctx.cache.get(CONFIGMAPS, name, key.namespace)
        if cm is None:
            await ctx.client.create(CONFIGMAPS, {
                "metadata": {
                    "name": name,
                    "namespace": key.namespace,
                    "ownerReferences": [{
                        "apiVersion": "apps/v1", "kind": "Deployment", "name": key.name,
                        "uid": dep.uid, "controller": True,
                    }],
                },
                "data": want,
            })
        elif cm.get("data") != want:
            await ctx.client.patch(CONFIGMAPS, name, {"data": want}, key.namespace)
        return None


def _creates(api: FakeApiServer, resource: str = "configmaps") -> int:
    return sum(1 for w in api.writes.records if w.resource == resource and w.verb == "create")


@pytest.mark.anyio
@pytest.mark.timeout(20)
async def test_owned_objects_are_created_once_and_repaired(
    api: FakeApiServer, client: Client, factory: InformerFactory
) -> None:
    ctl = ConfigPerDeployment()
    run = Runner(ctl, client, factory)
    async with running(factory, run):
        api.create(DEPLOYMENTS, deployment("web", image="app:1"))
        cm = await eventually(lambda: _get(api, CONFIGMAPS, "web-config"))
        assert cm["data"] == {"image": "app:1"}
        assert cm["metadata"]["ownerReferences"][0]["name"] == "web"

        # Someone deletes the owned object: the owner is reconciled and it comes back.
        api.delete(CONFIGMAPS, "web-config", "default")
        await eventually(lambda: _get(api, CONFIGMAPS, "web-config"))
        # Someone edits it: repaired.
        api.patch(CONFIGMAPS, "web-config", {"data": {"image": "hacked"}}, namespace="default")
        await eventually(
            lambda: (_get(api, CONFIGMAPS, "web-config") or {}).get("data") == {"image": "app:1"}
        )
        # A spec change of the owner flows through.
        api.patch(DEPLOYMENTS, "web", {"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "app:2"}]}}}}, namespace="default")
        await eventually(
            lambda: (_get(api, CONFIGMAPS, "web-config") or {}).get("data") == {"image": "app:2"}
        )
    assert _creates(api) == 2, "created once, and once more after the deletion"
    assert run.stats.errors == 0


def _get(api: FakeApiServer, resource: Any, name: str) -> dict[str, Any] | None:
    try:
        return api.get(resource, name, "default")
    except Exception:
        return None


@pytest.mark.anyio
@pytest.mark.timeout(20)
async def test_a_status_update_does_not_pass_the_generation_predicate(
    api: FakeApiServer, client: Client, factory: InformerFactory
) -> None:
    ctl = ConfigPerDeployment()
    run = Runner(ctl, client, factory)
    async with running(factory, run):
        api.create(DEPLOYMENTS, deployment("web"))
        await ctl.calls.wait_until(lambda: ctl.calls.count(KEY) >= 1)
        await eventually(lambda: _get(api, CONFIGMAPS, "web-config"))
        await ctl.calls.wait_until(lambda: ctl.calls.count(KEY) >= 2)  # its child's ADDED

        dep = api.get(DEPLOYMENTS, "web", "default")
        dep["status"] = {"observedGeneration": 1, "replicas": 1}
        api.update(DEPLOYMENTS, dep, status=True)
        # Events reach the handler in order and the queue is FIFO: once a later object
        # was reconciled, the status update had been seen and filtered out.
        api.create(DEPLOYMENTS, deployment("later"))
        await ctl.calls.wait_until(lambda: ObjectKey("default", "later") in ctl.calls.keys)
        assert ctl.calls.count(KEY) == 2


class SecretWatcher(Controller):
    """Reconciles the Deployment named by a Secret's ``app`` label."""

    def __init__(self) -> None:
        self.calls = Calls()

    def setup(self, builder: Builder) -> None:
        builder.for_(DEPLOYMENTS)
        builder.watches(SECRETS, self.map_secret)

    @staticmethod
    def map_secret(secret: Object) -> list[ObjectKey]:
        app = secret.labels.get("app")
        return [ObjectKey(secret.namespace, app)] if app else []

    async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
        self.calls.record(key)
        return None


@pytest.mark.anyio
@pytest.mark.timeout(20)
async def test_watches_maps_other_kinds_to_keys(
    api: FakeApiServer, client: Client, factory: InformerFactory
) -> None:
    ctl = SecretWatcher()
    run = Runner(ctl, client, factory)
    async with running(factory, run):
        api.create(DEPLOYMENTS, deployment("web"))
        await ctl.calls.wait_until(lambda: ctl.calls.count(KEY) >= 1)
        api.create(SECRETS, {"metadata": {"name": "s", "namespace": "default",
                                          "labels": {"app": "web"}}})
        await ctl.calls.wait_until(lambda: ctl.calls.count(KEY) >= 2)
        # An update that moves the secret to another app enqueues both (old and new).
        api.patch(SECRETS, "s", {"metadata": {"labels": {"app": "api"}}}, namespace="default")
        await ctl.calls.wait_until(
            lambda: ctl.calls.count(KEY) == 3 and ctl.calls.count(ObjectKey("default", "api")) == 1
        )


class Scripted(Controller):
    """Answers reconciles of ``web`` from a script of outcomes (then ``None``)."""

    def __init__(self, script: list[Any]) -> None:
        self.calls = Calls()
        self.script = list(script)

    def setup(self, builder: Builder) -> None:
        builder.for_(DEPLOYMENTS)

    async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
        self.calls.record(key)
        step = self.script.pop(0) if self.script and key == KEY else None
        if isinstance(step, BaseException):
            raise step
        return step


@pytest.mark.anyio
@pytest.mark.timeout(20)
async def test_requeue_after_reconciles_again_without_a_change(
    api: FakeApiServer, client: Client, factory: InformerFactory
) -> None:
    ctl = Scripted([Result(requeue_after=0.05)] * 3)
    run = Runner(ctl, client, factory)
    async with running(factory, run):
        api.create(DEPLOYMENTS, deployment("web"))
        await ctl.calls.wait_until(lambda: ctl.calls.count(KEY) == 4)
    assert run.stats.requeues_after == 3
    assert run.stats.successes == 1


@pytest.mark.anyio
@pytest.mark.timeout(20)
async def test_errors_are_retried_with_backoff_then_forgotten(
    api: FakeApiServer, client: Client, factory: InformerFactory
) -> None:
    ctl = Scripted([RuntimeError("boom")] * 4)
    run = Runner(ctl, client, factory)
    async with running(factory, run):
        api.create(DEPLOYMENTS, deployment("web"))
        await eventually(lambda: run.stats.successes == 1)
        queue = run.queue
        assert queue is not None
        assert queue.retries(KEY) == 0, "a success forgets the failures"
    assert ctl.calls.count(KEY) == 5
    assert run.stats.errors == 4


@pytest.mark.anyio
@pytest.mark.timeout(20)
async def test_a_terminal_error_is_not_retried(
    api: FakeApiServer, client: Client, factory: InformerFactory
) -> None:
    ctl = Scripted([TerminalError("bad spec")])
    run = Runner(ctl, client, factory)
    async with running(factory, run):
        api.create(DEPLOYMENTS, deployment("web"))
        await eventually(lambda: run.stats.terminal_errors == 1)
        queue = run.queue
        assert queue is not None
        assert (len(queue), queue.delayed, queue.retries(KEY)) == (0, 0, 0)
        # A change is what can fix a terminal error: it is reconciled again.
        api.patch(DEPLOYMENTS, "web", {"spec": {"replicas": 2}}, namespace="default")
        await ctl.calls.wait_until(lambda: ctl.calls.count(KEY) >= 2)
    assert run.stats.errors == 0


class Gated(Controller):
    """Every reconcile waits at a gate; records how many run at once."""

    max_concurrent_reconciles = 3

    def __init__(self) -> None:
        self.calls = Calls()
        self.gate = anyio.Event()
        self.active: set[ObjectKey] = set()
        self.most = 0
        self.overlap = False

    def setup(self, builder: Builder) -> None:
        builder.for_(DEPLOYMENTS)

    async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
        if key in self.active:
            self.overlap = True
        self.active.add(key)
        self.most = max(self.most, len(self.active))
        self.calls.record(key)
        try:
            await self.gate.wait()
        finally:
            self.active.discard(key)
        return None


@pytest.mark.anyio
@pytest.mark.timeout(20)
async def test_at_most_max_concurrent_reconciles_and_one_worker_per_key(
    api: FakeApiServer, client: Client, factory: InformerFactory
) -> None:
    ctl = Gated()
    run = Runner(ctl, client, factory)
    async with running(factory, run):
        for i in range(6):
            api.create(DEPLOYMENTS, deployment(f"d{i}"))
        await ctl.calls.wait_until(lambda: len(ctl.active) == 3)
        for key in sorted(ctl.active)[:2]:  # changed while being reconciled: dirty
            api.patch(DEPLOYMENTS, key.name, {"spec": {"replicas": 3}}, namespace="default")
        assert ctl.most == 3
        ctl.gate.set()
        await ctl.calls.wait_until(lambda: ctl.calls.count() >= 6 + 2)
    assert ctl.most == 3
    assert not ctl.overlap, "a key was reconciled by two workers at once"


class FirstBlocks(Controller):
    """The first reconcile waits at a gate; records the order of keys."""

    def __init__(self) -> None:
        self.calls = Calls()
        self.gate = anyio.Event()

    def setup(self, builder: Builder) -> None:
        builder.for_(CONFIGMAPS, namespace="default")

    async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
        self.calls.record(key)
        if self.calls.count() == 1:
            await self.gate.wait()
        return None


@pytest.mark.anyio
@pytest.mark.timeout(20)
async def test_a_live_change_overtakes_the_initial_list(
    api: FakeApiServer, client: Client, factory: InformerFactory
) -> None:
    api.seed(CONFIGMAPS, [{"metadata": {"name": f"old{i:02}", "namespace": "default"}}
                          for i in range(30)])
    ctl = FirstBlocks()
    run = Runner(ctl, client, factory)
    async with running(factory, run):
        await ctl.calls.wait_until(lambda: ctl.calls.count() == 1)
        await eventually(lambda: run.queue is not None and len(run.queue) == 29)
        api.create(CONFIGMAPS, {"metadata": {"name": "fresh", "namespace": "default"}})
        await eventually(lambda: run.queue is not None and len(run.queue) == 30)
        ctl.gate.set()
        await ctl.calls.wait_until(lambda: ctl.calls.count() == 31)
    assert ctl.calls.keys[1] == ObjectKey("default", "fresh"), ctl.calls.keys[:3]


@pytest.mark.anyio
@pytest.mark.timeout(20)
async def test_the_cache_reads_declared_sources_and_names_where_to_declare_others(
    api: FakeApiServer, client: Client, factory: InformerFactory
) -> None:
    api.create(DEPLOYMENTS, deployment("web"))
    run = Runner(ConfigPerDeployment(), client, factory)
    async with running(factory):
        await factory.wait_synced(5)
        cache = run.context.cache
        dep = await cache.get(DEPLOYMENTS, "web", "default")
        assert dep is not None and dep.name == "web"
        assert dep is run.primary.lister.get("web", "default")  # the cached instance
        assert [o.name for o in await cache.list(DEPLOYMENTS)] == ["web"]
        with pytest.raises(LookupError, match=r"ConfigPerDeployment: no informer serves "
                           r"secrets .*declare it in setup\(\) with builder\.owns\(\)"):
            await cache.get(SECRETS, "token", "default")


class QuickSyncTimeout(ConfigPerDeployment):
    sync_timeout = 0.3


@pytest.mark.anyio
@pytest.mark.timeout(20)
async def test_a_runner_whose_informers_were_never_started_says_so(
    client: Client, factory: InformerFactory
) -> None:
    run = Runner(QuickSyncTimeout(), client, factory)  # nobody runs the factory
    with anyio.fail_after(5), pytest.raises(CacheSyncTimeout) as err:
        await run.run()
    message = str(err.value)
    assert message.startswith("QuickSyncTimeout: caches not synced after 0.3s: "), message
    assert "deployments.apps in all namespaces: not running: nothing called Informer.run()" \
        in message, message
