"""Run _shard_replica.py processes against a fake apiserver process and read the results.

The proof of "never reconciled by two shards at once" is read from the fake apiserver's
write log: each reconcile writes the marker ConfigMap ``marks/s.<name>`` at its start and
``marks/e.<name>`` at its end (the end also when the reconcile failed, unless its fence
had closed), so in commit order the writes of one key must never show a start by one
shard while another shard's start has not been followed by its end.

A reconcile whose end never committed was stopped by its shard's fence or by the death
of its process. It could not write after either: its interval ends at the kill or exit
of its process, or at the latest moment its fence could have closed, whichever is first.
That moment is read from the write log too: a shard's fence closes at most
``renew_deadline`` after the send of its last successful shard-Lease renewal, which was
sent before the apiserver committed it. (A process paused in the middle of a reconcile
wakes with its fence closed: it is not counted as reconciling while another shard took
the key over, since it could write nothing more.)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
from anyio.streams.text import TextReceiveStream

from benchmarks._shard_replica import parse_args
from kcs.client import Client
from kcs.core import builtin
from kcs.sharding import HashRing
from kcs.testing import ApiServerProcess, eventually

REPLICA = Path(__file__).with_name("_shard_replica.py")
CONFIGMAPS = builtin("configmaps")
RING = "test"
_UA = re.compile(r"shard/([^/\s]+)/(work|lease)")


@dataclass
class Replica:
    identity: str
    process: anyio.abc.Process
    events: list[dict[str, Any]] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    exited: anyio.Event = field(default_factory=anyio.Event)
    killed_at: float | None = None
    exited_at: float | None = None

    @property
    def stopped_at(self) -> float | None:
        """When the process could last have written: its kill, else its exit."""
        return self.killed_at if self.killed_at is not None else self.exited_at

    def last(self, name: str) -> dict[str, Any] | None:
        for e in reversed(self.events):
            if e["event"] == name:
                event: dict[str, Any] = e
                return event
        return None

    def log(self) -> str:
        return "".join(self.stderr[-60:])

    def kill(self) -> None:
        self.killed_at = anyio.current_time()
        self.process.kill()

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)


class Cluster:
    """The fake apiserver, a client for the test, and the replica processes."""

    def __init__(self, tg: anyio.abc.TaskGroup, api: ApiServerProcess, client: Client,
                 args: Iterable[str], ring: str = RING) -> None:
        self.ring = ring
        self.label = f"shard.kcs.io/{ring}"
        self.drain = f"drain.shard.kcs.io/{ring}"
        self.tg = tg
        self.api = api
        self.client = client
        self.args = list(args)
        self.replicas: dict[str, Replica] = {}

    async def start(self, identity: str, *extra: str, ready: bool = True) -> Replica:
        cmd = [sys.executable, str(REPLICA), "--url", self.api.url, "--identity", identity,
               "--ring", self.ring, *self.args, *extra]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        process = await anyio.open_process(cmd, env=env)
        replica = Replica(identity, process)
        self.replicas[identity] = replica
        self.tg.start_soon(self._stdout, replica)
        self.tg.start_soon(self._stderr, replica)
        if ready:
            await wait_until(lambda: replica.last("ready") is not None, 30,
                             f"{identity} ready", replica)
        return replica

    async def _stdout(self, replica: Replica) -> None:
        assert replica.process.stdout is not None
        buffer = ""
        async for chunk in TextReceiveStream(replica.process.stdout):
            buffer += chunk
            *lines, buffer = buffer.split("\n")
            replica.events.extend(json.loads(line) for line in lines if line.strip())
        await replica.process.wait()
        replica.exited_at = anyio.current_time()
        replica.exited.set()

    async def _stderr(self, replica: Replica) -> None:
        assert replica.process.stderr is not None
        async for chunk in TextReceiveStream(replica.process.stderr):
            replica.stderr.append(chunk)

    def stopped(self) -> dict[str, float]:
        return {i: r.stopped_at for i, r in self.replicas.items() if r.stopped_at is not None}

    @property
    def options(self) -> argparse.Namespace:
        """The options the replicas were started with, parsed as a replica parses them
        (so its defaults and every spelling count): ``lease_duration``,
        ``renew_deadline`` ..."""
        return parse_args(["--url", self.api.url, "--identity", "-", *self.args])

    @property
    def renew_deadline(self) -> float:
        """The shard fences' renew deadline the replicas were started with."""
        return float(self.options.renew_deadline)

    async def intervals(self) -> list[Interval]:
        return reconcile_intervals(await self.api.writes(), self.stopped(),
                                   ring=self.ring, renew_deadline=self.renew_deadline)

    def live(self) -> set[str]:
        return {i for i, r in self.replicas.items() if not r.exited.is_set()}

    async def assignments(self) -> dict[str, dict[str, str]]:
        """name -> labels of every ConfigMap in namespace ``work``."""
        out: dict[str, dict[str, str]] = {}
        token = None
        while True:
            page = await self.client.list(CONFIGMAPS, "work", limit=1000, continue_=token)
            for obj in page:
                out[obj.metadata.name] = dict(obj.metadata.labels)
            token = page.continue_
            if not token:
                return out

    async def settled(self, live: set[str] | None = None, *,
                      strict: bool = False) -> dict[str, str]:
        """name -> shard once every object is assigned to its owner on the ring of
        ``live`` (so to exactly one live shard), with no drain pending. ``live=None``: the
        replicas still running at each check (after chaos, a shard whose fence closed may
        still be on its way out). ``strict``: fail at once if one of ``live`` exits."""
        found: dict[str, str] = {}

        async def check() -> bool:
            nonlocal found
            members = self.live() if live is None else live
            ring = HashRing(members)
            for ident in members if strict else ():
                r = self.replicas[ident]
                if r.exited.is_set():
                    raise RuntimeError(f"{ident} exited: {r.last('exit')}\n{r.log()}")
            # Cheap first: any object unassigned or draining means not yet.
            for pending in (f"!{self.label}", self.drain):
                page = await self.client.list(CONFIGMAPS, "work", label_selector=pending,
                                              limit=1)
                if len(page):
                    return False
            labels = await self.assignments()
            found = {n: v.get(self.label, "") for n, v in labels.items()}
            return all(v.get(self.label) == ring.owner(f"work/{n}") and self.drain not in v
                       for n, v in labels.items())

        # Each check lists every object: poll big sets less often, and wait longer.
        size = len(await self.assignments())
        await wait_until_async(check, 60 + size / 50,
                               f"every object assigned to one of {sorted(live or ['the live'])}",
                               *self.replicas.values(), every=0.05 + size / 10_000)
        return found

    async def stop(self) -> None:
        for r in self.replicas.values():
            if r.process.returncode is None:
                r.resume()
                r.process.kill()
        with anyio.move_on_after(10, shield=True):
            for r in self.replicas.values():
                await r.process.wait()


async def seed(api: ApiServerProcess, n: int, *, prefix: str = "cm",
               payload: int = 0) -> list[str]:
    """Namespaces ``work`` and ``marks``, ``n`` ConfigMaps (with ``payload`` bytes of
    data each) and their markers; seeded in batches (the control channel takes < 1 MB)."""
    await api.seed("namespaces", [{"metadata": {"name": "work"}}, {"metadata": {"name": "marks"}}])
    names = [f"{prefix}-{i:05d}" for i in range(n)]
    batch = max(1, min(1000, 500_000 // (payload + 200)))
    for start in range(0, n, batch):
        await api.seed("configmaps", [
            {"metadata": {"name": name, "namespace": "work"},
             "data": {"i": str(start + i), "payload": "x" * payload}}
            for i, name in enumerate(names[start:start + batch])])
        await api.seed("configmaps", [
            {"metadata": {"name": f"{p}.{name}", "namespace": "marks"}, "data": {}}
            for name in names[start:start + batch] for p in ("s", "e")])
    return names


@asynccontextmanager
async def cluster(*args: str, api: ApiServerProcess | None = None, ring: str = RING,
                  **api_options: Any) -> AsyncIterator[Cluster]:
    """Replicas of ``ring`` (started with ``args``) against ``api`` or a new fake
    apiserver process (``api_options``); every replica is killed on exit."""
    if api is None:
        async with ApiServerProcess(**api_options) as own, cluster(*args, api=own,
                                                                   ring=ring) as c:
            yield c
        return
    client = Client.from_url(api.url, user_agent_suffix="test", qps=None)
    try:
        async with anyio.create_task_group() as tg:
            c = Cluster(tg, api, client, args, ring)
            try:
                yield c
            finally:
                await c.stop()
                tg.cancel_scope.cancel()
    finally:
        await client.close()


async def wait_until(check: Callable[[], bool], within: float, what: str,
                     *replicas: Replica) -> None:
    """:func:`wait_until_async` for a plain function."""
    await wait_until_async(check, within, what, *replicas)


async def wait_until_async(check: Callable[[], Any], within: float, what: str,
                           *replicas: Replica, every: float = 0.05) -> None:
    """Poll ``check`` (another process's state: no event to await) every ``every``
    seconds until true; fail after ``within`` seconds with the replicas' logs."""

    def logs() -> str:
        return "\n".join(f"--- {r.identity} (exited={r.exited.is_set()}):\n{r.log()}"
                         for r in replicas)

    await eventually(check, within, what, interval=every, log=logs)


# -- the write log ------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    key: str
    shard: str
    start: float
    end: float | None


def fence_bounds(writes: list[dict[str, Any]], ring: str,
                 renew_deadline: float) -> dict[str, float]:
    """identity -> the latest moment that shard's fence could have been open: the commit
    of its last own create or update of its shard Lease ``<ring>-shard-<identity>``, plus
    ``renew_deadline`` (the renewal was sent before it was committed)."""
    last: dict[str, float] = {}
    for w in writes:
        if not w["resource"].startswith("leases") or w["verb"] not in ("create", "update"):
            continue
        m = _UA.search(w["user_agent"])
        if m is not None and w["name"] == f"{ring}-shard-{m.group(1)}":
            last[m.group(1)] = w["time"]
    return {shard: t + renew_deadline for shard, t in last.items()}


def reconcile_intervals(writes: list[dict[str, Any]], stopped: dict[str, float], *,
                        ring: str = RING,
                        renew_deadline: float | None = None) -> list[Interval]:
    """Each shard's reconcile intervals per key, from the marker writes in commit order:
    ``marks/s.<name>`` at the start of a reconcile of ``work/<name>``, ``marks/e.<name>``
    at its end. An interval whose end never committed ends at the first of: its shard's
    next start of the key (one shard reconciles a key one at a time), the moment its
    shard's process stopped (``stopped``: identity -> monotonic time of the kill or the
    exit) and, given ``renew_deadline``, the latest moment its shard's fence could have
    been open (:func:`fence_bounds`); else never."""
    bounds = {} if renew_deadline is None else fence_bounds(writes, ring, renew_deadline)
    inf = float("inf")

    def cut(shard: str, began: float, until: float) -> float | None:
        end = min(until, stopped.get(shard, inf), bounds.get(shard, inf))
        return None if end == inf else max(began, end)

    open_: dict[tuple[str, str], float] = {}
    out: list[Interval] = []
    for w in writes:
        if w["resource"] != "configmaps" or w["namespace"] != "marks":
            continue
        m = _UA.search(w["user_agent"])
        if m is None:
            continue
        shard = m.group(1)
        phase = "start" if w["name"].startswith("s.") else "end"
        key = w["name"][2:]
        if phase == "start":
            earlier = open_.pop((key, shard), None)
            if earlier is not None:
                out.append(Interval(key, shard, earlier, cut(shard, earlier, w["time"])))
            open_[(key, shard)] = w["time"]
        else:
            began = open_.pop((key, shard), None)
            if began is not None:  # (an end whose start write failed proves nothing)
                out.append(Interval(key, shard, began, w["time"]))
    for (key, shard), began in open_.items():
        out.append(Interval(key, shard, began, cut(shard, began, inf)))
    return out


def overlaps(intervals: list[Interval]) -> list[tuple[Interval, Interval]]:
    """Pairs of intervals of one key by two shards that overlap in time."""
    by_key: dict[str, list[Interval]] = {}
    for iv in intervals:
        by_key.setdefault(iv.key, []).append(iv)
    bad = []
    inf = float("inf")
    for ivs in by_key.values():
        ivs.sort(key=lambda iv: iv.start)
        for i, a in enumerate(ivs):
            for b in ivs[i + 1:]:
                if b.start >= (a.end if a.end is not None else inf):
                    break
                if a.shard != b.shard:
                    bad.append((a, b))
    return bad
