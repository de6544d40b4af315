"""The README demo: two replicas of a controller, a crash, a hand-off, measured.

``python -m kcs.demo`` starts the embedded fake apiserver in its own process, two replicas
of :class:`DemoController` as separate OS processes, creates objects, shows the reconciles
(each replica's lines prefixed with its name), SIGKILLs the leader, shows the standby
taking over with a warm cache (no relist) and prints the failover time; then a graceful
hand-off (SIGTERM) round with its time. It exits 0 and leaves no process behind.

``python -m kcs.demo replica --url URL --name NAME`` is one replica (also used by the
manager's tests and ``benchmarks/failover.py``). It prints one JSON object per line on
stdout (``{"event": ..., "at": <time.monotonic()>, ...}``) and logs on stderr. Its two
clients are told apart in the apiserver's write log by their User-Agent:
``replica/NAME/election`` (the Lease) and ``replica/NAME/work`` (the controller).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import anyio
import anyio.abc
from anyio.streams.text import TextReceiveStream

from kcs.client import Client, ClientError, WatchStream
from kcs.controller import Builder, Context, Controller, Result
from kcs.core import ApiError, ObjectKey, builtin
from kcs.informer import Informer
from kcs.leaderelection import AUTO, ElectionEvent, ElectionTimings, Successor
from kcs.manager import Manager

CONFIGMAPS = builtin("configmaps")
ANNOTATION = "kcs-demo/reconciled-value"
NAMESPACE = "default"
LEASE = "kcs-demo"


def emit(event: str, **fields: Any) -> None:
    """Print one JSON event line (with the monotonic time, shared by every process)."""
    fields.setdefault("at", time.monotonic())
    print(json.dumps({"event": event, **fields}), flush=True)


# -- the replica -----------------------------------------------------------------------------


class DemoController(Controller):
    """Copies each ConfigMap's ``data.value`` into an annotation (idempotent: no write when
    the annotation already matches). Reports every reconcile as an event line."""

    def __init__(self, *, write: bool = True, quiet: bool = False, workers: int = 1) -> None:
        self.write = write
        self.quiet = quiet
        self.max_concurrent_reconciles = workers
        self.term = 0
        self.informer: Informer | None = None
        self._reported_term = -1

    def setup(self, builder: Builder) -> None:
        self.informer = builder.for_(CONFIGMAPS, namespace=NAMESPACE)

    async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
        obj = await ctx.cache.get(CONFIGMAPS, key.name, key.namespace)
        if (not self.quiet or self._reported_term != self.term) and self.informer:
            self._reported_term = self.term
            emit("reconcile", key=str(key), term=self.term, cache=len(self.informer.store),
                 syncs=self.informer.stats.syncs)
        if obj is None or not self.write:
            return None
        value = (obj.get("data") or {}).get("value", "")
        if obj.annotations.get(ANNOTATION) == value:
            return None
        await ctx.client.patch(CONFIGMAPS, key.name,
                               {"metadata": {"annotations": {ANNOTATION: value}}},
                               key.namespace)
        return None


class _PollingClient(Client):
    """A client that cannot watch: its elector falls back to polling the Lease every
    retry period, as client-go does (the benchmark's baseline)."""

    def watch_raw(self, *args: Any, **kwargs: Any) -> WatchStream:
        raise ClientError("watching is turned off: polling like client-go")


async def replica(args: argparse.Namespace) -> None:
    """Run one replica until SIGTERM/SIGINT (graceful) or SIGKILL."""
    name = args.name
    timings = ElectionTimings(lease_duration=args.lease_duration,
                              renew_deadline=args.renew_deadline,
                              retry_period=args.retry_period)
    client_cls = _PollingClient if args.poll_lease else Client
    election = client_cls.from_url(args.url, user_agent_suffix=f"replica/{name}/election",
                                   qps=None)
    work = Client.from_url(args.url, user_agent_suffix=f"replica/{name}/work", qps=None)

    def on_event(e: ElectionEvent) -> None:
        if e.kind.value == "started_leading":
            controller.term = e.term
        emit(e.kind.value, term=e.term, holder=e.holder, detail=e.detail)

    successor: Successor = (AUTO if args.successor == "auto"
                            else None if args.successor == "none" else args.successor)
    async with election, work:
        manager = Manager(work, lease_name=args.lease, namespace=NAMESPACE, identity=name,
                          timings=timings, election_client=election,
                          health_port=args.health_port, drain_timeout=args.drain_timeout,
                          successor=successor, on_event=on_event)
        controller = DemoController(write=not args.no_write, quiet=args.quiet,
                                    workers=args.workers)
        runner = manager.add(controller)

        async def report_synced() -> None:
            await manager.informers.wait_synced()
            emit("synced", cache=len(runner.primary.store))

        async with anyio.create_task_group() as tg:
            tg.start_soon(report_synced)

            async def report_ready() -> None:
                await manager.started.wait()
                emit("ready", health_port=manager.health.port if manager.health else 0)

            tg.start_soon(report_ready)
            await manager.run()
            tg.cancel_scope.cancel()
        emit("exit", handed_to=manager.handed_to)


def replica_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m kcs.demo replica")
    p.add_argument("--url", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--lease", default=LEASE)
    p.add_argument("--lease-duration", type=float, default=2.0)
    p.add_argument("--renew-deadline", type=float, default=1.2)
    p.add_argument("--retry-period", type=float, default=0.3)
    p.add_argument("--drain-timeout", type=float, default=2.0)
    p.add_argument("--health-port", type=int, default=0)
    p.add_argument("--successor", default="auto")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--poll-lease", action="store_true",
                   help="never watch the Lease: poll it every retry period (client-go)")
    p.add_argument("--no-write", action="store_true", help="reconcile without writing")
    p.add_argument("--quiet", action="store_true", help="report one reconcile per term")
    return p.parse_args(argv)


# -- running replicas from another process -----------------------------------------------------


class ReplicaProcess:
    """A replica child process and the events it printed (for the demo, tests, benchmark)."""

    def __init__(self, name: str, process: anyio.abc.Process,
                 on_line: Callable[[str, dict[str, Any]], None] | None) -> None:
        self.name = name
        self.process = process
        self.events: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self.exited = anyio.Event()
        self._changed = anyio.Event()
        self._on_line = on_line

    def _add(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        if self._on_line is not None:
            self._on_line(self.name, event)
        self._changed.set()
        self._changed = anyio.Event()

    def find(self, name: str, after: float = 0.0) -> list[dict[str, Any]]:
        """Events called ``name`` printed at or after monotonic time ``after``."""
        return [e for e in self.events if e["event"] == name and e["at"] >= after]

    async def wait_for(self, name: str, within: float = 20.0, *, after: float = 0.0,
                       where: Callable[[dict[str, Any]], bool] = lambda e: True
                       ) -> dict[str, Any]:
        """The first event ``name`` at or after ``after`` for which ``where`` holds."""
        with anyio.fail_after(within):
            while True:
                changed = self._changed
                for e in self.find(name, after):
                    if where(e):
                        return e
                if self.exited.is_set():
                    raise RuntimeError(f"{self.name} exited without {name!r}:\n"
                                       + "".join(self.stderr[-40:]))
                await changed.wait()

    @property
    def leading(self) -> bool:
        """Whether the last leadership event this replica printed was a start."""
        marks = [e["event"] for e in self.events
                 if e["event"] in ("started_leading", "stopped_leading")]
        return bool(marks) and marks[-1] == "started_leading" and not self.exited.is_set()

    def terminate(self) -> None:
        """SIGTERM: a graceful stop with hand-off."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: a crash."""
        if self.process.returncode is None:
            self.process.kill()


class Replicas:
    """Starts replica processes in a task group that reads their output; kills them all
    on exit of :func:`replica_processes`."""

    def __init__(self, tg: anyio.abc.TaskGroup, url: str,
                 on_line: Callable[[str, dict[str, Any]], None] | None = None,
                 on_log: Callable[[str, str], None] | None = None) -> None:
        self._tg = tg
        self.url = url
        self.all: dict[str, ReplicaProcess] = {}
        self._on_line = on_line
        self._on_log = on_log

    async def start(self, name: str, *args: str) -> ReplicaProcess:
        """Start replica ``name`` and wait until it is up (health port bound)."""
        cmd = [sys.executable, "-m", "kcs.demo", "replica", "--url", self.url,
               "--name", name, *args]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        process = await anyio.open_process(cmd, env=env)
        rp = ReplicaProcess(name, process, self._on_line)
        self.all[name] = rp
        self._tg.start_soon(self._read_stdout, rp)
        self._tg.start_soon(self._read_stderr, rp)
        await rp.wait_for("ready", within=30)
        return rp

    async def _read_stdout(self, rp: ReplicaProcess) -> None:
        assert rp.process.stdout is not None
        buffer = ""
        async for chunk in TextReceiveStream(rp.process.stdout):
            buffer += chunk
            *lines, buffer = buffer.split("\n")
            for line in lines:
                if line.strip():
                    rp._add(json.loads(line))
        await rp.process.wait()
        rp.exited.set()
        rp._add({"event": "process_exit", "at": time.monotonic(),
                 "code": rp.process.returncode})

    async def _read_stderr(self, rp: ReplicaProcess) -> None:
        assert rp.process.stderr is not None
        buffer = ""
        async for chunk in TextReceiveStream(rp.process.stderr):
            rp.stderr.append(chunk)
            if self._on_log is not None:
                buffer += chunk
                *lines, buffer = buffer.split("\n")
                for line in lines:
                    self._on_log(rp.name, line)

    def leaders(self) -> list[ReplicaProcess]:
        """The live replicas whose last leadership event was a start."""
        return [r for r in self.all.values() if r.leading]

    async def stop_all(self) -> None:
        """SIGKILL whatever still runs and reap it."""
        for r in self.all.values():
            r.kill()
        with anyio.move_on_after(10, shield=True):
            for r in self.all.values():
                await r.process.wait()


async def with_replicas(url: str, body: Callable[[Replicas], Awaitable[None]], *,
                        on_line: Callable[[str, dict[str, Any]], None] | None = None,
                        on_log: Callable[[str, str], None] | None = None) -> None:
    """Run ``body(replicas)``; every replica process is killed and reaped afterwards."""
    async with anyio.create_task_group() as tg:
        replicas = Replicas(tg, url, on_line, on_log)
        try:
            await body(replicas)
        finally:
            await replicas.stop_all()
            tg.cancel_scope.cancel()


# -- the demo ----------------------------------------------------------------------------------


def _show(name: str, e: dict[str, Any]) -> None:
    kind = e["event"]
    if kind == "reconcile":
        if not e["key"].split("/")[-1].startswith("bulk-"):
            print(f"[{name}] reconciled {e['key']} (cache: {e['cache']} objects)", flush=True)
    elif kind in ("started_leading", "stopped_leading", "synced", "exit", "process_exit"):
        extra = {k: v for k, v in e.items() if k not in ("event", "at") and v not in ("", None)}
        print(f"[{name}] {kind} {extra or ''}".rstrip(), flush=True)


def _log_line(name: str, line: str) -> None:
    if " kcs.manager " in line or "ERROR" in line or "Traceback" in line:
        print(f"[{name}] log: {line}", flush=True)


async def demo() -> int:
    """The demo; returns the exit code."""
    from kcs.testing import ApiServerProcess

    bulk = 2000
    args = ["--lease-duration", "2", "--renew-deadline", "1.2", "--retry-period", "0.3"]
    async with AsyncExitStack() as stack:
        api = await stack.enter_async_context(ApiServerProcess())
        print(f"fake apiserver at {api.url} (pid {api.pid})", flush=True)
        await api.seed(CONFIGMAPS, [
            {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": f"bulk-{i}", "namespace": NAMESPACE,
                          "annotations": {ANNOTATION: "x"}},
             "data": {"value": "x"}} for i in range(bulk)])
        print(f"seeded {bulk} ConfigMaps", flush=True)
        client = await stack.enter_async_context(Client.from_url(api.url, qps=None))
        result: dict[str, float] = {}

        async def body(rs: Replicas) -> None:
            r1 = await rs.start("r1", *args)
            await r1.wait_for("started_leading")
            # r2 hands off to a named successor on SIGTERM (r3, started later)
            r2 = await rs.start("r2", *args, "--successor", "r3")
            await r2.wait_for("synced")
            t = time.monotonic()
            for i in range(3):
                await client.create(CONFIGMAPS, {
                    "metadata": {"name": f"demo-{i}"}, "data": {"value": f"v{i}"}}, NAMESPACE)
            for i in range(3):
                key = f"{NAMESPACE}/demo-{i}"
                await r1.wait_for("reconcile", after=t, where=_key_is(key))

            print("\n== SIGKILL the leader r1 ==", flush=True)
            killed = time.monotonic()
            r1.kill()
            first = await r2.wait_for("reconcile", after=killed, within=20)
            crash_ms = (first["at"] - killed) * 1000
            result["crash_ms"] = crash_ms
            relists = first["syncs"] - 1
            print(f"r2 took over: first reconcile {crash_ms:.0f} ms after the kill "
                  f"(lease duration 2 s); warm cache of {first['cache']} objects, "
                  f"relists: {relists} ({'no relist' if relists == 0 else 'RELISTED'})",
                  flush=True)
            result["relists"] = relists
            await client.patch(CONFIGMAPS, "demo-0", {"data": {"value": "changed"}}, NAMESPACE)
            await r2.wait_for("reconcile", after=first["at"],
                              where=lambda e: e["key"] == f"{NAMESPACE}/demo-0")

            print("\n== start r3 as a standby, then SIGTERM the leader r2 ==", flush=True)
            r3 = await rs.start("r3", *args)
            await r3.wait_for("synced")
            await r3.wait_for("ready")
            await _wait_candidate_synced(client, "r3")
            asked = time.monotonic()
            r2.terminate()
            first = await r3.wait_for("reconcile", after=asked, within=20)
            graceful_ms = (first["at"] - asked) * 1000
            result["graceful_ms"] = graceful_ms
            exit_event = await r2.wait_for("exit", within=20)
            await r2.wait_for("process_exit", within=10)
            how = (f"handed the lease to {exit_event['handed_to']}" if exit_event["handed_to"]
                   else "released the lease (no eligible successor)")
            print(f"r2 {how}; r3's first reconcile "
                  f"{graceful_ms:.0f} ms after SIGTERM (cache {first['cache']} objects, "
                  f"relists: {first['syncs'] - 1})", flush=True)
            r3.terminate()
            await r3.wait_for("process_exit", within=20)

        await with_replicas(api.url, body, on_line=_show, on_log=_log_line)
    ok = "crash_ms" in result and "graceful_ms" in result and result.get("relists") == 0
    print(f"\nsummary: takeover after crash {result.get('crash_ms', -1):.0f} ms, "
          f"graceful hand-off {result.get('graceful_ms', -1):.0f} ms, "
          f"{'no relist' if result.get('relists') == 0 else 'relist!'}", flush=True)
    return 0 if ok else 1


def _key_is(key: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: bool(e["key"] == key)


async def _wait_candidate_synced(client: Client, identity: str) -> None:
    """Wait (bounded) until ``identity``'s candidate Lease says synced (eligible for a hand-off)."""
    from kcs.leaderelection import get_candidate

    with anyio.move_on_after(10):
        while True:
            candidate = await get_candidate(client, LEASE, NAMESPACE, identity)
            if candidate is not None and candidate.synced:
                return
            await anyio.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    """``python -m kcs.demo [replica ...]``."""
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(created).3f %(levelname)s %(name)s %(message)s")
    if argv and argv[0] == "replica":
        try:
            anyio.run(replica, replica_args(argv[1:]))
        except (ApiError, ClientError) as e:
            print(f"replica failed: {e}", file=sys.stderr)
            return 1
        return 0
    return anyio.run(demo)


if __name__ == "__main__":
    sys.exit(main())
