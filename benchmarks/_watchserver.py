"""A static watch server for the watch benchmark, in a process of its own.

``python -m benchmarks._watchserver --workload realistic --pods N --events E --seed S``
generates the workload (:mod:`benchmarks._workload`), serializes every response before it
listens, then prints one JSON line (``{"url": ..., "base": ..., "last": ...}``) and serves
on 127.0.0.1 until its standard input closes.

It speaks just enough of the Kubernetes API over HTTP/1.1 for every client of the
benchmark (aiohttp, httpx, kubernetes-asyncio, kopf): discovery (``/api``, ``/api/v1``,
``/apis``, ``/version``), the pods' paginated list (``limit`` / ``continue``, always the
initial state at resourceVersion ``base``) and their watch from a resourceVersion:

* every event is written with its own ``transport.write`` as its own HTTP chunk, the way
  kube-apiserver writes each event of a watch separately (it flushes whenever its queue
  of events is empty); the chunks, framing included, are built before the clock starts,
  so the server's work per event is one write call;
* a watch from ``base`` or later streams the events after that resourceVersion, then
  stays open and silent until the client leaves or its ``timeoutSeconds`` pass; one from
  before ``base`` gets ``410 Expired`` (an ``ERROR`` event);
* the gate: ``POST /_bench/arm?events=K`` holds every watch before its first event until
  ``POST /_bench/go``, and limits the watches to the first ``K`` events. A client arms
  it, syncs (lists, opens its watch), then starts its clock and opens the gate, so that
  nothing before the clock consumes events and no client receives more than it counts.

``GET /_bench/info`` describes the stream (``base``, ``last``, ``events``, ``pods``);
``GET /_bench/stats`` returns the server process's CPU seconds (to show it is not the
bottleneck); ``GET /_bench/expect?events=K`` the number of objects that exist after the
first ``K`` events, and the number a cache that starts empty holds then (the harness
checks every client's cache against them), and
``GET /_bench/final?events=K`` the resourceVersion of the last event of each key among
them (for clients that cannot count events, like kopf, which merges the events of one
object).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import sys
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from benchmarks._workload import WORKLOADS, events, initial_pods

LOG = bool(os.environ.get("KCS_BENCH_SERVER_LOG"))
"""Print every request to stderr (to see what a client asks for)."""
_REASONS = {200: "OK", 201: "Created", 404: "Not Found", 405: "Method Not Allowed",
            410: "Gone"}
_WATCH_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
               b"Cache-Control: no-cache, private\r\nTransfer-Encoding: chunked\r\n\r\n")

POD_RESOURCE = {
    "name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
    "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update",
              "watch"],
    "shortNames": ["po"], "categories": ["all"],
}
NAMESPACE_RESOURCE = {
    "name": "namespaces", "singularName": "namespace", "namespaced": False,
    "kind": "Namespace", "verbs": ["get", "list", "watch"], "shortNames": ["ns"],
}
"""Listed in discovery only: kopf waits for it to be discovered even when it watches
every namespace (and then never reads it)."""
DISCOVERY: dict[str, Any] = {
    "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
        {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]},
    "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        POD_RESOURCE, NAMESPACE_RESOURCE]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/version": {"major": "1", "minor": "33", "gitVersion": "v1.33.0-bench",
                 "platform": "linux/amd64"},
}


def chunk(data: bytes) -> bytes:
    """``data`` framed as one HTTP/1.1 chunk."""
    return b"%x\r\n" % len(data) + data + b"\r\n"


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class Prepared:
    """Everything the server sends, built before it listens."""

    def __init__(self, workload: str, pods: int, count: int, seed: int) -> None:
        state = initial_pods(pods, seed)
        self.base = pods
        self.items = [orjson.dumps(p) for p in state]
        evs = list(events(workload, state, count, seed))
        self.keys = [e.key for e in evs]
        self.types = [e.type for e in evs]
        self.chunks = [chunk(e.line) for e in evs]
        self.last = self.base + count
        live, self.objects_after = pods, [pods]
        for e in evs:
            live += 1 if e.type == "ADDED" else -1 if e.type == "DELETED" else 0
            self.objects_after.append(live)
        self.discovery = {path: orjson.dumps(body) for path, body in DISCOVERY.items()}

    def page(self, query: dict[str, str]) -> bytes:
        """One page of the list (``limit`` / ``continue``), at resourceVersion ``base``."""
        start = int(query.get("continue") or 0)
        limit = int(query.get("limit") or 0) or len(self.items)
        end = min(len(self.items), start + limit)
        meta: dict[str, Any] = {"resourceVersion": str(self.base)}
        if end < len(self.items):
            meta["continue"] = str(end)
            meta["remainingItemCount"] = len(self.items) - end
        head = orjson.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": meta})
        return head[:-1] + b',"items":[' + b",".join(self.items[start:end]) + b"]}"

    def touched(self, count: int) -> int:
        """Objects that a cache which starts empty holds after the first ``count`` events:
        those whose last event among them is not a deletion."""
        last = dict(zip(self.keys[:count], self.types[:count], strict=True))
        return sum(1 for t in last.values() if t != "DELETED")

    def final(self, count: int) -> dict[str, int]:
        """key -> resourceVersion of its last event among the first ``count`` events."""
        return {k: self.base + 1 + i for i, k in enumerate(self.keys[:count])}


class Gate:
    """Holds the watches until the client that armed it starts its clock."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.open.set()
        self.limit: int | None = None
        """Events streamed to each watch (``None``: all of them)."""


class Connection(asyncio.Protocol):
    """One client connection: requests in order, one watch at most at a time."""

    def __init__(self, prepared: Prepared, gate: Gate) -> None:
        self.prepared = prepared
        self.gate = gate
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.writable = asyncio.Event()
        self.writable.set()
        self.closed = asyncio.Event()
        self.streaming: asyncio.Task[None] | None = None

    # --- asyncio.Protocol ------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()
        self.writable.set()
        if self.streaming is not None:
            self.streaming.cancel()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.streaming is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            method, target, _ = head[0].split(" ", 2)
            if LOG:
                print(method, target, file=sys.stderr, flush=True)
            self.handle(method, target)

    # --- requests ----------------------------------------------------------------------
    def respond(self, code: int, body: bytes) -> None:
        assert self.transport is not None
        self.transport.write(
            b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (code, _REASONS[code].encode(), len(body)) + body)

    def handle(self, method: str, target: str) -> None:
        url = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path.rstrip("/")
        p = self.prepared
        if method == "POST" and path == "/_bench/arm":
            self.gate.open.clear()
            self.gate.limit = int(query["events"]) if "events" in query else None
            self.respond(200, b"{}")
        elif method == "POST" and path == "/_bench/go":
            self.gate.open.set()
            self.respond(200, b"{}")
        elif path == "/_bench/stats":
            r = resource.getrusage(resource.RUSAGE_SELF)
            self.respond(200, orjson.dumps({"cpu_s": r.ru_utime + r.ru_stime}))
        elif path == "/_bench/info":
            self.respond(200, orjson.dumps({"base": p.base, "last": p.last,
                                            "events": len(p.chunks), "pods": len(p.items)}))
        elif path == "/_bench/expect":
            count = min(int(query.get("events", "0")), len(p.chunks))
            self.respond(200, orjson.dumps({"objects": p.objects_after[count],
                                            "touched": p.touched(count)}))
        elif path == "/_bench/final":
            self.respond(200, orjson.dumps(p.final(int(query.get("events", "0")))))
        elif path in p.discovery:
            self.respond(200, p.discovery[path])
        elif path == "/api/v1/pods" and method == "GET":
            if query.get("watch", "").lower() in ("true", "1"):
                self.streaming = asyncio.get_running_loop().create_task(self.watch(query))
            else:
                self.respond(200, p.page(query))
        elif method in ("POST", "PATCH", "PUT", "DELETE"):
            self.respond(405, orjson.dumps(_status(405, "MethodNotAllowed",
                                                   "the benchmark server is read-only")))
        else:
            self.respond(404, orjson.dumps(_status(404, "NotFound", f"{path} not found")))

    async def watch(self, query: dict[str, str]) -> None:
        transport, p = self.transport, self.prepared
        assert transport is not None
        transport.write(_WATCH_HEAD)
        rv = query.get("resourceVersion") or ""
        start = int(rv) - p.base if rv.isdigit() and rv != "0" else len(p.chunks)
        timeout = float(query.get("timeoutSeconds") or 3600)
        with contextlib.suppress(asyncio.CancelledError):
            if start < 0:
                status = _status(410, "Expired", f"too old resource version: {rv}")
                transport.write(chunk(orjson.dumps({"type": "ERROR", "object": status})
                                      + b"\n"))
            elif start < len(p.chunks):
                await self.gate.open.wait()
                writable, write = self.writable, transport.write
                for data in p.chunks[start:self.gate.limit]:
                    write(data)
                    if not writable.is_set():
                        await writable.wait()
                        if self.closed.is_set():
                            return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closed.wait(), timeout)
            if not self.closed.is_set():
                transport.write(b"0\r\n\r\n")
        self.streaming = None


async def _serve(prepared: Prepared) -> None:
    loop = asyncio.get_running_loop()
    gate = Gate()
    server = await loop.create_server(lambda: Connection(prepared, gate), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(orjson.dumps({"url": f"http://127.0.0.1:{port}", "base": prepared.base,
                        "last": prepared.last}).decode(), flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()  # until the parent closes our stdin (or dies)
    server.close()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks._watchserver")
    p.add_argument("--workload", choices=WORKLOADS, default="realistic")
    p.add_argument("--pods", type=int, required=True)
    p.add_argument("--events", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    prepared = Prepared(args.workload, args.pods, args.events, args.seed)
    asyncio.run(_serve(prepared))


if __name__ == "__main__":
    main()
