"""sync.*: seconds from starting an informer over N existing pods until it has synced.

The fake apiserver runs in another process with the N typical pods seeded.

* ``list``: a paginated list (500 per page, the default), then the watch.
* ``watch_list``: a streaming initial list (``sendInitialEvents=true``).
* ``snapshot``: warmed from a local snapshot written by an earlier informer, then resumed
  by watch from the snapshot's resourceVersion (timed until synced and caught up with the
  server's current resourceVersion).
* ``list_first``: the same paginated list as the first sync of a fresh process (its own),
  as a controller pays it at start: its cache's memory is new to the process, a page
  fault per 4 KB, where the syncs above reuse the memory of the one before.
* ``list_lightkube``: the peer in the same run: lightkube's ``AsyncClient.list(Pod)``
  (pages of 500) into a dict keyed namespace/name, in a process of its own.

Each sync starts after a full garbage collection (not timed), so that none pays for
freeing the cache of the one before it. ``ratio_list_vs_lightkube`` compares the two
lists that each ran in a fresh process: lightkube / list_first.

``ratio_watch_list_vs_list`` is watch_list / list seconds (below 1: streaming is faster);
``ratio_snapshot_vs_list`` is list / snapshot seconds (above 1: the snapshot is faster).
"""

from __future__ import annotations

import gc
import os
import tempfile
import time

import anyio

from benchmarks import _kcs
from benchmarks._harness import Metrics, in_child, median
from benchmarks._pods import CONTROLLERS_OFF, seed_pods, sizes
from kcs.client import Client
from kcs.testing import ApiServerProcess

PAGE = 500


async def _sync(client: Client, current: str, initial_list: str = "list",
                snapshot: str | None = None) -> float:
    # The previous sync's informer (its cache of N objects) is garbage by now; collect it
    # before the clock starts, or the next sync pays for freeing it (measured: up to
    # 0.3 s of a 0.6 s warm start went to a full collection of the round before).
    gc.collect()
    informer = _kcs.sync_informer(client, initial_list, snapshot)
    t0 = time.perf_counter()
    async with anyio.create_task_group() as tg:
        tg.start_soon(informer.run)
        await informer.wait_synced(600)  # raises SyncTimeoutError, naming why, if it cannot
        if not await informer.wait_for(current, 600):
            raise RuntimeError("the informer did not catch up")
        elapsed = time.perf_counter() - t0
        tg.cancel_scope.cancel()
    return elapsed


async def _write_snapshot(client: Client, path: str) -> None:
    informer = _kcs.sync_informer(client)
    async with anyio.create_task_group() as tg:
        tg.start_soon(informer.run)
        await informer.wait_synced(600)
        await _kcs.save_snapshot(informer, path)
        tg.cancel_scope.cancel()


async def _lightkube(url: str, n: int) -> float:
    from lightkube import ALL_NS, AsyncClient
    from lightkube.resources.core_v1 import Pod

    from benchmarks._watchclients import lightkube_config

    client = AsyncClient(config=lightkube_config(url), trust_env=False)
    cache = {}
    t0 = time.perf_counter()
    async for pod in client.list(Pod, namespace=ALL_NS, chunk_size=PAGE):
        cache[f"{pod.metadata.namespace}/{pod.metadata.name}"] = pod
    elapsed = time.perf_counter() - t0
    await client.close()
    if len(cache) != n:
        raise RuntimeError(f"lightkube listed {len(cache)} of {n} pods")
    return elapsed


async def _first_sync(url: str, current: str) -> float:
    async with Client.from_url(url, qps=0) as client:
        return await _sync(client, current, "list")


def first_sync(url: str, current: str) -> Metrics:
    """In a process of its own: seconds for its first informer to list the pods at
    ``url`` and catch up with ``current``."""
    return {"seconds": anyio.run(_first_sync, url, current)}


def lightkube_sync(url: str, n: str) -> Metrics:
    """In a process of its own: seconds for lightkube to list the ``n`` pods at ``url``."""
    return {"seconds": anyio.run(_lightkube, url, int(n))}


async def _main(quick: bool) -> Metrics:
    n, rounds = sizes(quick)
    results: dict[str, list[float]] = {"list": [], "watch_list": [], "snapshot": [],
                                       "list_first": [], "list_lightkube": []}
    with tempfile.TemporaryDirectory(prefix="kcs-bench-") as tmp:
        path = os.path.join(tmp, "pods.snapshot")
        async with ApiServerProcess(disabled_controllers=CONTROLLERS_OFF) as api, \
                Client.from_url(api.url, qps=0) as client:
            await seed_pods(api, n)
            await _write_snapshot(client, path)
            current = str(int((await api.state())["revision"]))
            for _ in range(rounds):
                results["list"].append(await _sync(client, current, "list"))
                results["watch_list"].append(await _sync(client, current, "stream"))
                results["snapshot"].append(await _sync(client, current, snapshot=path))
                first = await anyio.to_thread.run_sync(
                    in_child, "benchmarks.sync", "first_sync", api.url, current)
                results["list_first"].append(first["seconds"])
                peer = await anyio.to_thread.run_sync(
                    in_child, "benchmarks.sync", "lightkube_sync", api.url, str(n))
                results["list_lightkube"].append(peer["seconds"])
    out = {f"sync.seconds.{k}": median(v) for k, v in results.items()}
    out["sync.ratio_snapshot_vs_list"] = out["sync.seconds.list"] / out["sync.seconds.snapshot"]
    out["sync.ratio_watch_list_vs_list"] = (
        out["sync.seconds.watch_list"] / out["sync.seconds.list"]
    )
    out["sync.ratio_list_vs_lightkube"] = (
        out["sync.seconds.list_lightkube"] / out["sync.seconds.list_first"]
    )
    out["sync.objects"] = float(n)
    return out


def run(quick: bool) -> Metrics:
    """Measure informer start-up; returns the ``sync.*`` metrics (see the module doc)."""
    return anyio.run(_main, quick)
