"""Consistent reads and read-your-writes, against the fake apiserver over HTTP."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import anyio
import pytest
from informer_helpers import CONFIGMAPS, PODS, caught_up, new_pod, running

from kcs.client import Client, RequestRecord
from kcs.core import builtin
from kcs.informer import CacheNotFresh, ConsistentReader, Informer
from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

NAMESPACES = builtin("namespaces")


class Verbs:
    """Counts the client's calls by verb (a RequestObserver)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def request_done(self, record: RequestRecord) -> None:
        self.counts[record.verb] += 1


@pytest.fixture
async def counted(api: FakeApiServer) -> AsyncIterator[tuple[Client, Verbs]]:
    verbs = Verbs()
    async with Client.from_url(api.url, qps=None, observer=verbs) as c:
        yield c, verbs


async def test_read_your_writes(api: FakeApiServer, client: Client) -> None:
    informer = Informer(client, PODS)
    async with running(informer):
        created = await client.create(PODS, new_pod("p", app="v1"))
        assert await informer.wait_for(created["metadata"]["resourceVersion"], 5)
        got = informer.lister.get("p", "default")
        assert got is not None and got.resource_version == created["metadata"]["resourceVersion"]
        patched = await client.patch(PODS, "p", {"metadata": {"labels": {"app": "v2"}}},
                                     "default")
        assert await informer.wait_for(patched["metadata"]["resourceVersion"], 5)
        got = informer.lister.get("p", "default")
        assert got is not None and got.labels == {"app": "v2"}
        # a resourceVersion the server has not reached yet is not reached by the cache
        assert not await informer.wait_for(str(api.revision + 1000), 0.2)


async def test_consistent_get_sees_a_write_made_just_before_from_the_cache(
    api: FakeApiServer, counted: tuple[Client, Verbs]
) -> None:
    client, verbs = counted
    informer = Informer(client, PODS)
    reader = ConsistentReader(informer)
    async with running(informer):
        for i in range(5):
            await client.create(PODS, new_pod(f"p{i}", app=f"v{i}"))
            # no wait: the read itself catches up; "error" proves the answer is the cache's
            got = await reader.get(PODS, f"p{i}", "default", fallback="error")
            assert got is not None and got.labels == {"app": f"v{i}"}
        await client.delete(PODS, "p0", "default")
        assert await reader.get(PODS, "p0", "default", fallback="error") is None
        listed = await reader.list(PODS, "default", label_selector={"app": "v3"},
                                   fallback="error")
        assert [o.name for o in listed] == ["p3"]
    assert verbs.counts["get"] == 0  # never read live
    assert verbs.counts["list"] >= 7  # one quorum list (limit=1) per consistent read


async def test_timeout_falls_back_to_a_live_read(
    api: FakeApiServer, counted: tuple[Client, Verbs]
) -> None:
    client, verbs = counted
    api.create("pods", new_pod("p", app="old"))
    informer = Informer(client, PODS)
    reader = ConsistentReader(informer)
    async with running(informer):
        api.faults.stall()  # the watch delivers nothing: the cache cannot catch up
        api.patch("pods", "p", {"metadata": {"labels": {"app": "new"}}}, namespace="default")
        api.create("pods", new_pod("q", app="new"))
        cached = informer.lister.get("p", "default")
        assert cached is not None and cached.labels == {"app": "old"}

        # The get's probe (a quorum LIST of the name) is the live answer: no wait, no GET.
        with anyio.fail_after(3):
            live = await reader.get(PODS, "p", "default", timeout=0.3)
        assert live is not None and live.labels == {"app": "new"}
        assert live is not informer.lister.get("p", "default")
        assert verbs.counts["get"] == 0
        assert await reader.get(PODS, "nope", "default", timeout=0.1) is None

        listed = await reader.list(PODS, label_selector="app=new", timeout=0.3)
        assert sorted(o.name for o in listed) == ["p", "q"]
        assert informer.lister.list(label_selector="app=new") == []  # the cache is behind

        api.faults.unstall()
        await caught_up(api, informer)
        got = await reader.get(PODS, "p", "default", fallback="error")
        assert got is not None and got.labels == {"app": "new"}


async def test_timeout_raises_when_asked_to(api: FakeApiServer, client: Client) -> None:
    informer = Informer(client, PODS)
    reader = ConsistentReader(informer)
    async with running(informer):
        api.faults.stall()
        api.create("pods", new_pod("p"))
        with pytest.raises(CacheNotFresh) as err:
            await reader.get(PODS, "p", "default", timeout=0.2, fallback="error")
        assert err.value.wanted == str(api.revision)
        assert err.value.reached == informer.resource_version != err.value.wanted
        assert isinstance(err.value, TimeoutError) and "0.2s" in str(err.value)
        with pytest.raises(CacheNotFresh):
            await reader.list(PODS, timeout=0.2, fallback="error")


async def test_a_read_before_the_first_sync_waits_or_falls_back(
    api: FakeApiServer, client: Client
) -> None:
    api.create("pods", new_pod("p"))
    informer = Informer(client, PODS)  # not running
    reader = ConsistentReader(informer)
    with pytest.raises(CacheNotFresh) as err:
        await reader.get(PODS, "p", "default", timeout=0.1, fallback="error")
    assert err.value.reached == ""
    live = await reader.get(PODS, "p", "default", timeout=0.1)
    assert live is not None and live.name == "p"
    async with anyio.create_task_group() as tg:
        tg.start_soon(informer.run)  # the read below waits for the sync
        got = await reader.get(PODS, "p", "default", timeout=5, fallback="error")
        assert got is not None and informer.has_synced
        tg.cancel_scope.cancel()


async def test_a_quiet_list_catches_up_through_a_bookmark(
    api: FakeApiServer, client: Client
) -> None:
    # NEEDS BOOKMARKS FASTER THAN KUBE'S: kube-apiserver sends one about every 60 s; this
    # test shortens the period to 0.2 s (the semantics stay faithful: the bookmark carries
    # the pods' own watch-cache revision). The real-timing behaviour is the next test.
    api.bookmark_frequency = 0.2
    api.create("pods", new_pod("p"))
    informer = Informer(client, PODS)
    reader = ConsistentReader(informer)
    async with running(informer):
        await caught_up(api, informer)
        # a write elsewhere moves the server's revision past every pod event
        api.create("configmaps", {"metadata": {"name": "cm", "namespace": "default"}})
        assert int(informer.resource_version) < api.revision
        started = anyio.current_time()
        # the list's quorum probe (limit=1) brings the pods' watch cache up to date, and
        # the next bookmark of the informer's watch carries that revision
        listed = await reader.list(PODS, timeout=5, fallback="error")
        assert [o.name for o in listed] == ["p"]
        assert int(informer.resource_version) >= api.revision  # a bookmark got it there
        assert anyio.current_time() - started < 2  # within a few bookmark intervals (0.2 s)


async def test_a_quiet_get_answers_from_the_cache_without_waiting_for_a_bookmark(
    api: FakeApiServer, counted: tuple[Client, Verbs]
) -> None:
    # kube-apiserver's real timing (the fake's default): after writes elsewhere, nothing
    # brings a quiet cache to the server's revision before the next bookmark, which may be
    # up to a minute away (measured on kube-apiserver 1.36: waits of ~45 s). A get does not
    # need it: its probe returns the object's version at that revision, and the cache holds
    # that very version.
    client, verbs = counted
    api.create("pods", new_pod("p"))
    informer = Informer(client, PODS)
    reader = ConsistentReader(informer)
    async with running(informer):
        await caught_up(api, informer)
        api.create("configmaps", {"metadata": {"name": "cm", "namespace": "default"}})
        started = anyio.current_time()
        got = await reader.get(PODS, "p", "default", timeout=5, fallback="error")
        assert got is informer.lister.get("p", "default")  # the cached instance itself
        assert await reader.get(PODS, "gone", "default", fallback="error") is None
        assert anyio.current_time() - started < 1  # not a bookmark interval
        assert verbs.counts["get"] == 0
        assert int(informer.resource_version) < api.revision  # still no bookmark
        # A list needs the cache at the server's revision: with "error" it times out...
        with pytest.raises(CacheNotFresh):
            await reader.list(PODS, timeout=0.3, fallback="error")
        # ... and by default lists live after a short wait for the watch (live_after).
        lists = verbs.counts["list"]
        started = anyio.current_time()
        listed = await reader.list(PODS)
        assert [o.name for o in listed] == ["p"]
        assert anyio.current_time() - started < 2
        assert verbs.counts["list"] == lists + 2  # the probe, then one live page


async def test_concurrent_gets_share_one_probe(
    api: FakeApiServer, counted: tuple[Client, Verbs]
) -> None:
    client, verbs = counted
    api.create("pods", new_pod("p"))
    informer = Informer(client, PODS)
    reader = ConsistentReader(informer)
    async with running(informer):
        await caught_up(api, informer)
        before = verbs.counts["list"]
        got: list[object] = []

        async def read() -> None:
            got.append(await reader.get(PODS, "p", "default", fallback="error"))

        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(read)
        assert len(got) == 8 and all(g is informer.lister.get("p", "default") for g in got)
        assert verbs.counts["list"] == before + 1  # eight readers, one probe
        # A read that starts after a probe was sent never uses it: a write made before
        # the read is seen.
        await client.patch(PODS, "p", {"metadata": {"labels": {"app": "later"}}}, "default")
        fresh = await reader.get(PODS, "p", "default")
        assert fresh is not None and fresh.labels == {"app": "later"}


async def test_reads_respect_the_informer_scope(api: FakeApiServer, client: Client) -> None:
    api.create("pods", new_pod("in", "default", app="yes"))
    api.create("pods", new_pod("out", "default", app="no"))
    informer = Informer(client, PODS, "default", label_selector={"app": "yes"})
    reader = ConsistentReader(informer)
    async with running(informer):
        assert await reader.get(PODS, "out", fallback="error") is None
        got = await reader.get(PODS, "in", fallback="error")
        assert got is not None
        with pytest.raises(LookupError, match="no informer of pods covers namespace other"):
            await reader.get(PODS, "in", "other")
        api.faults.stall()
        api.create("pods", new_pod("out2", "default", app="no"))
        api.create("pods", new_pod("in2", "default", app="yes"))
        # live answers are limited to the informer's selector too
        assert await reader.get(PODS, "out2", timeout=0.2) is None
        live = await reader.get(PODS, "in2", timeout=0.2)
        assert live is not None and live.name == "in2"
        listed = await reader.list(PODS, timeout=0.2)
        assert sorted(o.name for o in listed) == ["in", "in2"]


async def test_cluster_scoped_and_other_kinds(api: FakeApiServer, client: Client) -> None:
    # As in a cluster, the service-account controller writes the new namespace's `default`
    # ServiceAccount right after it: the revision moves past the namespaces watch, which
    # then catches up through a bookmark (kube's period shortened to 0.2 s, as above).
    api.bookmark_frequency = 0.2
    namespaces = Informer(client, NAMESPACES)
    configmaps = Informer(client, CONFIGMAPS)
    reader = ConsistentReader([namespaces, configmaps])  # routes by resource
    async with running(namespaces), running(configmaps):
        await client.create(NAMESPACES, {"metadata": {"name": "team-a"}})
        got = await reader.get(NAMESPACES, "team-a", fallback="error")
        assert got is not None and got.namespace == ""
        await client.create(CONFIGMAPS, {"metadata": {"name": "c", "namespace": "team-a"},
                                         "data": {"k": "v"}})
        cm = await reader.get(CONFIGMAPS, "c", "team-a", fallback="error")
        assert cm is not None and cm["data"] == {"k": "v"}
        with pytest.raises(ValueError, match="namespaced"):
            await reader.get(CONFIGMAPS, "c")
