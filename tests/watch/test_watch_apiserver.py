"""The watcher end to end, over HTTP, against the fake apiserver and its fault injection."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from watch_mirror import Mirror, new_pod, server_state
from watch_wire import FAST, FAST_BACKOFF

from kcs.client import NO_RETRY, Client
from kcs.core import builtin
from kcs.testing import FakeApiServer
from kcs.watch import InitialList, Watcher, WatchErrorKind, WatchOptions

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

PODS = builtin("pods")


@pytest.fixture
async def api() -> AsyncIterator[FakeApiServer]:
    async with FakeApiServer() as server:
        yield server


@pytest.fixture
async def client(api: FakeApiServer) -> AsyncIterator[Client]:
    async with Client.from_url(api.url, qps=None) as c:
        yield c


def seed_pods(api: FakeApiServer, n: int, namespaces: int = 3) -> None:
    api.seed("pods", [new_pod(f"p{i}", f"ns{i % namespaces}", app=f"a{i % 2}")
                      for i in range(n)])


async def run_mirror(watcher: Watcher, tg: anyio.abc.TaskGroup) -> Mirror:
    mirror = Mirror(watcher)
    tg.start_soon(mirror.run)
    return mirror


@pytest.mark.parametrize("initial_list", ["list", "stream"])
async def test_initial_list_then_changes(
    api: FakeApiServer, client: Client, initial_list: InitialList
) -> None:
    seed_pods(api, 1200)
    w = Watcher(client, PODS, options=WatchOptions(initial_list=initial_list, page_size=500,
                                              backoff=FAST_BACKOFF))
    async with anyio.create_task_group() as tg, w:
        mirror = await run_mirror(w, tg)
        await mirror.wait_caught_up(api)
        assert len(mirror.state) == 1200
        api.create("pods", new_pod("late", "ns0"))
        api.delete("pods", "p0", "ns0")
        await mirror.wait_caught_up(api)
        # An unscheduled pod goes at once, after the write of its deletionTimestamp.
        assert [c[:2] for c in mirror.changes] == [
            ("Apply", "ns0/late"), ("Apply", "ns0/p0"), ("Delete", "ns0/p0")]
        await w.stop()
    assert not mirror.violations
    assert w.stats.lists == 1 and w.stats.relists == 0
    if initial_list == "list":
        assert w.stats.pages == 3
        assert api.faults.counts.get("drop_watch", 0) == 0
    else:
        assert w.stats.pages == 0


async def test_selectors_and_namespace(api: FakeApiServer, client: Client) -> None:
    seed_pods(api, 60)
    w = Watcher(client, PODS, namespace="ns1", label_selector={"app": "a1"},
                options=FAST)
    async with anyio.create_task_group() as tg, w:
        mirror = await run_mirror(w, tg)
        await mirror.wait_until(lambda: mirror.synced)
        want = {k: v for k, v in server_state(api).items() if k.startswith("ns1/")}
        want = {k: v for k, v in want.items() if int(k.split("/p")[1]) % 2 == 1}
        assert mirror.state == want and want
        await w.stop()


async def test_resume_after_dropped_connections_loses_and_repeats_nothing(
    api: FakeApiServer, client: Client
) -> None:
    seed_pods(api, 20)
    w = Watcher(client, PODS, options=FAST)
    async with anyio.create_task_group() as tg, w:
        mirror = await run_mirror(w, tg)
        await mirror.wait_caught_up(api)
        list_rv = int(mirror.rv)
        api.faults.drop_watches_every(7)
        for round_ in range(6):
            for i in range(10):
                api.patch("pods", f"p{i}", {"metadata": {"labels": {"r": str(round_)}}},
                          namespace=f"ns{i % 3}")
            if round_ % 2:
                api.faults.drop_watches()
        await mirror.wait_caught_up(api)
        await w.stop()
    assert not mirror.violations
    # Exactly the writes after the list, once each, in order.
    written = [int(r.resource_version) for r in api.writes.records
               if r.resource == "pods" and int(r.resource_version) > list_rv]
    assert [int(c[2]) for c in mirror.changes] == written
    assert w.stats.relists == 0 and w.stats.lists == 1
    assert w.stats.reconnects >= 6
    assert api.faults.counts["drop_watch"] >= 6


async def test_410_relists_to_the_right_state(api: FakeApiServer, client: Client) -> None:
    seed_pods(api, 30)
    w = Watcher(client, PODS, options=FAST)
    async with anyio.create_task_group() as tg, w:
        mirror = await run_mirror(w, tg)
        await mirror.wait_caught_up(api)
        await api.wait_for_watchers(1)
        await api.stop()  # the watcher cannot resume while we write and compact
        for i in range(5):
            api.delete("pods", f"p{i}", f"ns{i % 3}")
        api.create("pods", new_pod("fresh", "ns2"))
        api.compact()
        await api.start()
        await mirror.wait_caught_up(api)
        await w.stop()
    assert not mirror.violations
    assert mirror.lists == 2
    assert w.stats.relists == 1 and w.stats.errors.get(WatchErrorKind.GONE, 0) >= 1
    assert "ns0/p0" not in mirror.state and "ns2/fresh" in mirror.state


async def test_compaction_while_watching_does_not_relist(
    api: FakeApiServer, client: Client
) -> None:
    seed_pods(api, 10)
    w = Watcher(client, PODS, options=FAST)
    async with anyio.create_task_group() as tg, w:
        mirror = await run_mirror(w, tg)
        await mirror.wait_caught_up(api)
        api.compact()
        api.create("pods", new_pod("after", "ns0"))
        await mirror.wait_caught_up(api)
        # A reconnect right after compaction resumes from the newest rv, which is kept.
        await api.wait_for_watchers(1)
        assert api.faults.drop_watches() == 1
        api.create("pods", new_pod("after2", "ns0"))
        await mirror.wait_caught_up(api)
        await w.stop()
    assert w.stats.relists == 0
    assert not mirror.violations


@pytest.mark.parametrize("code", [429, 500])
async def test_failures_during_the_list(api: FakeApiServer, code: int) -> None:
    seed_pods(api, 25)
    api.faults.fail(code, verbs="list", times=3, retry_after=0)
    async with Client.from_url(api.url, retry=NO_RETRY, qps=None) as client:
        w = Watcher(client, PODS, options=WatchOptions(page_size=10, backoff=FAST_BACKOFF))
        async with anyio.create_task_group() as tg, w:
            mirror = await run_mirror(w, tg)
            await mirror.wait_caught_up(api)
            await w.stop()
    kind = "throttled" if code == 429 else "api_error"
    assert w.stats.errors == {kind: 3}
    assert api.faults.counts[f"fail_{code}"] == 3
    assert mirror.lists == 1 and not mirror.violations


async def test_client_retries_are_invisible_to_the_watcher(api: FakeApiServer) -> None:
    seed_pods(api, 5)
    api.faults.fail(429, verbs=["list", "watch"], times=2, retry_after=0)
    async with Client.from_url(api.url, qps=None) as client:  # the default retry policy
        w = Watcher(client, PODS, options=FAST)
        async with anyio.create_task_group() as tg, w:
            mirror = await run_mirror(w, tg)
            await mirror.wait_caught_up(api)
            await w.stop()
    assert w.stats.errors == {}
    assert api.faults.counts["fail_429"] == 2


async def test_slow_responses(api: FakeApiServer, client: Client) -> None:
    seed_pods(api, 30)
    api.faults.delay(0.05, verbs=["list", "watch"])
    w = Watcher(client, PODS, options=WatchOptions(page_size=10, backoff=FAST_BACKOFF))
    async with anyio.create_task_group() as tg, w:
        mirror = await run_mirror(w, tg)
        await mirror.wait_caught_up(api)
        api.create("pods", new_pod("x", "ns0"))
        await mirror.wait_caught_up(api)
        await w.stop()
    assert api.faults.counts["delay"] >= 4
    assert not w.stats.errors


async def test_apiserver_restart_resumes_without_relist(
    api: FakeApiServer, client: Client
) -> None:
    seed_pods(api, 10)
    w = Watcher(client, PODS, options=FAST)
    async with anyio.create_task_group() as tg, w:
        mirror = await run_mirror(w, tg)
        await mirror.wait_caught_up(api)
        await api.wait_for_watchers(1)
        await api.restart(downtime=0.1)
        api.create("pods", new_pod("after-restart", "ns1"))
        await mirror.wait_caught_up(api)
        await w.stop()
    assert w.stats.relists == 0 and w.stats.lists == 1
    assert w.stats.reconnects >= 1
    assert not mirror.violations


async def test_stalled_stream_is_abandoned_and_resumed(
    api: FakeApiServer, client: Client
) -> None:
    # faithful bookmarks (the default): a quiet stream gets none, nothing keeps it alive
    seed_pods(api, 3)
    w = Watcher(client, PODS, options=WatchOptions(dead_stream_timeout=0.3, backoff=FAST_BACKOFF))
    async with anyio.create_task_group() as tg, w:
        mirror = await run_mirror(w, tg)
        await mirror.wait_caught_up(api)
        await api.wait_for_watchers(1)
        api.faults.stall()
        api.create("pods", new_pod("while-stalled", "ns0"))
        # Stalled: the watcher gives up on the silent stream and reconnects.
        with anyio.fail_after(5):
            while w.stats.errors.get(WatchErrorKind.DEAD_STREAM, 0) < 1:  # noqa: ASYNC110 (no event)
                await anyio.sleep(0.02)
        api.faults.unstall()
        await mirror.wait_caught_up(api)
        await w.stop()
    assert w.stats.relists == 0
    assert "ns0/while-stalled" in mirror.state


async def test_bookmarks_advance_the_resource_version(
    api: FakeApiServer, client: Client
) -> None:
    # kube-apiserver sends a bookmark about once a minute; shortened (faithful otherwise)
    # so that the test does not wait a minute.
    api.bookmark_frequency = 0.2
    seed_pods(api, 3)
    w = Watcher(client, PODS, options=FAST)
    async with anyio.create_task_group() as tg, w:
        mirror = await run_mirror(w, tg)
        await mirror.wait_caught_up(api)
        before = int(w.resource_version)
        # Writes to another resource move the server's revision, not the pods' watch cache:
        # faithful bookmarks do not carry them...
        for i in range(3):
            api.create("configmaps", {"metadata": {"name": f"cm{i}", "namespace": "ns0"}})
        target = api.revision
        assert not await mirror.wait_until_within(lambda: int(mirror.rv) >= target, 0.6)
        # ... until a consistent read of pods brings the pods' watch cache up to date (an
        # etcd progress notification on kube-apiserver): the next bookmark carries it.
        await client.list(PODS, limit=1)
        await mirror.wait_until(lambda: int(mirror.rv) >= target)
        assert int(w.resource_version) >= target > before
        # ... so a reconnect resumes from there (the configmap events are not replayed).
        await api.wait_for_watchers(1)
        assert api.faults.drop_watches() == 1
        api.create("pods", new_pod("y", "ns0"))
        await mirror.wait_caught_up(api)
        await w.stop()
    assert mirror.bookmarks and w.stats.bookmarks >= 1
    assert not mirror.violations


async def test_warm_start_from_a_snapshot(api: FakeApiServer, client: Client) -> None:
    seed_pods(api, 5)
    snapshot_rv = str(api.revision)
    api.create("pods", new_pod("after-snapshot", "ns0"))
    w = Watcher(client, PODS, resource_version=snapshot_rv, options=FAST)
    async with anyio.create_task_group() as tg, w:
        mirror = Mirror(w)
        mirror.synced = True  # the snapshot is the state
        mirror.state = {k: v for k, v in server_state(api).items() if k != "ns0/after-snapshot"}
        mirror.rv = snapshot_rv
        tg.start_soon(mirror.run)
        await mirror.wait_caught_up(api)
        await w.stop()
    assert w.stats.lists == 0 and w.stats.pages == 0
    assert [c[1] for c in mirror.changes] == ["ns0/after-snapshot"]
