"""sharding.*: one controller over 1, 2 and 4 replica processes (shards).

A fake apiserver in its own process holds N ConfigMaps (4 KB of data each); each replica
is ``benchmarks/_shard_replica.py`` (a Manager with ``sharding=``), its own OS process.
Every configuration gets a ring of its own on the same server.

* ``sharding.memory_ratio_4``: mean RSS growth of a replica from joining (empty cache)
  to settled (its share cached), 4 shards / 1 shard.
* ``sharding.throughput_ratio_2`` (and ``_4``): reconciles/s of a CPU-bound reconcile
  (``WORK_MS`` of CPU each) over M changed objects once settled, 2 (4) shards / 1.
  ``sharding.cpu_ms_per_reconcile_{1,2,4}``: the replicas' CPU per reconcile meanwhile
  (steadier than wall time on a shared machine: equal figures mean sharding added no
  work per reconcile, so throughput scales with the cores the replicas get).
* ``sharding.moved_share_join``: share of objects whose shard label changed when a 4th
  replica joined 3 (ideal: 1/4).
* ``sharding.dead_shard_recovery_s``: one of 4 shards SIGKILLed -> every one of its
  objects reassigned and reconciled by a live shard, with crash detection
  (``Sharding(crash_detection=...)``); ``sharding.dead_shard_recovery_s_lease_only``:
  the same without it (the Lease is waited out). The shard lease is
  ``sharding.lease_duration_s``.
"""

from __future__ import annotations

import os
import statistics
import sys

import anyio

from benchmarks._harness import Metrics
from benchmarks._shards import Cluster, cluster, seed, wait_until
from kcs.testing import ApiServerProcess

LEASE_DURATION_S = 6.0
# Settling 20,000 objects of 4 KB saturates the fake apiserver (one Python process, no
# priority for Lease traffic, unlike kube-apiserver's API Priority and Fairness): a shard's
# renewal can then wait seconds behind the label writes and the watch fan-out, and a
# shard whose renew deadline passes stops for good (ShardLost), as it must. The tests'
# 1.2 s deadline holds at their 300 objects; here 4 s does.
TIMINGS = ("--lease-duration", str(LEASE_DURATION_S), "--renew-deadline", "4",
           "--retry-period", "0.5")
WORK_MS = 10.0
PAYLOAD = 4000


def _sizes(quick: bool) -> tuple[int, int]:
    """(objects, changed objects per throughput round)."""
    if "KCS_BENCH_N" in os.environ:
        n = int(os.environ["KCS_BENCH_N"])
        return n, max(50, n // 2)
    return (2_000, 600) if quick else (20_000, 1_500)


def _reconciles(c: Cluster) -> int:
    total = 0
    for r in c.replicas.values():
        s = r.last("stats")
        total += 0 if s is None else int(s["reconciles"])
    return total


def _alive(c: Cluster) -> None:
    """Fail at once (with its log) if a replica stopped on its own."""
    for r in c.replicas.values():
        if r.exited.is_set() and r.killed_at is None:
            raise RuntimeError(f"replica {r.identity} exited: {r.last('exit')}\n{r.log()}")


def _reconciled(c: Cluster, total: int) -> bool:
    _alive(c)
    return _reconciles(c) >= total


async def _settle(c: Cluster, k: int, n: int, *, together: bool = False) -> None:
    """Start k replicas (``together``: at once, so that the first assignment already
    sees every member and no replica ever caches more than its share) and wait until
    every object is assigned and reconciled."""
    if together:
        async with anyio.create_task_group() as tg:
            for i in range(k):
                tg.start_soon(c.start, f"{c.ring}-{i}")
    else:
        for i in range(k):
            await c.start(f"{c.ring}-{i}")
    await c.settled(c.live(), strict=True)
    await wait_until(lambda: _reconciled(c, n), 300, "the initial reconciles",
                     *c.replicas.values())


async def _memory(api: ApiServerProcess, k: int, n: int) -> float:
    """Mean RSS growth of a replica of k shards from its ready to its settled state."""
    async with cluster("--no-marks", "--stats-every", "0.2", *TIMINGS, api=api, ring=f"mem{k}") as c:
        await _settle(c, k, n, together=True)
        await anyio.sleep(1.0)  # let the last stats lines (RSS after the sync) arrive
        growth = []
        for r in c.replicas.values():
            ready = next(e for e in r.events if e["event"] == "stats")
            last = r.last("stats")
            assert last is not None
            growth.append(last["rss"] - ready["rss"])
        return statistics.mean(growth)


def _cpu(c: Cluster) -> float:
    return sum(float((r.last("stats") or {"cpu": 0.0})["cpu"]) for r in c.replicas.values())


async def _throughput(api: ApiServerProcess, k: int, n: int, m: int, names: list[str],
                      rnd: int) -> tuple[float, float]:
    """Reconciles/s over m changed objects once k shards have settled, and the
    replicas' CPU ms per reconcile meanwhile."""
    args = ("--no-marks", "--work-ms", str(WORK_MS), "--work-on-change-only",
            "--stats-every", "0.05", *TIMINGS)
    async with cluster(*args, api=api, ring=f"tp{k}x{rnd}") as c:
        await _settle(c, k, n)
        await anyio.sleep(0.5)  # quiet: the settling reconciles' stats are in
        base, cpu = _reconciles(c), _cpu(c)
        t0 = anyio.current_time()
        await api.touch("configmaps", [f"work/{x}" for x in names[:m]])
        await wait_until(lambda: _reconciled(c, base + m), 600, "the changed objects",
                         *c.replicas.values())
        elapsed = anyio.current_time() - t0
        return m / elapsed, (_cpu(c) - cpu) * 1000 / m


async def _join(api: ApiServerProcess, n: int) -> float:
    async with cluster("--no-marks", *TIMINGS, api=api, ring="join") as c:
        await _settle(c, 3, n)
        before = await c.settled(c.live(), strict=True)
        await c.start("join-3")
        after = await c.settled(c.live(), strict=True)
        return sum(1 for x in before if before[x] != after[x]) / len(before)


async def _recovery(api: ApiServerProcess, n: int, crash_detection: bool) -> float:
    extra = ("--crash-detection",) if crash_detection else ()
    ring = "crash" if crash_detection else "dead"
    async with cluster("--no-marks", "--stats-every", "0.05", *TIMINGS, *extra, api=api,
                       ring=ring) as c:
        await _settle(c, 4, n)
        owners = await c.settled(c.live(), strict=True)
        victim = c.replicas[f"{ring}-1"]
        lost = sum(1 for v in owners.values() if v == victim.identity)
        await anyio.sleep(0.5)
        before = _reconciles(c) - int((victim.last("stats") or {"reconciles": 0})["reconciles"])
        victim.kill()
        t0 = anyio.current_time()

        def live_reconciles() -> int:
            _alive(c)
            return sum(int((r.last("stats") or {"reconciles": 0})["reconciles"])
                       for r in c.replicas.values() if r is not victim)
        await wait_until(lambda: live_reconciles() >= before + lost, 120,
                         "the dead shard's objects reconciled", *c.replicas.values())
        return anyio.current_time() - t0


def _progress(**figures: float) -> None:
    """Each phase's figures on stderr as soon as it ends (a long run shows its way)."""
    print("[sharding] " + ", ".join(f"{k}={v:.4g}" for k, v in figures.items()),
          file=sys.stderr, flush=True)


async def _main(quick: bool) -> Metrics:
    n, m = _sizes(quick)
    rounds = 1 if "KCS_BENCH_N" in os.environ else 2
    async with ApiServerProcess() as api:
        names = await seed(api, n, payload=PAYLOAD)
        mem1 = await _memory(api, 1, n)
        mem4 = await _memory(api, 4, n)
        _progress(memory_bytes_1=mem1, memory_bytes_4=mem4, memory_ratio_4=mem4 / mem1)
        tp: dict[int, list[float]] = {1: [], 2: [], 4: []}
        cpu: dict[int, list[float]] = {1: [], 2: [], 4: []}
        for rnd in range(rounds):  # alternating rounds, median reported
            for k in (1, 2, 4):
                rate, cpu_ms = await _throughput(api, k, n, m, names, rnd)
                tp[k].append(rate)
                cpu[k].append(cpu_ms)
                _progress(**{f"reconciles_per_s_{k}": rate, f"cpu_ms_per_reconcile_{k}": cpu_ms})
        moved = await _join(api, n)
        _progress(moved_share_join=moved)
        recovery = await _recovery(api, n, crash_detection=True)
        _progress(dead_shard_recovery_s=recovery)
        recovery_lease = await _recovery(api, n, crash_detection=False)
        _progress(dead_shard_recovery_s_lease_only=recovery_lease)
    t = {k: statistics.median(v) for k, v in tp.items()}
    return {
        "sharding.objects": float(n),
        "sharding.memory_bytes_1": mem1,
        "sharding.memory_bytes_4": mem4,
        "sharding.memory_ratio_4": mem4 / mem1,
        "sharding.reconciles_per_s_1": t[1],
        "sharding.reconciles_per_s_2": t[2],
        "sharding.reconciles_per_s_4": t[4],
        "sharding.throughput_ratio_2": t[2] / t[1],
        "sharding.throughput_ratio_4": t[4] / t[1],
        "sharding.cpu_ms_per_reconcile_1": statistics.median(cpu[1]),
        "sharding.cpu_ms_per_reconcile_2": statistics.median(cpu[2]),
        "sharding.cpu_ms_per_reconcile_4": statistics.median(cpu[4]),
        "sharding.moved_share_join": moved,
        "sharding.dead_shard_recovery_s": recovery,
        "sharding.dead_shard_recovery_s_lease_only": recovery_lease,
        "sharding.lease_duration_s": LEASE_DURATION_S,
    }


def run(quick: bool) -> dict[str, float]:
    """The sharding metrics (see the module docstring)."""
    return anyio.run(_main, quick)
