"""An informer end to end over HTTP: sync, handlers, relists, options, indexes."""

from __future__ import annotations

import logging

import pytest
from informer_helpers import (
    FAST_BACKOFF,
    PODS,
    Recorder,
    cache_state,
    caught_up,
    new_pod,
    running,
    server_state,
)

from kcs.cache import IndexOptions, StoreOptions, field_index_name
from kcs.client import Client
from kcs.core import Object
from kcs.informer import ConsistentReader, FunctionHandler, Informer, InformerOptions
from kcs.testing import FakeApiServer
from kcs.watch import WatchOptions

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


@pytest.mark.parametrize("initial_list", ["list", "stream"])
async def test_sync_is_the_server_state(
    api: FakeApiServer, client: Client, initial_list: str
) -> None:
    api.seed("pods", [new_pod(f"p{i}", f"ns{i % 3}", app=f"a{i % 2}") for i in range(1200)])
    informer = Informer(client, PODS, options=InformerOptions(watch=WatchOptions(initial_list=initial_list, page_size=500)))  # type: ignore[arg-type]
    synced_before = informer.has_synced
    assert not synced_before
    rec = Recorder()
    reg = informer.add_handler(rec)
    async with running(informer):
        assert informer.has_synced
        assert cache_state(informer) == server_state(api)
        assert informer.resource_version == str(api.revision)
        assert await reg.wait_synced(10)
        assert rec.versions() == server_state(api)
        assert {c[0] for c in rec.calls} == {"add-initial"}
        assert len(informer.lister.list("ns1", {"app": "a0"})) == 200
    assert not rec.violations


async def test_handlers_see_every_change_in_order(api: FakeApiServer, client: Client) -> None:
    api.seed("pods", [new_pod("a"), new_pod("b")])
    informer = Informer(client, PODS, options=InformerOptions(watch=WatchOptions(backoff=FAST_BACKOFF)))
    rec = Recorder()
    reg = informer.add_handler(rec)
    async with running(informer):
        await caught_up(api, informer, reg)
        c = await client.create(PODS, new_pod("c"))
        await caught_up(api, informer, reg)
        u = await client.patch(PODS, "a", {"metadata": {"labels": {"x": "1"}}}, "default")
        await caught_up(api, informer, reg)
        d = await client.delete(PODS, "b", "default")
        assert d is not None, "the pod's grace period holds it: the delete answers with it"
        await caught_up(api, informer, reg)
        live = rec.calls[2:]
        assert live == [
            ("add", "default/c", c["metadata"]["resourceVersion"]),
            ("update", "default/a", u["metadata"]["resourceVersion"]),
            ("delete", "default/b", d["metadata"]["resourceVersion"]),
        ]
        assert rec.versions() == server_state(api) == cache_state(informer)
        assert rec.state["default/a"].labels == {"x": "1"}
    assert not rec.violations
    assert reg.errors == 0


async def test_handler_added_after_sync_gets_the_cache_first(
    api: FakeApiServer, client: Client
) -> None:
    api.seed("pods", [new_pod(f"p{i}") for i in range(50)])
    informer = Informer(client, PODS)
    async with running(informer):
        rec = Recorder()
        reg = informer.add_handler(rec)
        assert await reg.wait_synced(10)
        assert rec.versions() == server_state(api)
        assert all(c[0] == "add-initial" for c in rec.calls)
        api.create("pods", new_pod("late"))
        await caught_up(api, informer, reg)
        assert rec.calls[-1][:2] == ("add", "default/late")
    assert not rec.violations


async def test_handler_exceptions_are_logged_and_survived(
    api: FakeApiServer, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    api.seed("pods", [new_pod(f"p{i}") for i in range(5)])
    informer = Informer(client, PODS)

    def boom(obj: Object, is_initial: bool) -> None:
        raise RuntimeError(f"boom {obj.name}")

    bad = informer.add_handler(FunctionHandler(on_add=boom), name="boom")
    rec = Recorder()
    good = informer.add_handler(rec)
    with caplog.at_level(logging.ERROR, logger="kcs.informer"):
        async with running(informer):
            await caught_up(api, informer, bad, good)
            api.create("pods", new_pod("after"))
            await caught_up(api, informer, bad, good)
            assert informer.running
    assert bad.errors == 6 and bad.delivered == 6
    assert bad.has_synced  # failed initial calls still count as delivered
    assert "default/after" in rec.state and good.errors == 0
    assert "boom" in caplog.text and "RuntimeError" in caplog.text


async def test_removed_handler_gets_nothing_more(api: FakeApiServer, client: Client) -> None:
    informer = Informer(client, PODS)
    seen: list[str] = []
    reg = informer.add_handler(FunctionHandler(on_add=lambda o, i: seen.append(o.key)))
    rec = Recorder()
    other = informer.add_handler(rec)
    async with running(informer):
        api.create("pods", new_pod("one"))
        await caught_up(api, informer, reg, other)
        reg.remove()
        assert reg not in informer.handlers
        api.create("pods", new_pod("two"))
        await caught_up(api, informer, other)
        assert seen == ["default/one"]
        assert "default/two" in rec.state


async def test_relist_after_410_dispatches_only_true_differences(
    api: FakeApiServer, client: Client
) -> None:
    api.seed("pods", [new_pod(f"p{i}") for i in range(20)])
    informer = Informer(client, PODS, options=InformerOptions(watch=WatchOptions(backoff=FAST_BACKOFF)))
    rec = Recorder()
    reg = informer.add_handler(rec)
    async with running(informer):
        await caught_up(api, informer, reg)
        assert informer.watcher is not None
        api.faults.stall()  # the watch sees nothing of what follows
        api.create("pods", new_pod("new"))
        api.patch("pods", "p1", {"metadata": {"labels": {"v": "2"}}}, namespace="default")
        api.delete("pods", "p2", "default")
        api.compact()  # the resume point is gone
        api.faults.drop_watches()
        api.faults.unstall()
        await caught_up(api, informer, reg)
        assert informer.watcher.stats.relists >= 1
        # exactly the three differences, nothing for the 17 unchanged pods
        assert sorted(c[:2] for c in rec.calls[20:]) == [
            ("add", "default/new"), ("delete", "default/p2"), ("update", "default/p1")
        ]
        assert rec.versions() == server_state(api) == cache_state(informer)
        assert informer.stats.syncs == 2
    assert not rec.violations


async def test_metadata_only_transform_and_managed_fields(
    api: FakeApiServer, client: Client
) -> None:
    pod = new_pod("p", node="n1", app="a")
    pod["metadata"]["managedFields"] = [{"manager": "m", "operation": "Update"}]
    pod["status"] = {"phase": "Running"}
    api.create("pods", pod)

    meta = Informer(client, PODS, options=InformerOptions(store=StoreOptions(metadata_only=True)))
    kept = Informer(client, PODS, options=InformerOptions(keep_managed_fields=True))

    def drop_status(obj: Object) -> Object:
        fields = obj.fields()
        fields.pop("status", None)
        return Object(obj.api_version, obj.kind, obj.metadata,
                      b'{"spec":' + __import__("orjson").dumps(fields["spec"]) + b"}")

    slim = Informer(client, PODS, options=InformerOptions(store=StoreOptions(transform=drop_status)))
    async with running(meta), running(kept), running(slim):
        m = meta.lister.get("p", "default")
        assert m is not None and m.body == b"{}" and m.labels == {"app": "a"}
        k = kept.lister.get("p", "default")
        assert k is not None and k.to_dict()["metadata"]["managedFields"]
        s = slim.lister.get("p", "default")
        assert s is not None and "status" not in s and s["spec"]["nodeName"] == "n1"
        # a consistent read answered live gets the same treatment
        api.faults.stall()
        api.create("pods", new_pod("q", node="n2"))
        live = await ConsistentReader(meta).get(PODS, "q", "default", timeout=0.3)
        assert live is not None and live.body == b"{}"
        live = await ConsistentReader(slim).get(PODS, "q", "default", timeout=0.3)
        assert live is not None and "status" not in live and live["spec"]["nodeName"] == "n2"


async def test_indexes(api: FakeApiServer, client: Client) -> None:
    api.seed("pods", [new_pod(f"p{i}", f"ns{i % 2}", node=f"n{i % 3}", app=f"a{i % 4}")
                      for i in range(24)])
    informer = Informer(client, PODS, options=InformerOptions(store=StoreOptions(indexes=IndexOptions(fields=["spec.nodeName"]))))
    informer.add_index("by-app-node", lambda o: [f"{o.labels.get('app')}@{o['spec']['nodeName']}"])
    async with running(informer):
        on_n1 = {o.key for o in informer.lister.by_index(field_index_name("spec.nodeName"), "n1")}
        assert on_n1 == {f"ns{i % 2}/p{i}" for i in range(24) if i % 3 == 1}
        custom = {o.key for o in informer.lister.by_index("by-app-node", "a1@n1")}
        assert custom == {f"ns{i % 2}/p{i}" for i in range(24) if i % 4 == 1 and i % 3 == 1}
        informer.add_label_index("app")  # no-op: every label key is indexed by default
        informer.add_field_index("spec.schedulerName")  # added while running
        assert field_index_name("spec.schedulerName") in informer.lister.index_names()
        same = informer.add_index  # re-adding the same function is a no-op
        fn = lambda o: [o.name]  # noqa: E731
        same("names", fn)
        same("names", fn)
        with pytest.raises(ValueError, match="the custom index 'names' is already defined with another function"):
            informer.add_index("names", lambda o: [o.name])
        # A pod's node never changes (the update is forbidden): a pod on another node is a
        # new pod under the same name.
        # (A scheduled pod stays until its kubelet confirms: delete it for good at once.)
        api.delete("pods", "p1", "ns1", grace_period_seconds=0)
        api.create("pods", new_pod("p1", "ns1", node="n9", app="a1"))
        await caught_up(api, informer)
        assert [o.key for o in informer.lister.by_index("field:spec.nodeName", "n9")] == ["ns1/p1"]


async def test_async_and_sync_handlers_and_a_second_run_resumes(
    api: FakeApiServer, client: Client
) -> None:
    informer = Informer(client, PODS, options=InformerOptions(watch=WatchOptions(backoff=FAST_BACKOFF)))
    sync_seen: list[str] = []
    reg = informer.add_handler(FunctionHandler(on_add=lambda o, i: sync_seen.append(o.key)))
    async with running(informer):
        api.create("pods", new_pod("a"))
        await caught_up(api, informer, reg)
    stopped_watcher = informer.watcher  # a local: mypy must not carry "None" past the run
    assert not informer.running and stopped_watcher is None
    api.create("pods", new_pod("b"))
    async with running(informer):
        await caught_up(api, informer, reg)
        assert informer.watcher is not None
        assert informer.watcher.stats.lists == 0  # resumed from the cache's rv, no list
    assert sync_seen == ["default/a", "default/b"]


async def test_run_twice_at_once_is_refused(api: FakeApiServer, client: Client) -> None:
    informer = Informer(client, PODS)
    async with running(informer):
        with pytest.raises(RuntimeError, match="already running"):
            await informer.run()


async def test_mutation_of_a_cached_object_fails_loudly(
    api: FakeApiServer, client: Client
) -> None:
    api.create("pods", new_pod("p", app="a"))
    informer = Informer(client, PODS)
    assert informer.lister.mutation_detector
    async with running(informer):
        obj = informer.lister.get("p", "default")
        assert obj is not None
        obj.labels["app"] = "mutated"  # what a reader must never do
        with pytest.raises(Exception, match="default/p"):
            informer.lister.verify()


async def test_batches_reach_the_store_before_the_handlers(
    api: FakeApiServer, client: Client
) -> None:
    informer = Informer(client, PODS)
    seen_in_store: list[bool] = []

    def on_add(obj: Object, is_initial: bool) -> None:
        # by the time a handler hears of a change, its whole batch is in the cache
        seen_in_store.append(informer.lister.by_key(obj.key) is not None)

    reg = informer.add_handler(FunctionHandler(on_add=on_add))
    async with running(informer):
        api.faults.stall()
        for i in range(30):
            api.create("pods", new_pod(f"p{i}"))
        api.faults.unstall()  # the queued events go out in one write
        await caught_up(api, informer, reg)
        assert len(seen_in_store) == 30 and all(seen_in_store)
        assert informer.stats.batches < informer.stats.events  # events came in batches
        assert informer.stats.deltas == 30
