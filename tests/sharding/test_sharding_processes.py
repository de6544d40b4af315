"""Sharding with real replica processes against a fake apiserver process.

Each replica is shard_replica.py (a Manager with ``sharding=``); the proof of exclusive
reconciles is read from the apiserver's write log (see shard_harness.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from benchmarks._shards import Cluster, cluster, overlaps, seed, wait_until_async
from kcs.core import builtin

SECRETS = builtin("secrets")

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

N = 300


async def reconciled_by(c: Cluster, names: list[str], since: float = 0.0) -> dict[str, set[str]]:
    """name -> the shards that finished a reconcile of it that started after ``since``."""
    out: dict[str, set[str]] = {n: set() for n in names}
    for iv in await c.intervals():
        if iv.end is not None and iv.start >= since:
            out.setdefault(iv.key, set()).add(iv.shard)
    return out


async def test_objects_are_spread_over_the_shards_and_reconciled_once_each() -> None:
    async with cluster("--sleep-ms", "2") as c:
        names = await seed(c.api, N)
        for ident in ("a", "b", "c"):
            await c.start(ident)
        owners = await c.settled({"a", "b", "c"})
        counts = Counter(owners.values())
        assert set(counts) == {"a", "b", "c"}
        assert all(n > N / 6 for n in counts.values()), counts
        # Each object is reconciled by the shard it is assigned to, and only by it.
        async def all_reconciled() -> bool:
            done = await reconciled_by(c, names)
            return all(owners[n] in done[n] for n in names)
        await wait_until_async_(c, all_reconciled)
        # Once settled, a change of every object is reconciled by its shard alone.
        since = anyio.current_time()
        await c.api.touch("configmaps", [f"work/{n}" for n in names])

        async def all_reconciled_again() -> bool:
            done = await reconciled_by(c, names, since)
            return all(owners[n] in done[n] for n in names)
        await wait_until_async_(c, all_reconciled_again)
        done = await reconciled_by(c, names, since)
        assert all(done[n] == {owners[n]} for n in names)
        # Each shard caches only its own objects.
        async def caches_match() -> bool:
            stats = {i: r.last("stats") for i, r in c.replicas.items()}
            return all(s is not None and s["cached"] == counts[i] for i, s in stats.items())
        await wait_until_async_(c, caches_match)
        assert overlaps(await c.intervals()) == []


async def wait_until_async_(c: Cluster, check: Callable[[], Awaitable[bool]],
                            within: float = 60) -> None:
    await wait_until_async(check, within, check.__name__, *c.replicas.values())


async def test_join_leave_and_kill_move_only_the_keys_they_must() -> None:
    async with cluster("--sleep-ms", "2") as c:
        names = await seed(c.api, N)
        for ident in ("a", "b", "c"):
            await c.start(ident)
        before = await c.settled({"a", "b", "c"})

        # Join: only keys that go to the newcomer move, about a quarter of them.
        await c.start("d")
        joined = await c.settled({"a", "b", "c", "d"})
        moved = [n for n in names if joined[n] != before[n]]
        assert all(joined[n] == "d" for n in moved)
        assert 0.1 < len(moved) / N <= 1 / 4 + 0.1, len(moved)

        # Graceful leave: d drains, deletes its Lease; only d's keys move, at once.
        c.replicas["d"].terminate()
        with anyio.fail_after(30):
            await c.replicas["d"].exited.wait()
        exit_event = c.replicas["d"].last("exit")
        assert exit_event is not None and exit_event["error"] is None
        left = await c.settled({"a", "b", "c"})
        assert [n for n in names if left[n] != joined[n]] == moved

        # Kill: b's keys go to live shards once its Lease expired, and are reconciled there.
        b_keys = [n for n in names if left[n] == "b"]
        c.replicas["b"].kill()
        killed_at = c.replicas["b"].killed_at
        assert killed_at is not None
        after = await c.settled({"a", "c"})
        assert all(after[n] == left[n] for n in names if left[n] != "b")

        async def b_keys_reconciled() -> bool:
            done = await reconciled_by(c, b_keys, killed_at)
            return all(after[n] in done[n] for n in b_keys)
        await wait_until_async_(c, b_keys_reconciled)
        assert overlaps(await c.intervals()) == []


async def children_follow(c: Cluster, names: list[str]) -> bool:
    """Every ConfigMap has its owned Secret, labelled with the ConfigMap's shard."""
    owners = await c.assignments()
    secrets = {s.metadata.name: s.metadata.labels.get(c.label)
               for s in await c.client.list(SECRETS, "work")}
    return all(n in secrets and secrets[n] == owners[n].get(c.label) for n in names)


async def test_owned_objects_follow_their_owners_shard() -> None:
    async with cluster("--children") as c:
        names = await seed(c.api, 100)
        for ident in ("a", "b"):
            await c.start(ident)
        await c.settled({"a", "b"})

        async def follow() -> bool:
            return await children_follow(c, names)
        await wait_until_async_(c, follow)
        # A join moves owners; their children are relabelled with them.
        await c.start("c")
        await c.settled({"a", "b", "c"})
        await wait_until_async_(c, follow)
        # Each shard caches exactly the children of its own objects.
        owners = await c.settled({"a", "b", "c"})
        assert sum(1 for v in owners.values() if v == "c") > 10
        assert overlaps(await c.intervals()) == []


def lease_writes(writes: list[dict[str, Any]], c: Cluster, identity: str) -> tuple[
        list[float], float]:
    """(commit times of ``identity``'s own creates and updates of its shard Lease, the
    commit time of that Lease's delete)."""
    lease = f"{c.ring}-shard-{identity}"
    own = [w["time"] for w in writes if w["name"] == lease and w["verb"] in ("create", "update")
           and f"shard/{identity}/lease" in w["user_agent"]]
    deleted = next(w["time"] for w in writes if w["name"] == lease and w["verb"] == "delete")
    return own, deleted


async def test_with_crash_detection_a_killed_shards_keys_move_before_its_lease_expires() -> None:
    async with cluster("--sleep-ms", "2", "--crash-detection") as c:
        names = await seed(c.api, N)
        for ident in ("a", "b", "c"):
            await c.start(ident)
        before = await c.settled({"a", "b", "c"})
        victim = next(i for i in ("b", "c") if not (c.replicas[i].last("stats") or {})
                      .get("leader"))  # (a follower: the sharder itself stays up)
        victim_keys = [n for n in names if before[n] == victim]
        c.replicas[victim].kill()
        killed_at = c.replicas[victim].killed_at
        assert killed_at is not None and victim_keys
        live = {"a", "b", "c"} - {victim}
        after = await c.settled(live)
        assert all(after[n] == before[n] for n in names if before[n] != victim)

        async def keys_reconciled() -> bool:
            done = await reconciled_by(c, victim_keys, killed_at)
            return all(after[n] in done[n] for n in victim_keys)
        await wait_until_async_(c, keys_reconciled)
        # The proof came from the liveness endpoint, not from waiting out the Lease: it
        # was deleted before it could have expired, and counted as a crash.
        renewals, deleted = lease_writes(await c.api.writes(), c, victim)
        assert deleted < max(renewals) + c.options.lease_duration, (max(renewals), deleted)

        def counted() -> bool:
            stats = [r.last("stats") for i, r in c.replicas.items() if i in live]
            return any(s is not None and s["sharder"] and s["sharder"]["crashed"] == 1
                       for s in stats)
        await wait_until_async_(c, _async(counted))
        assert overlaps(await c.intervals()) == []


async def test_with_crash_detection_a_shard_whose_fence_closed_is_not_taken_for_a_crash() -> None:
    # b's renewals hang (its Lease client is partitioned): its fence closes after
    # renew_deadline, by itself. Its liveness endpoint must stay open until its Lease
    # could have expired, or the sharder would move its keys at once, cutting the margin
    # that requests already sent have. The renewal is sent a little before it commits.
    send_to_commit = 0.2
    async with cluster("--sleep-ms", "2", "--crash-detection") as c:
        await seed(c.api, 100)
        for ident in ("a", "b"):
            await c.start(ident)
        await c.settled({"a", "b"})
        await c.api.partition(user_agent="shard/b/lease")
        await c.settled({"a"})
        with anyio.fail_after(30):
            await c.replicas["b"].exited.wait()
        exit_event = c.replicas["b"].last("exit")
        assert exit_event is not None and "ShardLost" in str(exit_event["error"])
        renewals, deleted = lease_writes(await c.api.writes(), c, "b")
        assert deleted >= max(renewals) + c.options.lease_duration - send_to_commit, (
            max(renewals), deleted)
        assert overlaps(await c.intervals()) == []


def _async(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def run() -> bool:
        return check()
    run.__name__ = check.__name__
    return run


@pytest.mark.parametrize("crash_detection", [False, True], ids=["lease", "crash-detection"])
async def test_a_paused_shard_is_replaced_and_stops_for_good_when_it_wakes(
        crash_detection: bool) -> None:
    # With crash detection too: a paused process keeps its sockets, so it is never
    # taken for a crashed one; its keys move only once its Lease expired.
    extra = ("--crash-detection",) if crash_detection else ()
    async with cluster("--sleep-ms", "5", *extra) as c:
        names = await seed(c.api, 200)
        for ident in ("a", "b"):
            await c.start(ident)
        before = await c.settled({"a", "b"})
        b = c.replicas["b"]
        b.pause()  # SIGSTOP: b cannot renew, nor notice anything
        paused_at = anyio.current_time()
        try:
            after = await c.settled({"a"})
        finally:
            b.resume()
        assert all(after[n] == "a" for n in names)
        b_keys = {n for n in names if before[n] == "b"}
        assert b_keys
        # Not before b's Lease expired: the sharder deleted it a full lease duration after
        # b's last renewal was committed (it times from when it saw the renewal, which is
        # later still), and moved b's keys only after that delete. (b's last renewal may
        # have been sent just before the pause: expiry counts from it, not from the pause.)
        writes = await c.api.writes()
        renewals, deleted = lease_writes(writes, c, "b")
        moves = [w["time"] for w in writes if w["namespace"] == "work"
                 and w["name"] in b_keys and "shard/b/" not in w["user_agent"]
                 and w["time"] > paused_at]
        assert renewals and moves
        assert deleted - max(renewals) >= c.options.lease_duration, (
            max(renewals), deleted, paused_at)
        assert min(moves) > deleted
        # Woken up, b finds its fence closed: it stops reconciling and exits, never
        # reconciling the keys it lost.
        with anyio.fail_after(30):
            await b.exited.wait()
        exit_event = b.last("exit")
        assert exit_event is not None and "ShardLost" in str(exit_event["error"])
        assert overlaps(await c.intervals()) == []
