"""Seeded chaos against real shard processes: kill, pause, join, leave, apiserver faults.

Whatever happens, the write log must show no two shards reconciling one key at once, and
once the chaos stops every object must end up assigned to exactly one live shard. (How an
interval is read from the write log, and why a paused shard's unfinished reconcile ends
when its fence could have closed, is in benchmarks/_shards.py; the checker's own cases
are in test_sharding_checker.py.)
"""

from __future__ import annotations

import random

import anyio
import pytest

from benchmarks._shards import cluster, overlaps, seed

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]

N = 200


@pytest.mark.parametrize(("seed_", "crash_detection"), [(1, False), (2, False), (3, True)])
async def test_chaos_never_overlaps_and_settles(seed_: int, crash_detection: bool) -> None:
    rng = random.Random(seed_)
    extra = ("--crash-detection",) if crash_detection else ()
    async with cluster("--sleep-ms", "5", *extra) as c:
        names = await seed(c.api, N)
        next_id = 0

        async def join() -> None:
            nonlocal next_id
            next_id += 1
            await c.start(f"r{next_id}")

        for _ in range(3):
            await join()
        await c.settled(c.live())
        done = anyio.Event()

        async def churn() -> None:
            while not done.is_set():
                await c.api.touch("configmaps", [f"work/{n}" for n in rng.sample(names, 20)])
                await anyio.sleep(0.1)

        log: list[str] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(churn)
            for _ in range(8):
                live = sorted(c.live())
                op = rng.choice(["kill", "pause", "join", "leave", "faults"]
                                if len(live) > 1 else ["join"])
                # (Every shard may have stopped by itself: then the choice is a join.)
                victim = c.replicas[rng.choice(live)] if live else None
                if op == "join" or victim is None:
                    log.append("join")
                    await join()
                elif op == "faults":
                    log.append("faults")
                    await c.api.fail(500, share=0.1, seed=seed_)
                    await anyio.sleep(rng.uniform(0.5, 2.0))
                    await c.api.clear_faults()
                else:
                    log.append(f"{op} {victim.identity}")
                    if op == "kill":
                        victim.kill()
                    elif op == "pause":
                        victim.pause()
                        await anyio.sleep(rng.uniform(0.5, 3.0))
                        victim.resume()
                    else:
                        victim.terminate()
                await anyio.sleep(rng.uniform(0.2, 1.5))
            done.set()
        if not c.live():
            await join()
        # Quiescence: shards whose fence closed (paused, or renewals failed under the
        # faults) exit by themselves meanwhile; the rest must own every object.
        owners = await c.settled()
        assert set(owners.values()) <= c.live(), log
        bad = overlaps(await c.intervals())
        assert bad == [], (log, bad[:5])
