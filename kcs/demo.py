"""The README demo: two replicas of a controller, a crash, a hand-off, measured.

``python -m kcs.demo`` (or ``kcs demo``) starts the embedded fake apiserver in its own
process, two replicas of :class:`DemoController` as separate OS processes, creates
objects, shows the reconciles (each line stamped with the local time and prefixed with the
replica's name), SIGKILLs the leader, shows the standby taking over with a warm cache (no
relist) and prints the failover time; then a graceful hand-off (SIGTERM) round with its
time. It exits 0 and leaves no process behind.

With ``--url`` (and ``--token`` / ``--ca-file``), ``--kubeconfig`` / ``--context`` or
``--in-cluster`` it runs against that cluster instead: it needs to create, patch, list,
watch and delete ConfigMaps and Leases in ``--namespace`` (``default``), creates its
objects there with the label ``app.kubernetes.io/managed-by=kcs-demo``, touches no other
object, and deletes what it made when it ends. TLS is always verified.

``python -m kcs.demo replica (--url URL | --kubeconfig PATH ...) --name NAME`` is one
replica (also used by the manager's tests and ``benchmarks/failover.py``). It prints one
JSON object per line on stdout (``{"event": ..., "at": <time.monotonic()>, ...}``) and
logs on stderr. Its two clients are told apart in the apiserver's write log by their
User-Agent: ``replica/NAME/election`` (the Lease) and ``replica/NAME/work`` (the
controller). The bearer token is read from ``$KCS_DEMO_TOKEN`` when ``--token`` is not
given, so that it never shows in a process listing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Any

import anyio
import anyio.abc
import orjson
from anyio.streams.text import TextReceiveStream

from kcs.client import (
    Client,
    ClientConfig,
    ClientError,
    Credentials,
    WatchStream,
)
from kcs.controller import Builder, Context, Controller, Result
from kcs.core import ApiError, Forbidden, NotFound, ObjectKey, Unauthorized, builtin
from kcs.informer import Informer
from kcs.leaderelection import (
    AUTO,
    LEASES,
    CrashDetection,
    ElectionEvent,
    ElectionTimings,
    Successor,
    candidate_lease_name,
)
from kcs.logs import LOG_FORMATS, LOG_LEVELS, configure_logging
from kcs.manager import Manager

CONFIGMAPS = builtin("configmaps")
ANNOTATION = "kcs-demo/reconciled-value"
NAMESPACE = "default"
LEASE = "kcs-demo"
DEMO_LABEL = ("app.kubernetes.io/managed-by", "kcs-demo")
"""The label on every object the demo creates (and the selector its controller uses)."""
TOKEN_ENV = "KCS_DEMO_TOKEN"
"""Where the replicas (and the demo, without ``--token``) read the bearer token."""


def emit(event: str, **fields: Any) -> None:
    """Print one JSON event line (with the monotonic time, shared by every process)."""
    fields.setdefault("at", time.monotonic())
    print(json.dumps({"event": event, **fields}), flush=True)


# -- connecting ------------------------------------------------------------------------------


def add_connection_arguments(p: argparse.ArgumentParser) -> None:
    """``--url`` / ``--token`` / ``--ca-file``, or ``--kubeconfig`` / ``--context``, or
    ``--in-cluster``."""
    g = p.add_argument_group("cluster connection (TLS is always verified)")
    g.add_argument("--url", help="the apiserver's URL (http:// or https://)")
    g.add_argument("--token", help=f"a bearer token for --url (or ${TOKEN_ENV}, which keeps "
                                   "it out of process listings)")
    g.add_argument("--ca-file", metavar="PATH",
                   help="PEM CA bundle that signed the --url server's certificate")
    g.add_argument("--kubeconfig", metavar="PATH", help="use this kubeconfig")
    g.add_argument("--context", metavar="NAME", help="the kubeconfig context (default: current)")
    g.add_argument("--in-cluster", action="store_true",
                   help="use the pod's service account")


def _check_connection(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    kube = args.kubeconfig is not None or args.context is not None
    chosen = sum(bool(x) for x in (args.url, kube, args.in_cluster))
    if chosen > 1:
        p.error("choose one of --url, --kubeconfig/--context and --in-cluster")
    if (args.token or args.ca_file) and not args.url:
        p.error("--token and --ca-file go with --url (a kubeconfig carries its own)")


def has_connection(args: argparse.Namespace) -> bool:
    """Whether the arguments name a cluster (else the demo runs its embedded fake)."""
    return bool(args.url or args.kubeconfig or args.context or args.in_cluster)


def connection_argv(args: argparse.Namespace) -> list[str]:
    """The connection flags to hand on to a replica (never the token: see ``TOKEN_ENV``)."""
    argv: list[str] = []
    for flag in ("url", "ca_file", "kubeconfig", "context"):
        value = getattr(args, flag)
        if value:
            argv += [f"--{flag.replace('_', '-')}", value]
    if args.in_cluster:
        argv.append("--in-cluster")
    return argv


async def connection_config(args: argparse.Namespace) -> ClientConfig:
    """Where the connection flags point, and the credentials to use there."""
    if args.url:
        token = args.token or os.environ.get(TOKEN_ENV) or None
        return ClientConfig(server=args.url,
                            credentials=Credentials.bearer(token) if token else Credentials(),
                            ca_file=args.ca_file)
    loaded = (await Client.in_cluster() if args.in_cluster
              else await Client.from_kubeconfig(args.kubeconfig, args.context))
    await loaded.close()  # it never connected: only its configuration is wanted
    return loaded.config


# -- the replica -----------------------------------------------------------------------------


class DemoController(Controller):
    """Copies each ConfigMap's ``data.value`` into an annotation (idempotent: no write when
    the annotation already matches). Reports every reconcile as an event line, with what
    it did (``action``: ``annotated``, ``up to date``, ``gone``, ``not written``).

    ``namespace`` and ``selector`` narrow what it watches (and so what it may touch)."""

    def __init__(self, *, write: bool = True, quiet: bool = False, workers: int = 1,
                 namespace: str = NAMESPACE, selector: str | None = None) -> None:
        self.write = write
        self.quiet = quiet
        self.max_concurrent_reconciles = workers
        self.namespace = namespace
        self.selector = selector
        self.term = 0
        self.informer: Informer | None = None
        self._reported_term = -1

    def setup(self, builder: Builder) -> None:
        self.informer = builder.for_(CONFIGMAPS, namespace=self.namespace,
                                     label_selector=self.selector)

    async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
        obj = await ctx.cache.get(CONFIGMAPS, key.name, key.namespace)
        action = "gone"
        wanted = ""
        if obj is not None:
            wanted = (obj.get("data") or {}).get("value", "")
            if obj.annotations.get(ANNOTATION) == wanted:
                action = "up to date"
            elif not self.write:
                action = "not written"
            else:
                await ctx.client.patch(CONFIGMAPS, key.name,
                                       {"metadata": {"annotations": {ANNOTATION: wanted}}},
                                       key.namespace)
                action = "annotated"
        if (not self.quiet or self._reported_term != self.term) and self.informer:
            self._reported_term = self.term
            emit("reconcile", key=str(key), term=self.term, cache=len(self.informer.lister),
                 syncs=self.informer.stats.syncs, action=action, value=wanted)
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
    config = await connection_config(args)
    client_cls = _PollingClient if args.poll_lease else Client
    election = client_cls(config, user_agent_suffix=f"replica/{name}/election", qps=None)
    work = Client(config, user_agent_suffix=f"replica/{name}/work", qps=None)

    def on_event(e: ElectionEvent) -> None:
        fields: dict[str, Any] = {"term": e.term, "holder": e.holder, "detail": e.detail}
        if e.kind.value == "started_leading":
            controller.term = e.term
            elector = manager.elector
            # The Lease's own count: the same term number on every replica, not this one's.
            fields["lease_transitions"] = elector.transitions if elector is not None else 0
        emit(e.kind.value, **fields)

    successor: Successor = (AUTO if args.successor == "auto"
                            else None if args.successor == "none" else args.successor)
    async with election, work:
        manager = Manager(work, lease_name=args.lease, namespace=args.namespace, identity=name,
                          timings=timings, election_client=election,
                          health_port=args.health_port, drain_timeout=args.drain_timeout,
                          successor=successor, on_event=on_event,
                          crash_detection=CrashDetection() if args.crash_detection else None)
        controller = DemoController(write=not args.no_write, quiet=args.quiet,
                                    workers=args.workers, namespace=args.namespace,
                                    selector=args.selector)
        runner = manager.add(controller)

        async def report_synced() -> None:
            await manager.informers.wait_synced()
            emit("synced", cache=len(runner.primary.lister))

        async with anyio.create_task_group() as tg:
            tg.start_soon(report_synced)

            async def report_ready() -> None:
                await manager.started.wait()
                emit("ready", health_port=manager.health.port if manager.health else 0)

            tg.start_soon(report_ready)
            await manager.run()
            tg.cancel_scope.cancel()
        emit("exit", handed_to=manager.handed_to)


def replica_parser(prog: str = "python -m kcs.demo replica") -> argparse.ArgumentParser:
    """The flags of one replica."""
    p = argparse.ArgumentParser(prog=prog, description="One replica of the demo controller.")
    add_connection_arguments(p)
    p.add_argument("--name", required=True)
    p.add_argument("--namespace", default=NAMESPACE)
    p.add_argument("--selector", default=None,
                   help="reconcile only the ConfigMaps with these labels (k=v,...)")
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
    p.add_argument("--crash-detection", action="store_true",
                   help="a liveness endpoint on 127.0.0.1: a crashed leader is replaced at once")
    p.add_argument("--quiet", action="store_true", help="report one reconcile per term")
    p.add_argument("--log-level", choices=LOG_LEVELS, default="info", type=str.lower)
    p.add_argument("--log-format", choices=LOG_FORMATS, default="text")
    return p


def replica_args(argv: list[str], prog: str = "python -m kcs.demo replica"
                 ) -> argparse.Namespace:
    """Parse a replica's ``argv`` (one connection is required)."""
    p = replica_parser(prog)
    args = p.parse_args(argv)
    _check_connection(p, args)
    if not has_connection(args):
        p.error("a replica needs --url, --kubeconfig/--context or --in-cluster")
    return args


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
    on exit of :func:`with_replicas`.

    The replicas connect to ``url``, or with the flags of ``connection`` when given (see
    :func:`add_connection_arguments`); ``env`` is added to their environment (the place
    for ``KCS_DEMO_TOKEN``)."""

    def __init__(self, tg: anyio.abc.TaskGroup, url: str,
                 on_line: Callable[[str, dict[str, Any]], None] | None = None,
                 on_log: Callable[[str, str], None] | None = None, *,
                 connection: Sequence[str] | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self._tg = tg
        self.url = url
        self.connection = list(connection) if connection is not None else ["--url", url]
        self.env = dict(env or {})
        self.all: dict[str, ReplicaProcess] = {}
        self._on_line = on_line
        self._on_log = on_log

    async def start(self, name: str, *args: str) -> ReplicaProcess:
        """Start replica ``name`` and wait until it is up (health port bound)."""
        cmd = [sys.executable, "-m", "kcs.demo", "replica", *self.connection,
               "--name", name, *args]
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
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
                        on_log: Callable[[str, str], None] | None = None,
                        connection: Sequence[str] | None = None,
                        env: Mapping[str, str] | None = None) -> None:
    """Run ``body(replicas)``; every replica process is killed and reaped afterwards."""
    async with anyio.create_task_group() as tg:
        replicas = Replicas(tg, url, on_line, on_log, connection=connection, env=env)
        try:
            await body(replicas)
        finally:
            await replicas.stop_all()
            tg.cancel_scope.cancel()


# -- the demo ----------------------------------------------------------------------------------


class DemoError(Exception):
    """Why the demo cannot run against the cluster it was pointed at."""


_SIGNALS = {-int(s): s.name for s in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)}
_STOPPED = {
    "released": "shutting down",
    "fenced": "no renewal within the renew deadline",
    "lost": "another replica holds the lease",
    "deleted": "the Lease was deleted",
    "yielded": "yielded to the preferred holder",
}


class _Show:
    """Prints what the replicas report, each thing once, stamped with the local time."""

    def __init__(self, namespace: str, lease: str, verbose: bool) -> None:
        self.namespace = namespace
        self.lease = lease
        self.verbose = verbose
        self._offset = time.time() - time.monotonic()  # monotonic time is machine-wide

    def stamp(self, at: float | None = None) -> str:
        wall = (time.monotonic() if at is None else at) + self._offset
        return datetime.fromtimestamp(wall).strftime("%H:%M:%S.%f")[:-3]

    def say(self, who: str, text: str, at: float | None = None) -> None:
        print(f"{self.stamp(at)}  {who:<4}  {text}", flush=True)

    def heading(self, text: str) -> None:
        print(f"\n== {text} ==", flush=True)

    def event(self, name: str, e: dict[str, Any]) -> None:
        text = self._describe(e)
        if text:
            self.say(name, text, e.get("at"))

    def _describe(self, e: dict[str, Any]) -> str | None:
        kind = e["event"]
        if kind == "reconcile":
            if e["key"].split("/")[-1].startswith("bulk-"):
                return None
            action = e.get("action", "")
            if action == "annotated":
                action = f"annotation set to \"{e.get('value', '')}\""
            return f"reconciled {e['key']}: {action}".rstrip(": ")
        if kind == "ready":
            return f"up; health on 127.0.0.1:{e['health_port']}" if e.get("health_port") else "up"
        if kind == "synced":
            return f"caches synced: {e['cache']} ConfigMaps"
        if kind == "started_leading":
            term = int(e.get("lease_transitions", 0)) + 1
            return f"leading: term {term} of Lease {self.namespace}/{self.lease}"
        if kind == "stopped_leading":
            why = _STOPPED.get(e.get("detail") or "", e.get("detail") or "")
            return f"stopped leading ({why})" if why else "stopped leading"
        if kind == "handed_off":
            return f"handed the lease to {e['holder']}"
        if kind == "released":
            return "released the lease"
        if kind == "renew_failed" and self.verbose:
            return f"renewal failed ({e['detail']})" if e.get("detail") else "renewal failed"
        if kind == "process_exit":
            code = e.get("code")
            if code == 0:
                return "exited"
            return (f"killed by {_SIGNALS[code]}" if code in _SIGNALS
                    else f"exited with status {code}")
        return None

    def log(self, name: str, line: str) -> None:
        """A replica's stderr line: JSON log records at WARNING and above (all of them with
        ``--verbose``); anything else (a traceback) as it is."""
        if not line.strip():
            return
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict) or "level" not in record:
            print(f"{self.stamp()}  {name:<4}  | {line}", flush=True)
            return
        level = str(record["level"])
        if not self.verbose and logging.getLevelName(level) < logging.WARNING:
            return
        try:
            at = datetime.fromisoformat(str(record["time"])).strftime("%H:%M:%S.%f")[:-3]
        except (KeyError, ValueError):
            at = self.stamp()
        print(f"{at}  {name:<4}  {level} {record.get('logger', '')}: {record.get('message', '')}",
              flush=True)
        if record.get("exception"):
            print(record["exception"], flush=True)


def _demo_object(name: str, namespace: str, value: str, annotated: bool) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace,
                                "labels": {DEMO_LABEL[0]: DEMO_LABEL[1]}}
    if annotated:
        metadata["annotations"] = {ANNOTATION: value}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata,
            "data": {"value": value}}


def _selector() -> str:
    return f"{DEMO_LABEL[0]}={DEMO_LABEL[1]}"


async def _preflight(client: Client, namespace: str) -> None:
    """One LIST, to fail early and clearly on credentials, RBAC or a missing namespace."""
    try:
        await client.list_raw(CONFIGMAPS, namespace, label_selector=_selector(), limit=1)
    except Unauthorized as exc:
        raise DemoError(f"{client.server} refused the credentials ({exc}): give --token, "
                        "or a kubeconfig whose user the server accepts") from None
    except Forbidden as exc:
        raise DemoError(f"{exc}. The demo needs, in namespace {namespace}: ConfigMaps "
                        "(create, patch, list, watch, delete) and "
                        "coordination.k8s.io Leases (get, create, update, list, watch, "
                        "delete)") from None
    except NotFound as exc:
        raise DemoError(f"namespace {namespace}: {exc}") from None


async def _create(client: Client, objects: Sequence[dict[str, Any]]) -> None:
    limit = anyio.Semaphore(8)

    async def one(obj: dict[str, Any]) -> None:
        async with limit:
            await client.create(CONFIGMAPS, obj, obj["metadata"]["namespace"])

    async with anyio.create_task_group() as tg:
        for obj in objects:
            tg.start_soon(one, obj)


async def _clean_up(client: Client, namespace: str, lease: str, names: Sequence[str]) -> int:
    """Delete the demo's ConfigMaps, its Lease and the replicas' candidate Leases; returns
    how many objects were deleted. Bounded (30 s) and shielded: it runs on the way out."""
    deleted = 0

    async def delete(resource: Any, name: str) -> None:
        nonlocal deleted
        try:
            await client.delete(resource, name, namespace)
            deleted += 1
        except NotFound:
            pass

    with anyio.move_on_after(30, shield=True):
        listing = orjson.loads(await client.list_raw(CONFIGMAPS, namespace,
                                                     label_selector=_selector()))
        for item in listing.get("items") or []:
            await delete(CONFIGMAPS, item["metadata"]["name"])
        await delete(LEASES, lease)
        for name in names:
            await delete(LEASES, candidate_lease_name(lease, name))
    return deleted


async def demo(args: argparse.Namespace) -> int:
    """The demo; returns the exit code."""
    from kcs.testing import ApiServerProcess

    namespace, lease = args.namespace, LEASE
    show = _Show(namespace, lease, args.verbose)
    embedded = not has_connection(args)
    bulk = args.objects if args.objects is not None else (2000 if embedded else 100)
    timing = ["--lease-duration", "2", "--renew-deadline", "1.2", "--retry-period", "0.3"]
    common = [*timing, "--namespace", namespace, "--selector", _selector(), "--lease", lease,
              "--log-format", "json"]
    replica_names = ("r1", "r2", "r3")
    env: dict[str, str] = {}
    async with AsyncExitStack() as stack:
        objects = [_demo_object(f"bulk-{i}", namespace, "x", annotated=True)
                   for i in range(bulk)]
        if embedded:
            api = await stack.enter_async_context(ApiServerProcess())
            show.say("demo", f"fake apiserver at {api.url} (pid {api.pid})")
            connection = ["--url", api.url]
            client = await stack.enter_async_context(Client.from_url(api.url, qps=None))
            for start in range(0, bulk, 1000):  # the control channel takes bodies < 1 MB
                await api.seed(CONFIGMAPS, objects[start:start + 1000])
        else:
            client = await stack.enter_async_context(Client(await connection_config(args)))
            connection = connection_argv(args)
            token = args.token or os.environ.get(TOKEN_ENV)
            if token:
                env[TOKEN_ENV] = token
            show.say("demo", f"apiserver at {client.server}, namespace {namespace}")
            await _preflight(client, namespace)
            await _clean_up(client, namespace, lease, replica_names)
            stack.push_async_callback(_clean_up, client, namespace, lease, replica_names)
            await _create(client, objects)
        show.say("demo", f"{bulk} ConfigMaps in namespace {namespace}, labelled {_selector()}")
        result: dict[str, float] = {}

        async def body(rs: Replicas) -> None:
            r1 = await rs.start("r1", *common)
            await r1.wait_for("started_leading")
            # r2 hands off to a named successor on SIGTERM (r3, started later)
            r2 = await rs.start("r2", *common, "--successor", "r3")
            await r2.wait_for("synced")
            t = time.monotonic()
            await _create(client, [_demo_object(f"demo-{i}", namespace, f"v{i}", annotated=False)
                                   for i in range(3)])
            for i in range(3):
                key = f"{namespace}/demo-{i}"
                await r1.wait_for("reconcile", after=t, where=_key_is(key))

            show.heading("SIGKILL the leader r1")
            killed = time.monotonic()
            r1.kill()
            first = await r2.wait_for("reconcile", after=killed, within=20)
            crash_ms = (first["at"] - killed) * 1000
            result["crash_ms"] = crash_ms
            relists = first["syncs"] - 1
            show.say("demo", f"r2 took over: first reconcile {crash_ms:.0f} ms after the kill "
                             f"(lease duration 2 s); warm cache of {first['cache']} objects, "
                             f"relists: {relists} "
                             f"({'no relist' if relists == 0 else 'RELISTED'})")
            result["relists"] = relists
            await client.patch(CONFIGMAPS, "demo-0", {"data": {"value": "changed"}}, namespace)
            await r2.wait_for("reconcile", after=first["at"],
                              where=lambda e: e["key"] == f"{namespace}/demo-0")

            show.heading("start r3 as a standby, then SIGTERM the leader r2")
            r3 = await rs.start("r3", *common)
            await r3.wait_for("synced")
            await r3.wait_for("ready")
            await _wait_candidate_synced(client, lease, namespace, "r3")
            asked = time.monotonic()
            r2.terminate()
            first = await r3.wait_for("reconcile", after=asked, within=20)
            graceful_ms = (first["at"] - asked) * 1000
            result["graceful_ms"] = graceful_ms
            exit_event = await r2.wait_for("exit", within=20)
            await r2.wait_for("process_exit", within=10)
            how = (f"handed the lease to {exit_event['handed_to']}" if exit_event["handed_to"]
                   else "released the lease (no eligible successor)")
            show.say("demo", f"r2 {how}; r3's first reconcile "
                             f"{graceful_ms:.0f} ms after SIGTERM (cache {first['cache']} "
                             f"objects, relists: {first['syncs'] - 1})")
            r3.terminate()
            await r3.wait_for("process_exit", within=20)

        await with_replicas(client.server, body, on_line=show.event, on_log=show.log,
                            connection=connection, env=env)
    ok = "crash_ms" in result and "graceful_ms" in result and result.get("relists") == 0
    print(f"\nsummary: takeover after crash {result.get('crash_ms', -1):.0f} ms, "
          f"graceful hand-off {result.get('graceful_ms', -1):.0f} ms, "
          f"{'no relist' if result.get('relists') == 0 else 'relist!'}", flush=True)
    return 0 if ok else 1


def _key_is(key: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: bool(e["key"] == key)


async def _wait_candidate_synced(client: Client, lease: str, namespace: str,
                                 identity: str) -> None:
    """Wait (bounded) until ``identity``'s candidate Lease says synced (eligible for a hand-off)."""
    from kcs.leaderelection import get_candidate

    with anyio.move_on_after(10):
        while True:
            candidate = await get_candidate(client, lease, namespace, identity)
            if candidate is not None and candidate.synced:
                return
            await anyio.sleep(0.05)


def demo_parser(prog: str = "python -m kcs.demo") -> argparse.ArgumentParser:
    """The flags of the demo."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="Two replicas of a controller under the kcs Manager: the leader is "
                    "SIGKILLed and the warm standby takes over without relisting; then a "
                    "graceful hand-off on SIGTERM. Against the embedded fake apiserver "
                    "unless a cluster is named.",
        epilog=f"One replica alone: {prog} replica --help")
    add_connection_arguments(p)
    p.add_argument("--namespace", default=NAMESPACE,
                   help=f"where the demo's ConfigMaps and Lease live (default {NAMESPACE})")
    p.add_argument("--objects", type=int, default=None, metavar="N",
                   help="ConfigMaps to make besides the three demo ones (default: 2000 on "
                        "the embedded fake apiserver, 100 on a cluster)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show every log record of the replicas (default: warnings and up)")
    return p


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """``python -m kcs.demo [replica ...]``; ``prog`` names the command in the help."""
    from kcs._exceptiongroups import find_error

    args_list = list(sys.argv[1:] if argv is None else argv)
    prog = prog or "python -m kcs.demo"
    try:
        if args_list and args_list[0] == "replica":
            args = replica_args(args_list[1:], f"{prog} replica")
            configure_logging(args.log_level, args.log_format)
            anyio.run(replica, args)
            return 0
        p = demo_parser(prog)
        args = p.parse_args(args_list)
        _check_connection(p, args)
        configure_logging("warning")
        return anyio.run(demo, args)
    except Exception as exc:
        error = find_error(exc, (DemoError, ApiError, ClientError))
        if error is None:
            raise
        print(f"{prog}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
