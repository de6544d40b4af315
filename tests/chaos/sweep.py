"""kcs's own chaos sweep: its informers and its leader election under seeded faults,
through the harness users get (``kcs.testing.chaos``).

    python tests/chaos/sweep.py [--convergence N] [--election N] [--first-seed S] [--json F]
                                [--time-box SECONDS]

* **Convergence**: per schedule, a fresh fake apiserver, three informers on the
  ConfigMaps of one namespace (a paginated list, a streaming list, and one that selects
  by a label the schedule keeps flipping; each indexes that label) with a handler each that
  rebuilds the collection from its calls; the schedule's writes and faults; then every
  cache must equal the server, every index a scan, every handler's state its cache.
* **Election**: sessions of three replicas of ``tests/leaderelection/le_replica.py`` (real
  processes; lease 1.5 s, renew deadline 1 s, retry 0.2 s; leader-only work every 50 ms),
  half of them with crash detection behind proxies; per schedule, kills, pauses,
  partitions and latency; the write log must show no leader-only write by a replica that
  did not hold the Lease, no takeover from a paused or partitioned leader sooner than the
  lease, and a leader at work again after the faults.

The test suite runs a few seeds of each (``tests/chaos/test_chaos_sweep.py``); the
documented long sweep (see ``docs/testing.md``) runs 1,000 of each. Exits 1 if any
schedule failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from kcs.cache import IndexOptions, StoreOptions
from kcs.client import Client
from kcs.core import Object, builtin
from kcs.informer import Informer, InformerOptions, ResourceEventHandler
from kcs.testing import FakeApiServer
from kcs.testing.chaos import (
    Collection,
    ConvergenceReport,
    ElectionReport,
    ReplicaSet,
    ReplicaSpec,
    ReplicaWrites,
    Schedule,
    convergence_schedule,
    election_schedule,
    run_convergence,
    run_election,
    server_state,
)
from kcs.watch import Backoff, WatchOptions

CONFIGMAPS = builtin("configmaps")
NAMESPACE = "chaos"
LABEL = "chaos.kcs.io/selected"
LEASE = "chaos"
LEASE_DURATION = 1.5
REPLICA = Path(__file__).resolve().parents[1] / "leaderelection" / "le_replica.py"
FAST_BACKOFF = Backoff(initial=0.01, maximum=0.1, reset_after=30.0)
"""Watcher retries in milliseconds: the same code paths as the defaults, sooner."""


# -- convergence ------------------------------------------------------------------------------


class Rebuild(ResourceEventHandler):
    """Rebuilds the collection from handler calls; notes calls that break the contract."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.state: dict[str, str] = {}
        self.violations: list[str] = []

    async def on_add(self, obj: Object, is_initial: bool) -> None:
        if obj.key in self.state:
            self.violations.append(f"{self.name}: on_add of {obj.key}, already there")
        self.state[obj.key] = obj.resource_version

    async def on_update(self, old: Object, new: Object) -> None:
        if self.state.get(new.key) != old.resource_version:
            self.violations.append(f"{self.name}: on_update of {new.key} from "
                                   f"{old.resource_version}, handler had "
                                   f"{self.state.get(new.key)}")
        self.state[new.key] = new.resource_version

    async def on_delete(self, obj: Object) -> None:
        if self.state.pop(obj.key, None) is None:
            self.violations.append(f"{self.name}: on_delete of {obj.key}, not there")


@dataclass
class Watched:
    name: str
    informer: Informer
    handler: Rebuild
    collection: Collection


def _cache(informer: Informer) -> dict[str, str]:
    return {o.key: o.resource_version for o in informer.lister.list()}


def _problems(api: FakeApiServer, watched: list[Watched]) -> list[str]:
    out: list[str] = []
    for w in watched:
        server = server_state(api, w.collection)
        cache = _cache(w.informer)
        if cache != server:
            out.append(f"{w.name}: cache differs from the server "
                       f"({len(cache)} vs {len(server)} objects)")
        if w.handler.state != cache:
            out.append(f"{w.name}: the handler's state differs from its cache")
        out += w.handler.violations
        for value in ("yes", "no"):
            indexed = {o.key for o in w.informer.lister.by_index(f"label:{LABEL}", value)}
            scanned = {o.key for o in w.informer.lister.list() if o.labels.get(LABEL) == value}
            if indexed != scanned:
                out.append(f"{w.name}: label index {LABEL}={value} differs from a scan")
    return out


def _options(**watch: Any) -> InformerOptions:
    """Fast retries, a short stall timeout, and the label index the checks compare."""
    return InformerOptions(
        watch=WatchOptions(backoff=FAST_BACKOFF, dead_stream_timeout=2.0, **watch),
        store=StoreOptions(indexes=IndexOptions(labels=[LABEL])),
    )


@dataclass
class ConvergenceRun:
    report: ConvergenceReport
    relists: int
    resumes: int


async def convergence_one(seed: int) -> ConvergenceRun:
    """One convergence schedule against a fresh server and fresh informers."""
    schedule = convergence_schedule(seed)
    async with FakeApiServer() as api:
        api.create("namespaces", {"metadata": {"name": NAMESPACE}})
        for i in range(0, 40, 3):
            api.create("configmaps", {"metadata": {
                "name": f"obj-{i}", "namespace": NAMESPACE,
                "labels": {LABEL: "yes" if i % 2 else "no"}}, "data": {"v": "0"}})
        async with Client.from_url(api.url, user_agent_suffix="chaos/informers",
                                   qps=None) as client:
            everything = Collection(NAMESPACE)
            selected = Collection(NAMESPACE, selected_only=True)
            watched = [
                Watched("paged", Informer(client, CONFIGMAPS, NAMESPACE,
                                          options=_options(page_size=7)),
                        Rebuild("paged"), everything),
                Watched("stream", Informer(client, CONFIGMAPS, NAMESPACE,
                                           options=_options(initial_list="stream")),
                        Rebuild("stream"), everything),
                Watched("selected", Informer(client, CONFIGMAPS, NAMESPACE,
                                             label_selector={LABEL: "yes"},
                                             options=_options()),
                        Rebuild("selected"), selected),
            ]
            async with anyio.create_task_group() as tg:
                for w in watched:
                    w.informer.add_handler(w.handler, name=w.name)
                    tg.start_soon(w.informer.run)
                with anyio.fail_after(10):
                    for w in watched:
                        await w.informer.wait_synced()
                report = await run_convergence(
                    api, schedule, lambda: _cache(watched[0].informer),
                    collection=everything, client_user_agent="chaos/informers",
                    check=lambda: _problems(api, watched), settle_timeout=15.0,
                )
                relists = resumes = 0
                for w in watched:
                    watcher = w.informer.watcher
                    if watcher is not None:
                        relists += watcher.stats.relists
                        resumes += watcher.stats.reconnects
                tg.cancel_scope.cancel()
            return ConvergenceRun(report, relists, resumes)


# -- election ---------------------------------------------------------------------------------


def replica_command(url: str, crash_detection: bool, extra: Sequence[str] = ()) -> Any:
    def command(spec: ReplicaSpec) -> list[str]:
        argv = [sys.executable, str(REPLICA), "--url", url, "--identity", spec.identity,
                "--lease", LEASE, "--work-interval", "0.05", *extra]
        if crash_detection and spec.advertise and spec.liveness_port:
            argv += ["--crash-detection", "--advertise", spec.advertise,
                     "--liveness-port", str(spec.liveness_port)]
        return argv

    return command


async def election_session(
    seeds: Iterable[int | Schedule], *, crash_detection: bool, on_report: Any = None,
    extra: Sequence[str] = (),
) -> list[ElectionReport]:
    """Election schedules (seeds, or schedules) one after another against one set of
    replica processes (a killed replica is replaced by a new one)."""
    reports: list[ElectionReport] = []
    writes = ReplicaWrites(LEASE)
    async with FakeApiServer() as api:
        api.create("configmaps", {"metadata": {"name": "work", "namespace": "default"},
                                  "data": {}})
        command = replica_command(api.url, crash_detection, extra)
        async with ReplicaSet(command, liveness=crash_detection) as replicas:
            for seed in seeds:
                schedule = seed if isinstance(seed, Schedule) else election_schedule(seed)
                report = await run_election(api, schedule, replicas, writes,
                                            lease_duration=LEASE_DURATION)
                reports.append(report)
                if on_report is not None:
                    on_report(report, replicas)
    return reports


# -- the sweep --------------------------------------------------------------------------------


@dataclass
class Summary:
    convergence: int = 0
    diverged: list[str] = field(default_factory=list)
    settle: list[float] = field(default_factory=list)
    relists: int = 0
    resumes: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    election: int = 0
    failed: list[str] = field(default_factory=list)
    violations: int = 0
    early: int = 0
    takeovers: int = 0
    kill_takeovers: dict[str, list[float]] = field(default_factory=lambda: {"crash": [],
                                                                            "lease": []})
    election_faults: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        def q(values: list[float], p: float) -> float:
            if not values:
                return float("nan")
            values = sorted(values)
            return values[min(len(values) - 1, int(p * len(values)))]

        return {
            "convergence.schedules": self.convergence,
            "convergence.diverged": len(self.diverged),
            "convergence.settle_ms.p50": q(self.settle, 0.5) * 1000,
            "convergence.settle_ms.p99": q(self.settle, 0.99) * 1000,
            "convergence.relists": self.relists,
            "convergence.resumes": self.resumes,
            "convergence.faults": dict(self.faults),
            "election.schedules": self.election,
            "election.failed": len(self.failed),
            "election.overlapping_writes": self.violations,
            "election.early_takeovers": self.early,
            "election.takeovers": self.takeovers,
            "election.faults": dict(self.election_faults),
            "election.kill_takeover_ms.crash_detection.p50":
                q(self.kill_takeovers["crash"], 0.5) * 1000,
            "election.kill_takeover_ms.lease_only.p50":
                q(self.kill_takeovers["lease"], 0.5) * 1000,
            "failures": (self.diverged + self.failed)[:50],
        }


def _until(seeds: Iterable[int], deadline: float | None) -> Iterator[int]:
    """The seeds, as long as ``deadline`` (``time.monotonic()``) has not passed."""
    for seed in seeds:
        if deadline is not None and time.monotonic() >= deadline:
            return
        yield seed


async def sweep(convergence: int, election: int, first_seed: int, summary: Summary,
                progress: bool = True, time_box: float | None = None) -> Summary:
    """Run the schedules; with ``time_box`` (seconds), start no schedule after it has
    passed (the summary counts the schedules that ran, never the ones asked for)."""
    t0 = time.monotonic()
    deadline = None if time_box is None else t0 + time_box
    for seed in _until(range(first_seed, first_seed + convergence), deadline):
        run = await convergence_one(seed)
        r = run.report
        summary.convergence += 1
        summary.settle.append(r.settle_seconds)
        summary.relists += run.relists
        summary.resumes += run.resumes
        summary.faults.update(r.faults)
        if not r.converged:
            summary.diverged.append(str(r))
        if progress and (summary.convergence % 50 == 0 or not r.converged):
            print(f"[{time.monotonic() - t0:7.0f}s] convergence {summary.convergence}/"
                  f"{convergence}: {len(summary.diverged)} diverged; last: {r}", flush=True)

    def on_report(report: ElectionReport, replicas: ReplicaSet, crash: bool) -> None:
        summary.election += 1
        summary.violations += len(report.violations)
        summary.early += len(report.early)
        summary.takeovers += report.takeovers
        summary.election_faults.update(str(f) for f in report.schedule.faults())
        summary.kill_takeovers["crash" if crash else "lease"].extend(report.kill_takeovers)
        if not report.ok:
            logs = "".join(f"--- {r.identity}\n{r.log()[-3000:]}" for r in replicas.living())
            logs += "".join(f"--- exited: {e}\n" for e in report.exited)
            summary.failed.append(f"{report} [crash detection: {crash}]")
            if progress:
                print(f"FAILED {report}\n{logs}", flush=True)
        if progress and (summary.election % 25 == 0 or not report.ok):
            print(f"[{time.monotonic() - t0:7.0f}s] election {summary.election}/{election}: "
                  f"{len(summary.failed)} failed, {summary.violations} overlapping writes; "
                  f"last: {report}", flush=True)

    half = election // 2
    with_crash = range(first_seed, first_seed + half)
    without = range(first_seed + half, first_seed + election)
    half_deadline: float | None
    if election and deadline is not None:
        # Share what is left of the box between the two halves.
        half_deadline = time.monotonic() + max(0.0, deadline - time.monotonic()) / 2
    else:
        half_deadline = deadline
    if with_crash:
        await election_session(_until(with_crash, half_deadline), crash_detection=True,
                               on_report=lambda r, rs: on_report(r, rs, True))
    if without:
        await election_session(_until(without, deadline), crash_detection=False,
                               on_report=lambda r, rs: on_report(r, rs, False))
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tests/chaos/sweep.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--convergence", type=int, default=1000, help="convergence schedules")
    p.add_argument("--election", type=int, default=1000, help="election schedules")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--json", default=None, help="write the summary here")
    p.add_argument("--time-box", type=float, default=None, metavar="SECONDS",
                   help="start no schedule after this many seconds (the summary counts "
                        "the schedules that ran)")
    args = p.parse_args(argv)
    # Every fault makes the watchers log a warning; the sweep reports failures itself.
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    started = time.monotonic()
    summary = anyio.run(partial(sweep, args.convergence, args.election, args.first_seed,
                                Summary(), time_box=args.time_box))
    result = summary.as_dict()
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, indent=2, sort_keys=True))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return 0 if not summary.diverged and not summary.failed else 1


if __name__ == "__main__":
    sys.exit(main())
