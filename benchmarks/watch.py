"""watch.*: MODIFIED events per second, over HTTP from the fake apiserver in another process.

Before the clock starts, each round writes M modifications into the server's history
(``touch``); every client then watches from the resourceVersion just before them:

* ``kcs``: an :class:`~kcs.informer.Informer` on pods (indexes: namespace, the label
  ``app``, ``spec.nodeName``; one no-op handler), timed until the handler has seen the
  last event. It syncs once before the rounds; each round resumes its watch.
* ``raw``: aiohttp streaming + orjson into a dict keyed namespace/name (the ceiling).
* ``k8s_asyncio``: kubernetes-asyncio ``watch.Watch().stream(list_pod_for_all_namespaces)``
  with its models into a dict; fewer events (it runs at about 1k/s).
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import anyio
import orjson

from benchmarks._harness import Metrics, median
from benchmarks._pods import PODS, SERVER_ARGS, seed_pods, sizes, tiny
from kcs.client import Client
from kcs.core import Object
from kcs.informer import FunctionHandler, Informer
from kcs.testing import ApiServerProcess

K8S_EVENTS = 2_000


class _Kcs:
    """The informer, kept synced between rounds; each round resumes its watch."""

    def __init__(self, client: Client) -> None:
        self.informer = Informer(
            client, PODS, label_index=["app"], field_indexes=["spec.nodeName"],
            history_size=1_000,
        )
        self.target = ""
        self.done = anyio.Event()
        self.informer.add_handler(FunctionHandler(on_update=self._on_update))

    def _on_update(self, old: Object, new: Object) -> None:
        if new.metadata.resource_version == self.target:
            self.done.set()

    async def sync(self) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.informer.run)
            await self.informer.wait_synced(600)
            tg.cancel_scope.cancel()

    async def round(self, events: int, last_rv: str) -> float:
        self.target, self.done = last_rv, anyio.Event()
        t0 = time.perf_counter()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.informer.run)
            await self.done.wait()
            elapsed = time.perf_counter() - t0
            tg.cancel_scope.cancel()
        return events / elapsed


async def _raw(session: aiohttp.ClientSession, url: str, from_rv: int, events: int) -> float:
    cache: dict[str, Any] = {}
    seen = 0
    loads = orjson.loads
    t0 = time.perf_counter()
    params = {"watch": "true", "resourceVersion": str(from_rv),
              "allowWatchBookmarks": "true"}
    async with session.get(f"{url}/api/v1/pods", params=params) as resp:
        resp.raise_for_status()
        rest = b""
        async for chunk in resp.content.iter_any():
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                event = loads(line)
                if event["type"] != "MODIFIED":
                    continue
                meta = event["object"]["metadata"]
                cache[f"{meta['namespace']}/{meta['name']}"] = event["object"]
                seen += 1
            if seen >= events:
                break
    return seen / (time.perf_counter() - t0)


async def _k8s_asyncio(url: str, from_rv: int, events: int) -> float:
    from kubernetes_asyncio import client as k8s
    from kubernetes_asyncio import watch as k8s_watch

    config = k8s.Configuration(host=url)
    cache: dict[str, Any] = {}
    async with k8s.ApiClient(config) as api_client:
        v1 = k8s.CoreV1Api(api_client)
        w = k8s_watch.Watch()
        t0 = time.perf_counter()
        seen = 0
        async with w.stream(v1.list_pod_for_all_namespaces, resource_version=str(from_rv),
                            timeout_seconds=600) as stream:
            async for event in stream:
                if event["type"] != "MODIFIED":
                    continue
                pod = event["object"]
                cache[f"{pod.metadata.namespace}/{pod.metadata.name}"] = pod
                seen += 1
                if seen >= events:
                    break
        rate = seen / (time.perf_counter() - t0)
        w.stop()
    return rate


async def _main(quick: bool) -> Metrics:
    n, rounds = sizes(quick)
    events = n  # one MODIFIED event per cached pod per round
    k8s_events = min(events, 100 if tiny() else K8S_EVENTS)
    results: dict[str, list[float]] = {"kcs": [], "raw": [], "k8s_asyncio": []}
    server_args = [*SERVER_ARGS, "--history-size", str(events + 1_000)]
    async with ApiServerProcess(extra_args=server_args) as api:
        await seed_pods(api, n)
        async with Client.from_url(api.url, qps=0) as client, aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=600)
        ) as session:
            kcs = _Kcs(client)
            await kcs.sync()
            for _ in range(rounds):
                before = int(kcs.informer.resource_version)
                last = await api.touch(PODS)  # every pod once: N MODIFIED events
                assert last - before == events, (before, last, events)
                results["kcs"].append(await kcs.round(events, str(last)))
                results["raw"].append(await _raw(session, api.url, before, events))
                results["k8s_asyncio"].append(await _k8s_asyncio(api.url, before, k8s_events))
    kcs_rate, raw_rate, k8s_rate = (median(results[k]) for k in ("kcs", "raw", "k8s_asyncio"))
    return {
        "watch.events_per_s.kcs": kcs_rate,
        "watch.events_per_s.k8s_asyncio": k8s_rate,
        "watch.events_per_s.raw": raw_rate,
        "watch.ratio_vs_k8s_asyncio": kcs_rate / k8s_rate,
        "watch.ratio_vs_raw": kcs_rate / raw_rate,
        "watch.events": float(events),
        "watch.events_k8s_asyncio": float(k8s_events),
    }


def run(quick: bool) -> Metrics:
    """Measure watch throughput; returns the ``watch.*`` metrics (see the module doc)."""
    return anyio.run(_main, quick)
