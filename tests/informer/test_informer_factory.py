"""Shared informers: one per watch however many ask, all run together."""

from __future__ import annotations

import anyio
import pytest
from informer_helpers import CONFIGMAPS, PODS, Recorder, caught_up, new_pod

from kcs.cache import IndexOptions, StoreOptions, field_index_name
from kcs.client import Client
from kcs.core import Object, builtin
from kcs.informer import InformerConflict, InformerFactory, InformerOptions, SyncTimeoutError
from kcs.testing import FakeApiServer
from kcs.watch import WatchOptions

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]


async def test_same_arguments_give_the_same_informer(client: Client) -> None:
    factory = InformerFactory(client)
    a = factory.informer(PODS)
    assert factory.informer(PODS) is a
    assert factory.informer(PODS, label_selector="") is a
    labelled = factory.informer(PODS, label_selector={"app": "x"})
    assert factory.informer(PODS, label_selector="app=x") is labelled  # same selector, spelled differently
    assert labelled is not a
    in_ns = factory.informer(PODS, "team")
    assert in_ns is not a and in_ns.namespace == "team"
    meta_options = InformerOptions(store=StoreOptions(metadata_only=True))
    meta = factory.informer(PODS, label_selector="tier=db", options=meta_options)
    assert meta is not a and meta.options.store.metadata_only
    assert factory.informer(PODS, label_selector="tier=db", options=meta_options) is meta
    # cluster-scoped: the namespace does not matter
    assert factory.informer(builtin("nodes"), "x") is factory.informer(builtin("nodes"))
    assert factory.informers == [a, labelled, in_ns, meta, factory.informer(builtin("nodes"))]


def drop_status(obj: Object) -> Object:
    return obj


async def test_conflicting_settings_are_an_error_never_a_second_watch(client: Client) -> None:
    factory = InformerFactory(client)
    first = factory.informer(PODS, options=InformerOptions(store=StoreOptions(transform=drop_status)))
    same = factory.informer(PODS, options=InformerOptions(store=StoreOptions(transform=drop_status)))
    assert same is first  # the same function object: equal settings
    with pytest.raises(InformerConflict) as err:
        # Two controllers with their own lambdas used to open two watches silently.
        factory.informer(PODS, options=InformerOptions(store=StoreOptions(transform=lambda o: o)))
    assert "store.transform" in str(err.value) and "pods in all namespaces" in str(err.value)
    assert err.value.differences[0].startswith("store.transform: <function drop_status")
    with pytest.raises(InformerConflict, match=r"store\.metadata_only: False != True"):
        factory.informer(PODS, options=InformerOptions(
            store=StoreOptions(transform=drop_status, metadata_only=True)))
    with pytest.raises(InformerConflict, match=r"watch\.page_size: 500 != 100"):
        factory.informer(PODS, options=InformerOptions(
            watch=WatchOptions(page_size=100), store=StoreOptions(transform=drop_status)))
    with pytest.raises(InformerConflict, match="keep_managed_fields"):
        factory.informer(PODS, options=InformerOptions(
            keep_managed_fields=True, store=StoreOptions(transform=drop_status)))
    assert factory.informers == [first]  # nothing else was opened


async def test_index_options_merge_into_the_shared_informer(client: Client) -> None:
    factory = InformerFactory(client)
    first = factory.informer(PODS, options=InformerOptions(
        store=StoreOptions(indexes=IndexOptions(labels=["app"]))))
    by_name = lambda o: [o.name]  # noqa: E731
    second = factory.informer(PODS, options=InformerOptions(store=StoreOptions(
        indexes=IndexOptions(labels=["tier"], fields=["spec.nodeName"], custom={"by-name": by_name}))))
    assert second is first
    names = first.lister.index_names()
    assert field_index_name("spec.nodeName") in names and "by-name" in names
    assert {"label:app", "label:tier"} <= set(names)
    # Indexes that could not be added later before: the owner index, every label key.
    assert factory.informer(PODS, options=InformerOptions(
        store=StoreOptions(indexes=IndexOptions(owners=True, labels=True)))) is first
    assert "owner" in first.lister.index_names()
    assert first.options.store.indexes.labels is True  # the request above asked for every key
    with pytest.raises(ValueError, match="'by-name' is already defined with another function"):
        factory.informer(PODS, options=InformerOptions(store=StoreOptions(
            indexes=IndexOptions(custom={"by-name": lambda o: []}))))
    owned = InformerFactory(client, options=InformerOptions(store=StoreOptions(indexes=IndexOptions(owners=True)))).informer(PODS)
    assert "owner" in owned.lister.index_names()


async def test_default_namespace(client: Client) -> None:
    factory = InformerFactory(client, default_namespace="team")
    assert factory.informer(PODS).namespace == "team"
    assert factory.informer(PODS, "").namespace is None  # "" asks for all namespaces
    assert factory.informer(builtin("nodes")).namespace is None


async def test_run_starts_every_informer_even_late_ones(
    api: FakeApiServer, client: Client
) -> None:
    api.create("pods", new_pod("p"))
    api.create("configmaps", {"metadata": {"name": "c", "namespace": "default"}})
    factory = InformerFactory(client)
    pods = factory.informer(PODS)
    rec = Recorder()
    reg = pods.add_handler(rec)
    async with anyio.create_task_group() as tg:
        tg.start_soon(factory.run)
        await factory.wait_synced(5)
        assert pods.has_synced
        assert await reg.wait_synced(5) and "default/p" in rec.state
        cms = factory.informer(CONFIGMAPS)  # requested while the factory runs
        assert not cms.has_synced
        await factory.wait_synced(5)
        assert cms.lister.get("c", "default") is not None
        assert factory.informer(CONFIGMAPS) is cms
        with pytest.raises(RuntimeError, match="already running"):
            await factory.run()
        await caught_up(api, cms)
        tg.cancel_scope.cancel()
    assert not pods.running and not cms.running


async def test_wait_synced_raises_naming_what_is_not_synced(client: Client) -> None:
    factory = InformerFactory(client)
    await factory.wait_synced(0.05)  # nothing requested: trivially synced
    assert factory.has_synced and factory.not_synced_reason is None
    factory.informer(PODS)
    factory.informer(CONFIGMAPS, "team")
    with pytest.raises(SyncTimeoutError) as err:
        await factory.wait_synced(0.05)
    assert isinstance(err.value, TimeoutError)
    assert str(err.value).startswith("2 informers did not sync within 0.05s: ")
    assert "pods in all namespaces: not running" in str(err.value)
    assert "configmaps in namespace team: not running" in str(err.value)
    assert [n.resource for n in err.value.not_synced] == [PODS, CONFIGMAPS]
    assert "not running" in (factory.not_synced_reason or "")
