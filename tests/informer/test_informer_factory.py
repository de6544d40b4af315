"""Shared informers: one per watch however many ask, all run together."""

from __future__ import annotations

import anyio
import pytest
from informer_helpers import CONFIGMAPS, PODS, Recorder, caught_up, new_pod

from kcs.cache import field_index_name
from kcs.client import Client
from kcs.core import builtin
from kcs.informer import InformerFactory
from kcs.testing import FakeApiServer

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
    meta = factory.informer(PODS, metadata_only=True)
    assert meta is not a and meta.metadata_only
    # cluster-scoped: the namespace does not matter
    assert factory.informer(builtin("nodes"), "x") is factory.informer(builtin("nodes"))
    assert factory.informers == [a, labelled, in_ns, meta, factory.informer(builtin("nodes"))]


async def test_index_options_merge_into_the_shared_informer(client: Client) -> None:
    factory = InformerFactory(client)
    first = factory.informer(PODS)
    second = factory.informer(PODS, field_indexes=["spec.nodeName"],
                              indexes={"by-name": lambda o: [o.name]})
    assert second is first
    assert field_index_name("spec.nodeName") in first.store.index_names()
    assert "by-name" in first.store.index_names()
    with pytest.raises(ValueError, match="owner_index"):
        factory.informer(PODS, owner_index=True)
    owned = InformerFactory(client, owner_index=True).informer(PODS)
    assert "owner" in owned.store.index_names()


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
        assert await factory.wait_synced(5)
        assert pods.has_synced
        assert await reg.wait_synced(5) and "default/p" in rec.state
        cms = factory.informer(CONFIGMAPS)  # requested while the factory runs
        assert not cms.has_synced
        assert await factory.wait_synced(5)
        assert cms.lister.get("c", "default") is not None
        assert factory.informer(CONFIGMAPS) is cms
        with pytest.raises(RuntimeError, match="already running"):
            await factory.run()
        await caught_up(api, cms)
        tg.cancel_scope.cancel()
    assert not pods.running and not cms.running


async def test_wait_synced_times_out_when_nothing_runs(client: Client) -> None:
    factory = InformerFactory(client)
    assert await factory.wait_synced(0.05)  # nothing requested: trivially synced
    factory.informer(PODS)
    assert not await factory.wait_synced(0.05)
