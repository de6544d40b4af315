"""Fault injection does what it says and is counted; the observability hooks tell the truth."""

from __future__ import annotations

import random
import time

import aiohttp
import anyio
import pytest
from apiserver_http import CM, Http, configmap, http, pod, summary

from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

CMS = CM.format(ns="default")


async def test_delay_applies_to_the_chosen_verbs(api: FakeApiServer, client: Http) -> None:
    api.create("configmaps", configmap("d"))
    api.faults.delay(0.3, verbs="get")
    t0 = time.monotonic()
    assert (await client.get(f"{CMS}/d")).status == 200
    slow = time.monotonic() - t0
    t0 = time.monotonic()
    assert (await client.get(CMS)).status == 200
    fast = time.monotonic() - t0
    assert slow >= 0.3 > fast
    assert api.faults.counts["delay"] == 1


async def test_delay_from_a_seeded_distribution(api: FakeApiServer, client: Http) -> None:
    draws: list[float] = []
    rng = random.Random(7)

    def draw() -> float:
        draws.append(rng.uniform(0.0, 0.02))
        return draws[-1]

    api.faults.delay(draw, verbs=["list"])
    for _ in range(3):
        await client.get(CMS)
    expected = random.Random(7)
    assert draws == [expected.uniform(0.0, 0.02) for _ in range(3)]
    assert api.faults.counts["delay"] == 3


async def test_429_with_retry_after(api: FakeApiServer, client: Http) -> None:
    api.faults.fail(429, verbs="list", retry_after=3, times=2)
    r = await client.get(CMS)
    assert r.status == 429 and r.reason == "TooManyRequests"
    assert r.headers["Retry-After"] == "3" and r.body["details"]["retryAfterSeconds"] == 3
    assert (await client.get(CMS)).status == 429
    assert (await client.get(CMS)).status == 200  # times=2 is used up
    assert (await client.post(CMS, configmap("w"))).status == 201  # other verbs unaffected
    assert api.faults.counts["fail_429"] == 2


async def test_seeded_share_of_500s_is_reproducible() -> None:
    outcomes = []
    for _ in range(2):
        async with FakeApiServer() as api, http(api.url) as client:
            api.faults.fail(500, share=0.5, seed=42)
            codes = [(await client.get(CMS)).status for _ in range(20)]
            assert set(codes) == {200, 500}
            assert api.faults.counts["fail_500"] == codes.count(500)
            outcomes.append(codes)
    assert outcomes[0] == outcomes[1]


async def test_drop_watches_cuts_connections(api: FakeApiServer, client: Http) -> None:
    async with client.watch(CMS) as w:
        with anyio.fail_after(5):
            await api.wait_for_watchers(1)
        assert api.faults.drop_watches() == 1
        with pytest.raises(aiohttp.ClientError):
            await w.rest()
    assert api.faults.counts["drop_watch"] == 1
    with anyio.fail_after(5):
        await api.watches.wait_until(lambda hub: hub.count() == 0)


async def test_drop_watches_every_n_events(api: FakeApiServer, client: Http) -> None:
    api.seed("configmaps", [configmap(f"e{i}") for i in range(5)])
    api.faults.drop_watches_every(3)
    async with client.watch(CMS, resourceVersion="0") as w:
        got = await w.take(3)
        with pytest.raises(aiohttp.ClientError):
            await w.rest()
    assert summary(got) == [("ADDED", "e0"), ("ADDED", "e1"), ("ADDED", "e2")]
    assert api.faults.counts["drop_watch"] == 1


async def test_stall_holds_events_until_unstalled(api: FakeApiServer, client: Http) -> None:
    async with client.watch(CMS) as w:
        with anyio.fail_after(5):
            await api.wait_for_watchers(1)
        api.faults.stall()
        api.create("configmaps", configmap("s1"))
        api.create("configmaps", configmap("s2"))
        with anyio.move_on_after(0.3) as scope:
            await w.next()
        assert scope.cancelled_caught  # nothing was delivered while stalled
        api.faults.unstall()
        assert summary(await w.take(2)) == [("ADDED", "s1"), ("ADDED", "s2")]
    assert api.faults.counts["stall"] == 1


async def test_partition_hang_holds_one_client_until_healed(api: FakeApiServer) -> None:
    api.faults.partition(user_agent="victim")
    async with http(api.url, user_agent="victim/1.0") as victim, \
            http(api.url, user_agent="bystander") as other:
        async with anyio.create_task_group() as tg:
            results: list[int] = []

            async def held() -> None:
                results.append((await victim.get(CMS)).status)

            tg.start_soon(held)
            assert (await other.get(CMS)).status == 200
            with anyio.fail_after(5):
                await api.requests.wait_until(lambda log: log.in_flight == 1)
            assert results == [] and api.faults.counts["partition"] == 1
            api.faults.heal()
        assert results == [200]


async def test_partition_close_by_token_cuts_requests_and_watches() -> None:
    async with FakeApiServer() as api, http(api.url, token="t-1") as a, \
            http(api.url, token="t-2") as b:
        async with a.watch(CMS) as w:
            with anyio.fail_after(5):
                await api.wait_for_watchers(1)
            api.faults.partition(token="t-1", mode="close")
            with pytest.raises(aiohttp.ClientError):
                await w.rest()
        with pytest.raises(aiohttp.ClientError):
            await a.get(CMS)
        assert (await b.get(CMS)).status == 200
        assert api.faults.counts["partition"] >= 2  # aiohttp may retry the refused GET once
        api.faults.heal()
        assert (await a.get(CMS)).status == 200


async def test_restart_cuts_connections_and_keeps_state(api: FakeApiServer,
                                                        client: Http) -> None:
    created = api.create("configmaps", configmap("kept"))
    port = api.port
    async with client.watch(CMS) as w:
        with anyio.fail_after(5):
            await api.wait_for_watchers(1)
        await api.restart()
        with pytest.raises(aiohttp.ClientError):
            await w.rest()
    assert api.port == port and api.faults.counts["restart"] == 1
    again = await client.get(f"{CMS}/kept")
    assert again.status == 200 and again.rv == created["metadata"]["resourceVersion"]
    async with client.watch(CMS, resourceVersion=again.rv) as w:
        api.create("configmaps", configmap("after"))
        assert summary(await w.take(1)) == [("ADDED", "after")]


async def test_restart_with_compaction_expires_old_versions(api: FakeApiServer,
                                                            client: Http) -> None:
    old = api.create("configmaps", configmap("o"))["metadata"]["resourceVersion"]
    api.create("configmaps", configmap("p"))
    await api.restart(compact=True)
    async with client.watch(CMS, resourceVersion=old) as w:
        assert summary(await w.rest()) == [("ERROR", "410")]
    assert api.faults.counts["compact"] == 1 and api.faults.counts["restart"] == 1


async def test_clear_removes_faults_but_keeps_counts(api: FakeApiServer, client: Http) -> None:
    api.faults.fail(500)
    assert (await client.get(CMS)).status == 500
    api.faults.delay(5.0)
    api.faults.stall()
    api.faults.drop_watches_every(1)
    api.faults.partition(user_agent="kcs-tests")
    api.faults.clear()
    with anyio.fail_after(2):
        assert (await client.get(CMS)).status == 200
    assert api.faults.counts["fail_500"] == 1


async def test_bearer_token_is_required_and_never_recorded() -> None:
    secret = "s3cr3t-token-value"
    async with FakeApiServer(token=secret) as api:
        async with http(api.url) as anonymous:
            r = await anonymous.get(CMS)
            assert r.status == 401 and r.reason == "Unauthorized"
            assert (await anonymous.post(CMS, configmap("no"))).status == 401
        async with http(api.url, token=secret, user_agent="leader-a") as a:
            assert (await a.post(CMS, configmap("yes"))).status == 201
        assert api.kubeconfig()["users"][0]["user"] == {"token": secret}
        rec = api.writes.records[-1]
        assert rec.user_agent == "leader-a" and rec.token and rec.token != secret
        dumped = repr(api.writes.records) + repr(api.requests.active()) + repr(
            api.requests.cancelled)
        assert secret not in dumped


async def test_write_log_records_every_successful_write(api: FakeApiServer,
                                                        client: Http) -> None:
    await client.post(CMS, configmap("w"))
    await client.patch(f"{CMS}/w", {"data": {"a": "1"}})
    r = await client.put(f"{CMS}/w", (await client.get(f"{CMS}/w")).body | {"data": {}})
    await client.put(f"{CMS}/w", r.body | {"metadata": r.body["metadata"] | {
        "resourceVersion": "1"}})  # a conflict: not a write
    await client.post("/api/v1/namespaces/default/pods", pod("p"))
    await client.patch("/api/v1/namespaces/default/pods/p/status",
                       {"status": {"phase": "Running"}})
    await client.delete(f"{CMS}/w")
    log = api.writes.records
    assert [(x.verb, x.resource, x.name, x.subresource) for x in log] == [
        ("create", "configmaps", "w", ""),
        ("patch", "configmaps", "w", ""),
        ("update", "configmaps", "w", ""),
        ("create", "pods", "p", ""),
        ("patch", "pods", "p", "status"),
        ("delete", "configmaps", "w", ""),
    ]
    rvs = [int(x.resource_version) for x in log]
    assert rvs == sorted(rvs) and rvs[-1] == api.revision
    times = [x.time for x in log]
    assert times == sorted(times) and times[-1] <= time.monotonic()
    assert {x.user_agent for x in log} == {"kcs-tests"}


async def test_abandoned_requests_are_accounted(api: FakeApiServer) -> None:
    api.faults.delay(10.0, verbs="list")
    timeout = aiohttp.ClientTimeout(total=0.2)
    async with aiohttp.ClientSession(timeout=timeout) as s:
        with pytest.raises(TimeoutError):
            async with s.get(api.url + CMS):
                pass
    with anyio.fail_after(5):
        await api.requests.wait_cancelled(1)
        await api.requests.wait_idle()
    rec = api.requests.cancelled[0]
    assert rec.cancelled and rec.verb == "list" and rec.path == CMS
    assert rec.ended is not None and rec.ended - rec.started < 5
    assert api.requests.in_flight == 0


async def test_watch_count_and_waiting(api: FakeApiServer, client: Http) -> None:
    assert api.watches.count() == 0
    async with client.watch(CMS), client.watch("/api/v1/pods"):
        with anyio.fail_after(5):
            await api.wait_for_watchers(2)
            await api.wait_for_watchers(1, "pods")
        assert api.watches.count("configmaps") == 1 and api.watches.count() == 2
