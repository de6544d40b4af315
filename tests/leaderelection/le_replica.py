"""One replica of a leader-elected controller, run as its own OS process by the tests.

    python le_replica.py --url URL --identity ID [--lease NAME] [timings] [--work-interval S]
                         [--crash-detection [--advertise IP:PORT] [--liveness-port N]]

It runs a :class:`~kcs.leaderelection.LeaderElector` with two clients, told apart by the
fake apiserver's write log through their User-Agent: ``replica/<ID>/election`` for the
Lease and ``replica/<ID>/work`` for the leader-only work, which patches the ConfigMap
``work`` every ``--work-interval`` seconds while this replica leads (sleeping between
writes, as most work loops do). ``--crash-detection`` opens a liveness endpoint on
127.0.0.1 (advertised as ``--advertise``, e.g. a proxy's address). Every election event
is printed on stdout as one JSON line (``{"event": ..., "at": <time.monotonic()>, ...}``);
logs go to stderr. SIGTERM (or SIGINT) asks for a graceful stop: the elector releases the
lease, handing it to ``--successor`` (``auto``, ``none`` or an identity), and the process
exits 0 after printing ``{"event": "exit", "handed_to": ...}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from typing import Any

import aiohttp
import anyio

from kcs.client import Client, ClientError
from kcs.core import ApiError, builtin
from kcs.leaderelection import (
    AUTO,
    CrashDetection,
    ElectionEvent,
    ElectionTimings,
    LeaderElector,
    Leadership,
    Successor,
)

CONFIGMAPS = builtin("configmaps")


def emit(event: str, **fields: Any) -> None:
    fields.setdefault("at", anyio.current_time())
    print(json.dumps({"event": event, **fields}), flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--identity", required=True)
    p.add_argument("--lease", default="le-test")
    p.add_argument("--namespace", default="default")
    p.add_argument("--lease-duration", type=float, default=1.5)
    p.add_argument("--renew-deadline", type=float, default=1.0)
    p.add_argument("--retry-period", type=float, default=0.2)
    p.add_argument("--work-interval", type=float, default=0.05)
    p.add_argument("--synced-after", type=float, default=0.0,
                   help="seconds before publishing synced=true (negative: never)")
    p.add_argument("--successor", default="auto")
    p.add_argument("--drain-timeout", type=float, default=2.0)
    p.add_argument("--crash-detection", action="store_true")
    p.add_argument("--advertise", default=None)
    p.add_argument("--liveness-port", type=int, default=0)
    p.add_argument("--unfenced-work", action="store_true",
                   help="write the work with plain aiohttp, which no fence checks (to show "
                        "what the fence prevents)")
    return p.parse_args(argv)


async def main(args: argparse.Namespace) -> None:
    ident = args.identity
    timings = ElectionTimings(
        lease_duration=args.lease_duration,
        renew_deadline=args.renew_deadline,
        retry_period=args.retry_period,
    )
    election = Client.from_url(args.url, user_agent_suffix=f"replica/{ident}/election", qps=None)
    worker = Client.from_url(args.url, user_agent_suffix=f"replica/{ident}/work", qps=None)

    raw = aiohttp.ClientSession(headers={"User-Agent": f"raw replica/{ident}/work"})
    url = f"{args.url}/api/v1/namespaces/{args.namespace}/configmaps/work"

    async def write(patch: dict[str, Any]) -> None:
        if not args.unfenced_work:
            await worker.patch(CONFIGMAPS, "work", patch, args.namespace)
            return
        headers = {"Content-Type": "application/merge-patch+json"}
        async with raw.patch(url, data=json.dumps(patch), headers=headers) as resp:
            resp.raise_for_status()

    async def work(leadership: Leadership) -> None:
        seq = 0
        emit("work_started", term=leadership.term)
        try:
            while not leadership.stopping.is_set():
                seq += 1
                patch = {"data": {"holder": ident, "term": str(leadership.term), "seq": str(seq)}}
                try:
                    await write(patch)
                except (ApiError, ClientError, aiohttp.ClientError) as e:
                    emit("work_failed", error=str(e)[:200])
                await anyio.sleep(args.work_interval)
        finally:
            emit("work_ended", term=leadership.term, writes=seq)

    def on_event(e: ElectionEvent) -> None:
        emit(e.kind.value, at=e.at, term=e.term, holder=e.holder, sent=e.sent, detail=e.detail)

    crash = (CrashDetection(port=args.liveness_port, advertise=args.advertise)
             if args.crash_detection else None)
    elector = LeaderElector(
        election, args.lease, namespace=args.namespace, identity=ident, timings=timings,
        on_started_leading=work, on_event=on_event, crash_detection=crash,
    )
    successor: Successor = (
        AUTO if args.successor == "auto" else None if args.successor == "none" else args.successor
    )

    async def mark_synced() -> None:
        if args.synced_after < 0:
            return
        await anyio.sleep(args.synced_after)
        await elector.set_synced(True)
        emit("synced")

    async with election, worker, raw, anyio.create_task_group() as tg:
        tg.start_soon(elector.run)
        tg.start_soon(mark_synced)
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            emit("ready")
            async for _ in signals:
                emit("stopping")
                handed = await elector.release(successor, drain_timeout=args.drain_timeout)
                emit("exit", handed_to=handed)
                break
        tg.cancel_scope.cancel()


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format="%(created).3f %(levelname)s %(name)s %(message)s",
    )
    anyio.run(main, parse_args(sys.argv[1:]))
