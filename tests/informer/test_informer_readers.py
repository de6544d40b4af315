"""The Reader interface over informers: one call shape for the live client, the cache and
the consistent reader; how reads are routed to informers; zero-copy answers; live
fallbacks that look exactly like cached objects."""

from __future__ import annotations

import anyio
import orjson
import pytest
from informer_helpers import CONFIGMAPS, PODS, caught_up, new_pod, running

from kcs.cache import StoreOptions
from kcs.client import Client
from kcs.core import Object, ObjectList, Reader, builtin, encode_object
from kcs.informer import (
    CacheReader,
    ConsistentReader,
    FunctionHandler,
    Informer,
    InformerFactory,
    InformerOptions,
)
from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

NODES = builtin("nodes")


def namespaces(api: FakeApiServer, *names: str) -> None:
    for name in names:
        api.create("namespaces", {"metadata": {"name": name}})


async def summary(reader: Reader, namespace: str) -> tuple[list[str], dict[str, str] | None]:
    """A reconciler's reads, written once against the Reader interface."""
    web = await reader.list(PODS, namespace, label_selector="app=web")
    assert isinstance(web, ObjectList) and all(isinstance(o, Object) for o in web)
    config = await reader.get(CONFIGMAPS, "config", namespace)
    missing = await reader.get(CONFIGMAPS, "missing", namespace)
    assert missing is None
    return sorted(o.name for o in web), None if config is None else config["data"]


async def test_one_reconciler_against_the_client_the_cache_and_the_consistent_reader(
    api: FakeApiServer, client: Client
) -> None:
    # A consistent read of a quiet collection completes through its watch's next bookmark
    # (kube-apiserver: about every 60 s); the test shortens that, faithfully.
    api.bookmark_frequency = 0.2
    namespaces(api, "shop")
    for i in range(4):
        api.create("pods", new_pod(f"web-{i}", "shop", app="web" if i % 2 == 0 else "db"))
    api.create("configmaps", {"metadata": {"name": "config", "namespace": "shop"},
                              "data": {"replicas": "3"}})
    factory = InformerFactory(client)
    factory.informer(PODS)
    factory.informer(CONFIGMAPS)
    cache, consistent = CacheReader(factory), ConsistentReader(factory, fallback="error")
    for reader in (client, cache, consistent):
        assert isinstance(reader, Reader)
    async with anyio.create_task_group() as tg:
        tg.start_soon(factory.run)
        await factory.wait_synced(5)
        expected = (["web-0", "web-2"], {"replicas": "3"})
        assert await summary(client, "shop") == expected
        assert await summary(cache, "shop") == expected
        assert await summary(consistent, "shop") == expected
        # A write, then at once: the consistent reader sees it (from the cache: "error"
        # would raise otherwise); the plain cache may or may not yet.
        await client.create(PODS, new_pod("web-4", "shop", app="web"))
        assert (await summary(consistent, "shop"))[0] == ["web-0", "web-2", "web-4"]
        tg.cancel_scope.cancel()


async def test_cache_reads_are_the_cached_instances(api: FakeApiServer, client: Client) -> None:
    api.create("pods", new_pod("p", app="web"))
    informer = Informer(client, PODS)
    reader = CacheReader(informer)
    async with running(informer):
        got = await reader.get(PODS, "p", "default")
        assert got is not None and got is informer.lister.get("p", "default")
        listed = await reader.list(PODS, label_selector={"app": "web"})
        assert [o is got for o in listed] == [True]
        assert listed.resource_version == informer.resource_version


async def test_a_read_before_the_first_sync_waits_for_it(
    api: FakeApiServer, client: Client
) -> None:
    api.create("pods", new_pod("p"))
    informer = Informer(client, PODS)
    reader = CacheReader(informer)
    async with anyio.create_task_group() as tg:
        tg.start_soon(informer.run)
        with anyio.fail_after(5):
            got = await reader.get(PODS, "p", "default")  # never an empty, unsynced answer
        assert got is not None and informer.has_synced
        tg.cancel_scope.cancel()


async def test_no_informer_for_the_resource_is_a_lookup_error_naming_what_there_is(
    client: Client,
) -> None:
    factory = InformerFactory(client)
    factory.informer(PODS, "team")
    reader = CacheReader(factory)
    with pytest.raises(LookupError) as err:
        await reader.get(CONFIGMAPS, "c", "team")
    assert str(err.value) == (
        "no informer serves configmaps (v1); the informers of this reader: pods in "
        "namespace team"
    )
    with pytest.raises(LookupError, match="no informer of pods covers namespace other; the "
                                          "informers of pods: pods in namespace team"):
        await reader.get(PODS, "p", "other")
    factory.informer(CONFIGMAPS)  # informers requested later are read too
    assert reader.informer_for(CONFIGMAPS).resource == CONFIGMAPS


async def test_routing_by_namespace(api: FakeApiServer, client: Client) -> None:
    namespaces(api, "team", "other")
    api.create("pods", new_pod("a", "team"))
    api.create("pods", new_pod("b", "other"))
    team = Informer(client, PODS, "team")
    reader = CacheReader(team)
    async with running(team):
        # The only namespace the reader can see is "all namespaces" for it.
        assert [o.key for o in await reader.list(PODS)] == ["team/a"]
        assert (await reader.get(PODS, "a")) is not None  # the informer's own namespace
        with pytest.raises(LookupError, match="covers namespace other"):
            await reader.list(PODS, "other")
        other = Informer(client, PODS, "other")
        both = CacheReader([team, other])
        async with running(other):
            assert [o.key for o in await both.list(PODS, "other")] == ["other/b"]
            with pytest.raises(LookupError, match="covers all namespaces"):
                await both.list(PODS)
            with pytest.raises(ValueError, match="pods is namespaced: give a namespace"):
                await both.get(PODS, "a")
            assert (await CacheReader([team, other], namespace="other").get(PODS, "b")) is not None


async def test_routing_by_selector_and_cluster_scope(api: FakeApiServer, client: Client) -> None:
    api.create("pods", new_pod("w", app="web", tier="front"))
    api.create("pods", new_pod("d", app="db", tier="back"))
    api.create("nodes", {"metadata": {"name": "n1"}})
    web = Informer(client, PODS, label_selector="app=web")
    front = Informer(client, PODS, label_selector="tier=front")
    nodes = Informer(client, NODES)
    reader = CacheReader([web, front, nodes])
    async with running(web), running(front), running(nodes):
        # The informer whose selectors are all among the read's own answers exactly.
        assert reader.informer_for(PODS, None, "app=web,tier=front") is web
        assert reader.informer_for(PODS, None, "tier=front") is front
        with pytest.raises(LookupError, match="several informers of pods could answer"):
            await reader.list(PODS)
        assert [o.name for o in await reader.list(PODS, label_selector="tier=front")] == ["w"]
        assert (await reader.get(NODES, "n1", "ignored")) is not None  # cluster-scoped
        everything = Informer(client, PODS)
        wide = CacheReader([web, everything])
        async with running(everything):
            # An informer without selectors holds every object: it answers first.
            assert wide.informer_for(PODS, None, "app=web") is everything
            assert sorted(o.name for o in await wide.list(PODS)) == ["d", "w"]
        # One informer with a selector: answers are limited to what it caches.
        assert (await CacheReader(web).get(PODS, "d", "default")) is None


async def test_the_factory_default_namespace_is_the_readers(
    api: FakeApiServer, client: Client
) -> None:
    namespaces(api, "team")
    api.create("pods", new_pod("p", "team"))
    factory = InformerFactory(client, default_namespace="team")
    informer = factory.informer(PODS, "")  # all namespaces
    reader = CacheReader(factory)
    assert reader.namespace == "team"
    async with running(informer):
        assert (await reader.get(PODS, "p")) is not None


def shrink(obj: Object) -> Object:
    """A transform: keep only spec.nodeName."""
    node = obj.get_path("spec.nodeName")
    return Object(obj.api_version, obj.kind, obj.metadata,
                  b'{"spec":' + orjson.dumps({"nodeName": node}) + b"}")


@pytest.mark.parametrize(
    "store",
    [StoreOptions(transform=shrink), StoreOptions(metadata_only=True),
     StoreOptions(transform=shrink, metadata_only=True)],
)
async def test_a_live_answer_looks_exactly_like_the_cached_one(
    api: FakeApiServer, client: Client, store: StoreOptions
) -> None:
    informer = Informer(client, PODS, options=InformerOptions(store=store))
    reader = ConsistentReader(informer, timeout=0.3)
    async with running(informer):
        api.faults.stall()  # the cache cannot catch up: every read below is live
        api.create("pods", new_pod("q", node="n2", app="x"))
        live = await reader.get(PODS, "q", "default")
        listed = await reader.list(PODS, label_selector="app=x")
        assert live is not None and [o.name for o in listed] == ["q"]
        assert listed.resource_version == str(api.revision)
        api.faults.unstall()
        await caught_up(api, informer)
        cached = informer.lister.get("q", "default")
        assert cached is not None
        assert encode_object(live) == encode_object(cached)
        assert encode_object(listed[0]) == encode_object(cached)


async def test_timeouts_and_fallbacks_per_read(api: FakeApiServer, client: Client) -> None:
    informer = Informer(client, PODS)
    reader = ConsistentReader(informer, timeout=5, fallback="live")
    async with running(informer):
        api.faults.stall()
        api.create("pods", new_pod("p"))
        started = anyio.current_time()
        live = await reader.get(PODS, "p", "default", timeout=0.2)
        assert live is not None and anyio.current_time() - started < 2
        with pytest.raises(TimeoutError):
            await reader.get(PODS, "p", "default", timeout=0.2, fallback="error")
        assert reader.cache.informer_for(PODS) is informer


async def test_readers_get_a_read_only_view_of_the_informers_store(client: Client) -> None:
    informer = Informer(client, PODS)
    assert not hasattr(informer, "store")  # the writable store stays inside
    lister = informer.lister
    for writer in ("apply", "delete", "replace", "relist", "observe_resource_version"):
        assert not hasattr(lister, writer), writer
    registration = informer.add_handler(FunctionHandler())
    for internal in ("push_deltas", "push_initial", "_push_deltas", "run", "_run"):
        assert not hasattr(registration, internal), internal
