"""sync.*: seconds from starting an informer over N existing pods until it has synced.

The fake apiserver runs in another process with the N typical pods seeded.

* ``list``: a paginated list (500 per page, the default), then the watch.
* ``watch_list``: a streaming initial list (``sendInitialEvents=true``).
* ``snapshot``: warmed from a local snapshot written by an earlier informer, then resumed
  by watch from the snapshot's resourceVersion (timed until synced and caught up with the
  server's current resourceVersion).
"""

from __future__ import annotations

import os
import tempfile
import time

import anyio

from benchmarks._harness import Metrics, median
from benchmarks._pods import PODS, seed_pods, sizes
from kcs.client import Client
from kcs.informer import Informer
from kcs.testing import ApiServerProcess


async def _sync(client: Client, current: str, **options: object) -> float:
    informer = Informer(client, PODS, field_indexes=["spec.nodeName"], **options)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    async with anyio.create_task_group() as tg:
        tg.start_soon(informer.run)
        if not await informer.wait_synced(600) or not await informer.wait_for(current, 600):
            raise RuntimeError("the informer did not sync")
        elapsed = time.perf_counter() - t0
        tg.cancel_scope.cancel()
    return elapsed


async def _write_snapshot(client: Client, path: str) -> None:
    informer = Informer(client, PODS, field_indexes=["spec.nodeName"])
    async with anyio.create_task_group() as tg:
        tg.start_soon(informer.run)
        await informer.wait_synced(600)
        await informer.save_snapshot(path)
        tg.cancel_scope.cancel()


async def _main(quick: bool) -> Metrics:
    n, rounds = sizes(quick)
    results: dict[str, list[float]] = {"list": [], "watch_list": [], "snapshot": []}
    with tempfile.TemporaryDirectory(prefix="kcs-bench-") as tmp:
        path = os.path.join(tmp, "pods.snapshot")
        async with ApiServerProcess() as api, Client.from_url(api.url, qps=0) as client:
            await seed_pods(api, n)
            await _write_snapshot(client, path)
            current = str(int((await api.state())["revision"]))
            for _ in range(rounds):
                results["list"].append(await _sync(client, current, initial_list="list"))
                results["watch_list"].append(
                    await _sync(client, current, initial_list="stream"))
                results["snapshot"].append(await _sync(client, current, snapshot=path))
    out = {f"sync.seconds.{k}": median(v) for k, v in results.items()}
    out["sync.ratio_snapshot_vs_list"] = out["sync.seconds.list"] / out["sync.seconds.snapshot"]
    out["sync.ratio_watch_list_vs_list"] = (
        out["sync.seconds.list"] / out["sync.seconds.watch_list"]
    )
    out["sync.objects"] = float(n)
    return out


def run(quick: bool) -> Metrics:
    """Measure informer start-up; returns the ``sync.*`` metrics (see the module doc)."""
    return anyio.run(_main, quick)
