"""watch.*: events per second and client CPU per event, each client in its own process.

One static watch server per workload (:mod:`benchmarks._watchserver`, a process of its
own, every response built before it listens) serves the pods' initial state and a stream
of events, one write per event. In each round every client runs once, in a fresh
process, against the same server (kcs first, then each baseline); the figures are the
medians over the rounds. A client syncs before its clock starts; the clock covers the
events only (:mod:`benchmarks._watchclients` has the protocol).

Clients: ``kcs`` (an informer: namespace, ``release`` label and ``spec.nodeName`` indexes,
one no-op handler), ``lightkube``, ``lean``, ``orjson_stripped``, ``k8s_asyncio``,
``kopf``, ``raw``, and two ceilings that are not clients: ``decode`` (the lean cache's
msgspec decode of each event, nothing cached) and ``transport`` (aiohttp splitting lines).
``watch.decode_ceiling_vs_lean`` is decode / lean events/s: the most any client that
decodes each event so and caches it could reach as ``watch.ratio_vs_lean``. Workloads: ``realistic`` (the ``watch.*`` names) and ``bump``
(``watch.bump.*``); see :mod:`benchmarks._workload`.

``watch.stage_us.*`` splits kcs's and the lean cache's own work on the realistic stream
into decode and cache, fed from memory (:mod:`benchmarks._stages`).

Every client counts the same number of events, except where ``SLOW_EVENTS`` says
otherwise (k8s_asyncio and kopf in ``--quick``): ``watch.events.<client>`` reports it.
Each client's cache is checked against the number of objects the stream leaves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from benchmarks._harness import Metrics, in_child, median
from benchmarks._pods import tiny

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = ("kcs", "lightkube", "lean", "decode", "orjson_stripped", "k8s_asyncio", "kopf",
           "raw", "transport")
SLOW = ("k8s_asyncio", "kopf")
BASELINES = ("lightkube", "lean", "decode", "orjson_stripped", "k8s_asyncio", "kopf", "raw",
             "transport")
QUICK_BUMP = ("kcs", "lightkube", "lean", "decode", "transport")
CPU_REPORTED = ("kcs", "lightkube", "lean", "decode", "orjson_stripped", "raw", "transport",
                "k8s_asyncio", "kopf")


@dataclass(frozen=True)
class WatchSizes:
    """The watch benchmark's sizes."""

    pods: int
    events: int
    slow_events: int
    rounds: int
    bump_clients: tuple[str, ...]


def watch_sizes(quick: bool) -> WatchSizes:
    """``--quick``: 5,000 pods, 10,000 events (1,000 for k8s_asyncio and kopf), 3 rounds,
    the bump stream for kcs, lightkube, lean, decode and transport only; full: 10,000 pods,
    50,000 events for every client, 7 rounds, every client on both streams."""
    if tiny():
        return WatchSizes(200, 600, 100, 1, QUICK_BUMP)
    if quick:
        return WatchSizes(5_000, 10_000, 1_000, 3, QUICK_BUMP)
    return WatchSizes(10_000, 50_000, 50_000, 7, CLIENTS)


class Server:
    """A static watch server process for one workload."""

    def __init__(self, workload: str, pods: int, events: int) -> None:
        self.workload = workload
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._watchserver", "--workload", workload,
             "--pods", str(pods), "--events", str(events)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {workload} watch server did not start")
        ready = json.loads(line)
        self.url: str = ready["url"]

    def expect(self, events: int, prefilled: bool) -> int:
        """Objects a client's cache must hold after ``events`` events."""
        from benchmarks._watchclients import info

        got = info(self.url, f"/_bench/expect?events={events}")
        return int(got["objects"] if prefilled else got["touched"])

    def close(self) -> None:
        stdin: IO[str] | None = self.process.stdin
        if stdin is not None:
            stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _run(args: list[str], env: dict[str, str] | None, timeout: float,
         marker: str = "") -> dict[str, float]:
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.run(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err,
                              text=True, timeout=timeout, check=False)
        lines = [ln[len(marker):] for ln in proc.stdout.splitlines() if ln.startswith(marker)]
        if not lines or (proc.returncode != 0 and not marker):
            err.seek(0)
            raise RuntimeError(f"{' '.join(args[1:4])} failed ({proc.returncode}):\n"
                               f"{err.read()[-3000:]}\n{proc.stdout[-1000:]}")
    result: dict[str, float] = json.loads(lines[-1])
    return result


def run_client(name: str, url: str, events: int) -> dict[str, float]:
    """Run client ``name`` in a process of its own; its result (see _watchclients)."""
    if name == "kopf":
        env = {**os.environ, "KCS_BENCH_URL": url, "KCS_BENCH_EVENTS": str(events)}
        args = [sys.executable, "-m", "kopf", "run", "--standalone", "--all-namespaces",
                "--quiet", str(ROOT / "benchmarks" / "_kopf_operator.py")]
        return _run(args, env, timeout=1800, marker="KCS_BENCH_RESULT ")
    args = [sys.executable, "-m", "benchmarks._watchclients", name, url, str(events)]
    return _run(args, None, timeout=1800)


def _metrics(prefix: str, results: dict[str, list[dict[str, float]]]) -> Metrics:
    out: Metrics = {}
    rate = {c: median([r["events"] / r["seconds"] for r in rs]) for c, rs in results.items()}
    cpu = {c: median([r["cpu_s"] / r["events"] * 1e6 for r in rs])
           for c, rs in results.items()}
    for c in results:
        out[f"{prefix}events_per_s.{c}"] = rate[c]
        if c in CPU_REPORTED:
            out[f"{prefix}cpu_us_per_event.{c}"] = cpu[c]
        out[f"{prefix}events.{c}"] = results[c][0]["events"]
    for b in BASELINES:
        if b in results:
            out[f"{prefix}ratio_vs_{b}"] = rate["kcs"] / rate[b]
            out[f"{prefix}cpu_ratio_vs_{b}"] = cpu[b] / cpu["kcs"]
    if "decode" in results and "lean" in results:
        out[f"{prefix}decode_ceiling_vs_lean"] = rate["decode"] / rate["lean"]
    servers = [r["server_cpu_s"] / r["events"] * 1e6 for rs in results.values() for r in rs]
    out[f"{prefix}server_cpu_us_per_event"] = median(servers)
    return out


def run(quick: bool) -> Metrics:
    """Measure watch throughput; returns the ``watch.*`` metrics (see the module doc)."""
    s = watch_sizes(quick)
    plan = {"realistic": CLIENTS, "bump": s.bump_clients}
    results: dict[str, dict[str, list[dict[str, float]]]] = {
        w: {c: [] for c in clients} for w, clients in plan.items()}
    servers: dict[str, Server] = {}
    try:
        for workload in plan:
            servers[workload] = Server(workload, s.pods, s.events)
        for _ in range(s.rounds):
            for workload, clients in plan.items():
                server = servers[workload]
                for c in clients:
                    events = s.slow_events if c in SLOW else s.events
                    r = run_client(c, server.url, events)
                    expected = server.expect(events, bool(r["prefilled"]))
                    if r["objects"] >= 0 and c != "transport" and r["objects"] != expected:
                        raise RuntimeError(f"{c} ({workload}) cached {r['objects']:.0f} "
                                           f"objects; the stream leaves {expected}")
                    results[workload][c].append(r)
    finally:
        for server in servers.values():
            server.close()
    out: Metrics = {}
    out.update(_metrics("watch.", results["realistic"]))
    out.update(_metrics("watch.bump.", results["bump"]))
    out["watch.pods"] = float(s.pods)
    out["watch.rounds"] = float(s.rounds)
    out["watch.events"] = float(s.events)
    out["watch.events_k8s_asyncio"] = out["watch.events.k8s_asyncio"]
    # Where kcs's and the lean cache's CPU goes, fed from memory in a process of its own.
    out.update(in_child("benchmarks._stages", "stages", str(s.pods), str(s.events)))
    return out
