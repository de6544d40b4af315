"""One replica of a sharded controller, run as its own OS process by the tests.

    python _shard_replica.py --url URL --identity ID [--ring R] [timings] [--work-ms MS]

A :class:`~kcs.manager.Manager` with ``sharding=Sharding(ring)`` and the election Lease
``<ring>-leader``; its controller reconciles the ConfigMaps of namespace ``work``. Each
reconcile writes a marker ConfigMap in namespace ``marks`` at its start and at its
end (``s.<name>`` and ``e.<name>``: ``by`` the identity, a sequence number), the end
also when the reconcile failed (until its fence refuses it), so the fake apiserver's
write log holds every reconcile's interval; between the two writes it burns ``--work-ms``
of CPU (or sleeps ``--sleep-ms``). With ``--children`` it keeps one Secret owned by each
ConfigMap. Clients are told apart by User-Agent: ``shard/<ID>/work`` and
``shard/<ID>/lease``. stdout gets JSON lines: ``ready``, ``stats`` (every
``--stats-every`` seconds: cached objects, reconciles, RSS, CPU seconds) and ``exit``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import resource
import sys
import time
from typing import Any

import anyio

from kcs.client import Client, ClientError, FencedError
from kcs.controller import Builder, Context, Controller, Result
from kcs.core import AlreadyExists, ApiError, ObjectKey, builtin
from kcs.leaderelection import CrashDetection, ElectionTimings
from kcs.manager import Manager
from kcs.sharding import Sharding

CONFIGMAPS = builtin("configmaps")
SECRETS = builtin("secrets")


def emit(event: str, **fields: Any) -> None:
    fields.setdefault("at", time.monotonic())
    print(json.dumps({"event": event, **fields}), flush=True)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


class Marker(Controller):
    name = "marker"
    max_concurrent_reconciles = 4
    read_your_writes_timeout = None

    def __init__(self, identity: str, args: argparse.Namespace) -> None:
        self.identity = identity
        self.args = args
        self.seq = 0
        self.done = 0
        self.seen: set[str] = set()

    def setup(self, builder: Builder) -> None:
        builder.for_(CONFIGMAPS, namespace="work")
        if self.args.children:
            builder.owns(SECRETS, namespace="work")

    async def _mark(self, ctx: Context, key: ObjectKey, phase: str) -> None:
        self.seq += 1
        patch = {"data": {"phase": phase, "by": self.identity, "seq": str(self.seq)}}
        await ctx.client.patch(CONFIGMAPS, f"{phase[0]}.{key.name}", patch, "marks")

    async def _end(self, ctx: Context, key: ObjectKey) -> None:
        """The end marker, also of a failed reconcile: retried on API errors (a fault
        injected by the test) for up to 5 s, until written, cancelled or refused by the
        fence."""
        for attempt in range(100):
            try:
                await self._mark(ctx, key, "end")
                return
            except FencedError:
                raise
            except (ApiError, ClientError):
                if attempt == 99:
                    raise
                await anyio.sleep(0.05)

    async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
        if not self.args.marks:
            await self._work(ctx, key)
            return None
        try:
            await self._mark(ctx, key, "start")
            await self._work(ctx, key)
        finally:
            await self._end(ctx, key)  # (a start write that failed may have been committed)
        return None

    async def _work(self, ctx: Context, key: ObjectKey) -> None:
        first = key.name not in self.seen
        self.seen.add(key.name)
        if self.args.work_ms and not (first and self.args.work_on_change_only):
            end = time.process_time() + self.args.work_ms / 1000
            while time.process_time() < end:
                pass
        if self.args.sleep_ms:
            await anyio.sleep(self.args.sleep_ms / 1000)
        if self.args.children:
            obj = await ctx.cache.get(CONFIGMAPS, key.name, key.namespace)
            if obj is not None and await ctx.cache.get(SECRETS, key.name, key.namespace) is None:
                body = {"metadata": {"name": key.name, "ownerReferences": [{
                    "apiVersion": "v1", "kind": "ConfigMap", "name": key.name,
                    "uid": obj.metadata.uid, "controller": True}]}, "data": {}}
                with contextlib.suppress(AlreadyExists):
                    await ctx.client.create(SECRETS, body, key.namespace)
        self.done += 1


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--identity", required=True)
    p.add_argument("--ring", default="test")
    p.add_argument("--lease-duration", type=float, default=2.0)
    p.add_argument("--renew-deadline", type=float, default=1.2)
    p.add_argument("--retry-period", type=float, default=0.2)
    p.add_argument("--work-ms", type=float, default=0.0)
    p.add_argument("--sleep-ms", type=float, default=0.0)
    p.add_argument("--work-on-change-only", action="store_true",
                   help="no CPU work in a key's first reconcile here (the initial sync)")
    p.add_argument("--no-marks", dest="marks", action="store_false")
    p.add_argument("--children", action="store_true")
    p.add_argument("--unsharded", action="store_true", help="no sharding: one leader")
    p.add_argument("--crash-detection", action="store_true",
                   help="shards advertise a liveness endpoint (Sharding(crash_detection=))")
    p.add_argument("--stats-every", type=float, default=0.5)
    return p.parse_args(argv)


async def main(args: argparse.Namespace) -> None:
    ident = args.identity
    timings = ElectionTimings(lease_duration=args.lease_duration,
                              renew_deadline=args.renew_deadline,
                              retry_period=args.retry_period)
    work = Client.from_url(args.url, user_agent_suffix=f"shard/{ident}/work", qps=None)
    lease = Client.from_url(args.url, user_agent_suffix=f"shard/{ident}/lease", qps=None)
    crash = CrashDetection() if args.crash_detection else None
    sharding = None if args.unsharded else Sharding(args.ring, timings=timings,
                                                    crash_detection=crash)
    manager = Manager(work, lease_name=f"{args.ring}-leader", namespace="default",
                      identity=ident, timings=timings, election_client=lease,
                      health_port=None, drain_timeout=5.0, sharding=sharding)
    controller = Marker(ident, args)
    runner = manager.add(controller)
    informer = runner.primary

    async def report() -> None:
        await manager.started.wait()
        await informer.lister.wait_synced()
        emit("ready")
        while True:
            sharder = manager.shard.last_sharder if manager.shard is not None else None
            emit("stats", cached=len(informer.lister), reconciles=controller.done,
                 skipped=runner.stats.skipped, rss=rss_bytes(), leader=manager.is_leader,
                 cpu=time.process_time(),
                 sharder=None if sharder is None else {
                     "rebalances": sharder.stats.rebalances,
                     "members": sharder.stats.members,
                     "drains": sharder.stats.drains,
                     "reassigned": sharder.stats.reassigned,
                     "assigned": sharder.stats.assigned,
                     "expired": sharder.membership.expired,
                     "crashed": sharder.membership.crashed})
            await anyio.sleep(args.stats_every)

    code = 0
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(report)
            await manager.run()
            tg.cancel_scope.cancel()
    except BaseException as exc:
        emit("exit", error=repr(exc))
        code = 3
    else:
        emit("exit", error=None)
    finally:
        await work.close()
        await lease.close()
    sys.exit(code)


if __name__ == "__main__":
    logging.basicConfig(level=os.environ.get("SHARD_LOG", "WARNING"), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    anyio.run(main, parse_args(sys.argv[1:]))
