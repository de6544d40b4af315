"""Convergence under faults: run a schedule against the fake apiserver, lift the faults,
and check that the cache under test holds exactly what the server holds.

The cache is not imported (kcs.testing never imports the layers it tests): the caller
hands in ``snapshot``, a callable returning what its cache holds as ``{key:
resourceVersion}`` (``namespace/name``), and optionally ``check``, a callable returning
the problems it sees itself (indexes that disagree with a scan, handler calls that do not
add up to the final state).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kcs.core import ApiError, NotFound
from kcs.testing._schedule import Fault, Schedule, Step
from kcs.testing._server import FakeApiServer

__all__ = ["Collection", "ConvergenceReport", "run_convergence", "server_state"]

LABEL = "chaos.kcs.io/selected"
"""The label the schedule's writes set to ``"yes"`` or ``"no"`` (RELABEL flips it)."""

Snapshot = Callable[[], Mapping[str, str]]
Check = Callable[[], list[str]]


@dataclass(frozen=True, slots=True)
class Collection:
    """What the cache under test should hold, and where the schedule writes: ConfigMaps
    named ``obj-<n>`` in ``namespace``; with ``selected_only`` the cache should hold only
    those labelled :data:`LABEL` ``=yes`` (its watch selects them)."""

    namespace: str = "chaos"
    selected_only: bool = False

    @property
    def label_selector(self) -> str | None:
        """The selector the cache under test should watch with."""
        return f"{LABEL}=yes" if self.selected_only else None


def server_state(api: FakeApiServer, collection: Collection) -> dict[str, str]:
    """What the server holds of ``collection``: ``{namespace/name: resourceVersion}``."""
    return {
        f"{o['metadata']['namespace']}/{o['metadata']['name']}": o["metadata"]["resourceVersion"]
        for o in api.list("configmaps", collection.namespace,
                          label_selector=collection.label_selector)
    }


@dataclass(frozen=True, slots=True)
class ConvergenceReport:
    """How one convergence schedule ended.

    ``converged`` is true when the cache held exactly the server's state (same keys, same
    resourceVersions) within the settle timeout after the faults were lifted, and
    ``check`` found nothing; ``settle_seconds`` is how long that took. ``differences``
    name what still differed at the timeout (or what ``check`` found).
    """

    schedule: Schedule
    converged: bool
    settle_seconds: float
    objects: int
    differences: tuple[str, ...] = ()
    faults: Mapping[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        state = "converged" if self.converged else "DIVERGED"
        text = (f"{self.schedule.kind} {self.schedule.seed}: {state} in "
                f"{self.settle_seconds * 1000:.0f} ms, {self.objects} objects")
        if self.differences:
            text += "; " + "; ".join(self.differences[:10])
        return text


def _diff(cache: Mapping[str, str], server: Mapping[str, str]) -> list[str]:
    out = [f"missing {k}" for k in sorted(server.keys() - cache.keys())]
    out += [f"extra {k}" for k in sorted(cache.keys() - server.keys())]
    out += [f"stale {k}: cache {cache[k]}, server {server[k]}"
            for k in sorted(cache.keys() & server.keys()) if cache[k] != server[k]]
    return out


class _Writer:
    """Applies the schedule's writes in-process (no HTTP, so no fault stops them)."""

    def __init__(self, api: FakeApiServer, collection: Collection) -> None:
        self.api = api
        self.ns = collection.namespace
        self.n = 0

    def _get(self, name: str) -> dict[str, Any] | None:
        try:
            return self.api.get("configmaps", name, self.ns)
        except NotFound:
            return None

    def apply(self, step: Step) -> None:
        name = f"obj-{step.target}"
        self.n += 1
        current = self._get(name)
        if step.fault is Fault.DELETE:
            if current is not None:
                self.api.delete("configmaps", name, self.ns)
            return
        if current is None:
            selected = "yes" if self.n % 2 else "no"
            self.api.create("configmaps", {
                "metadata": {"name": name, "namespace": self.ns, "labels": {LABEL: selected}},
                "data": {"v": str(self.n)},
            })
            return
        if step.fault is Fault.RELABEL:
            labels = current["metadata"].setdefault("labels", {})
            labels[LABEL] = "no" if labels.get(LABEL) == "yes" else "yes"
        else:
            current["data"] = {"v": str(self.n)}
        self.api.update("configmaps", current)


class _Faults:
    """Turns fault steps on and off; everything is lifted by :meth:`lift`."""

    def __init__(self, api: FakeApiServer, client_user_agent: str | None) -> None:
        self.api = api
        self.ua = client_user_agent
        self._stalls = 0
        self._partitions = 0
        self._tasks: list[asyncio.Task[None]] = []

    async def _later(self, seconds: float, undo: Callable[[], None]) -> None:
        await asyncio.sleep(seconds)
        undo()

    def _for(self, step: Step, undo: Callable[[], None]) -> None:
        self._tasks.append(asyncio.ensure_future(self._later(step.duration, undo)))

    def _unstall(self) -> None:
        self._stalls -= 1
        if self._stalls == 0:
            self.api.faults.unstall()

    def _heal(self) -> None:
        self._partitions -= 1
        if self._partitions == 0:
            self.api.faults.heal()

    def apply(self, step: Step, seed: int) -> None:
        f = self.api.faults
        if step.fault is Fault.DROP_WATCHES:
            f.drop_watches()
        elif step.fault is Fault.COMPACT:
            self.api.compact()
        elif step.fault in (Fault.FAIL_429, Fault.FAIL_500):
            code = 429 if step.fault is Fault.FAIL_429 else 500
            self._for(step, f.fail(code, share=step.value, seed=seed))
        elif step.fault is Fault.DELAY:
            self._for(step, f.delay(step.value, jitter=step.value / 2, seed=seed))
        elif step.fault is Fault.STALL:
            self._stalls += 1
            f.stall()
            self._for(step, self._unstall)
        elif step.fault is Fault.RESTART:
            compact = step.variant == "compact"
            restart = functools.partial(self.api.restart, step.value, compact=compact)
            self._tasks.append(asyncio.ensure_future(_quietly(restart)))
        elif step.fault is Fault.PARTITION_CLIENT and self.ua is not None:
            self._partitions += 1
            f.partition(user_agent=self.ua, mode="close" if step.variant == "close" else "hang")
            self._for(step, self._heal)

    async def lift(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.api.faults.clear()
        if not self.api.running:
            await self.api.start()


async def _quietly(start: Callable[[], Awaitable[None]]) -> None:
    with contextlib.suppress(OSError, ApiError, RuntimeError):
        await start()


async def run_convergence(
    api: FakeApiServer,
    schedule: Schedule,
    snapshot: Snapshot,
    *,
    collection: Collection | None = None,
    client_user_agent: str | None = None,
    check: Check | None = None,
    settle_timeout: float = 10.0,
) -> ConvergenceReport:
    """Run ``schedule`` (a convergence schedule) against ``api`` while the cache under
    test (already started, watching ``collection``) follows it; then lift every fault and
    wait until ``snapshot()`` equals the server's state and ``check()`` (if given) finds
    nothing, for at most ``settle_timeout`` seconds.

    ``client_user_agent`` (a substring of the User-Agent of the client under test) is
    what PARTITION_CLIENT steps cut off; without it they are skipped.
    """
    if schedule.kind != "convergence":
        raise ValueError(f"not a convergence schedule: {schedule}")
    collection = collection or Collection()
    writer = _Writer(api, collection)
    faults = _Faults(api, client_user_agent)
    counts_before = dict(api.faults.counts)
    start = time.monotonic()
    try:
        for step in schedule.steps:
            delay = start + step.at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if step.fault in (Fault.CREATE, Fault.UPDATE, Fault.RELABEL, Fault.DELETE):
                writer.apply(step)
            else:
                faults.apply(step, schedule.seed)
        rest = start + schedule.duration - time.monotonic()
        if rest > 0:
            await asyncio.sleep(rest)
    finally:
        await faults.lift()
    lifted = time.monotonic()
    problems: list[str] = []
    while True:
        server = server_state(api, collection)
        problems = _diff(snapshot(), server)
        if not problems and check is not None:
            problems = check()
        if not problems:
            break
        if time.monotonic() - lifted > settle_timeout:
            break
        await asyncio.sleep(0.02)
    counts = {k: v - counts_before.get(k, 0) for k, v in api.faults.counts.items()}
    return ConvergenceReport(
        schedule=schedule,
        converged=not problems,
        settle_seconds=time.monotonic() - lifted,
        objects=len(server),
        differences=tuple(problems),
        faults={k: v for k, v in counts.items() if v},
    )
