"""latency.*: how fresh a kcs informer is under a steady write load.

The fake apiserver (another process) holds N typical pods; a writer re-writes pods at a
steady 1,000 writes/s (batches of 10 every 10 ms through the control channel's
``touch``) for a bounded number of seconds, starting once the informer has synced and
its handler has been given every initial object (the steady state; a handler still
working through N initial adds would delay the first writes' calls behind them).

* ``watch_ms``: from just before a batch is sent to the apiserver until the informer's
  handler is called with that write (p50, p99). The send time includes the control
  request, so the figures are an upper bound.
* ``consistent_read_ms``: :meth:`ConsistentReader.get` (current resourceVersion,
  wait, answer from the cache) while the writes go on (p50, p99), alternating with
  ``live_get_ms``: a plain GET of the same object.
* ``consistent_quiet_ms``: a consistent get of a ConfigMap (a collection that receives no
  writes) while the pods are written at the same rate: ``CONSISTENT_READERS`` readers,
  each reading again as soon as it has its answer, with the default timeout and
  fallback; beside them, plain GETs of the same ConfigMaps (``live_quiet_ms``) for
  ``consistent_quiet_vs_live_p50`` / ``_p99``. The server's current resourceVersion moves
  with the pods' writes; the fake apiserver's bookmarks carry the resource's own revision
  (as kube-apiserver's watch cache does), so nothing brings the quiet cache up to it, and
  until consistent reads stop waiting for that, this shows the cost of the wait.
"""

from __future__ import annotations

import time

import anyio

from benchmarks import _kcs
from benchmarks._harness import Metrics
from benchmarks._pods import CONTROLLERS_OFF, PODS, percentile, seed_pods, sizes, tiny
from kcs.client import Client
from kcs.core import Object, builtin
from kcs.informer import Informer
from kcs.testing import ApiServerProcess

RATE = 1_000  # writes per second
BATCH = 10  # writes per tick
CONFIGMAPS = builtin("configmaps")
QUIET_OBJECTS = 100
CONSISTENT_READERS = 10
CONSISTENT_TIMEOUT = 5.0  # the default of ConsistentReader


async def _writer(api: ApiServerProcess, keys: list[str], seconds: float,
                  sent: list[tuple[int, float]]) -> None:
    """Touch ``BATCH`` keys every ``BATCH / RATE`` seconds; record (revision, sent at)."""
    tick = BATCH / RATE
    start = anyio.current_time()
    i = 0
    while (now := anyio.current_time()) - start < seconds:
        batch = [keys[(i * BATCH + j) % len(keys)] for j in range(BATCH)]
        t = time.perf_counter()
        revision = await api.touch(PODS, batch)
        sent.append((revision, t))
        i += 1
        await anyio.sleep(max(0.0, start + i * tick - anyio.current_time()))
    del now


def _latencies(sent: list[tuple[int, float]], seen: dict[int, float]) -> list[float]:
    out = []
    for revision, t in sent:
        for rv in range(revision - BATCH + 1, revision + 1):
            if rv in seen:
                out.append((seen[rv] - t) * 1000)
    return out


async def _main(quick: bool) -> Metrics:
    n, _ = sizes(quick)
    seconds = 1.0 if tiny() else (5.0 if quick else 15.0)
    seen: dict[int, float] = {}

    def on_update(old: Object, new: Object) -> None:
        seen[int(_kcs.resource_version_of(new))] = time.perf_counter()

    async with ApiServerProcess(disabled_controllers=CONTROLLERS_OFF) as api, Client.from_url(api.url, qps=0) as client:
        await seed_pods(api, n)
        await api.seed(CONFIGMAPS, [
            {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": f"quiet-{i}", "namespace": "default"},
             "data": {"value": str(i)}} for i in range(QUIET_OBJECTS)])
        informer = _kcs.latency_informer(client, PODS, on_update)
        async with anyio.create_task_group() as tg:
            tg.start_soon(informer.run)
            await informer.wait_synced(600)
            # steady state: the handler has had its initial adds before the writes start
            await _kcs.wait_handlers_synced(informer, 60)
            keys = sorted(_kcs.cached_keys(informer))
            # 1. watch latency: writes only
            sent: list[tuple[int, float]] = []
            await _writer(api, keys, seconds, sent)
            await anyio.sleep(0.5)  # the last handler calls (bounded wait, no event to await)
            watch = _latencies(sent, seen)
            # 2. reads on a busy cache: consistent reads vs live GETs, alternating
            consistent: list[float] = []
            live: list[float] = []
            writes: list[tuple[int, float]] = []

            async def reader() -> None:
                i = 0
                while not done.is_set():
                    ns, name = keys[(i * 7919) % len(keys)].split("/")
                    t0 = time.perf_counter()
                    obj = await _kcs.consistent_get(informer, name, ns)
                    consistent.append((time.perf_counter() - t0) * 1000)
                    assert obj is not None
                    t0 = time.perf_counter()
                    await client.get(PODS, name, ns)
                    live.append((time.perf_counter() - t0) * 1000)
                    i += 1

            done = anyio.Event()
            async with anyio.create_task_group() as readers:
                readers.start_soon(reader)
                await _writer(api, keys, seconds, writes)
                done.set()
            # 3. consistent reads of a quiet collection while the pods are written
            quiet_seconds = (0.5 if tiny() else CONSISTENT_TIMEOUT) + 1.5
            quiet, quiet_live = await _quiet_reads(
                client, api, keys, quiet_seconds, 0.5 if tiny() else CONSISTENT_TIMEOUT)
            tg.cancel_scope.cancel()
    return {
        "latency.watch_ms.p50": percentile(watch, 0.50),
        "latency.watch_ms.p99": percentile(watch, 0.99),
        "latency.watch_samples": float(len(watch)),
        "latency.watch_writes": float(len(sent) * BATCH),
        "latency.consistent_read_ms.p50": percentile(consistent, 0.50),
        "latency.consistent_read_ms.p99": percentile(consistent, 0.99),
        "latency.live_get_ms.p50": percentile(live, 0.50),
        "latency.live_get_ms.p99": percentile(live, 0.99),
        "latency.consistent_vs_live_p50": percentile(consistent, 0.5) / percentile(live, 0.5),
        "latency.write_rate_per_s": len(sent) * BATCH / seconds,
        "latency.consistent_quiet_ms.p50": percentile(quiet, 0.50),
        "latency.consistent_quiet_ms.p99": percentile(quiet, 0.99),
        "latency.consistent_quiet_samples": float(len(quiet)),
        "latency.live_quiet_ms.p50": percentile(quiet_live, 0.50),
        "latency.live_quiet_ms.p99": percentile(quiet_live, 0.99),
        "latency.consistent_quiet_vs_live_p50": (
            percentile(quiet, 0.50) / percentile(quiet_live, 0.50)),
        "latency.consistent_quiet_vs_live_p99": (
            percentile(quiet, 0.99) / percentile(quiet_live, 0.99)),
    }


async def _quiet_reads(client: Client, api: ApiServerProcess, pod_keys: list[str],
                       seconds: float, read_timeout: float) -> tuple[list[float], list[float]]:
    """Consistent gets (and live GETs) of ConfigMaps while the pods are written."""
    informer: Informer = _kcs.latency_informer(client, CONFIGMAPS)
    consistent: list[float] = []
    live: list[float] = []
    done = anyio.Event()

    async def consistent_reader(k: int) -> None:
        i = 0
        while not done.is_set():
            name = f"quiet-{(k + i * CONSISTENT_READERS) % QUIET_OBJECTS}"
            t0 = time.perf_counter()
            obj = await _kcs.consistent_get(informer, name, "default", read_timeout)
            consistent.append((time.perf_counter() - t0) * 1000)
            assert obj is not None
            i += 1

    async def live_reader() -> None:
        i = 0
        while not done.is_set():
            t0 = time.perf_counter()
            await client.get(CONFIGMAPS, f"quiet-{i % QUIET_OBJECTS}", "default")
            live.append((time.perf_counter() - t0) * 1000)
            i += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(informer.run)
        await informer.wait_synced(60)
        async with anyio.create_task_group() as readers:
            for k in range(CONSISTENT_READERS):
                readers.start_soon(consistent_reader, k)
            readers.start_soon(live_reader)
            await _writer(api, pod_keys, seconds, [])
            done.set()
        tg.cancel_scope.cancel()
    return consistent, live


def run(quick: bool) -> Metrics:
    """Measure watch and read latency under load; returns the ``latency.*`` metrics."""
    return anyio.run(_main, quick)
