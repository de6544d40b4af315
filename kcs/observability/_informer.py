"""Informers: counters and gauges read from each informer's own stats at collection time.

Nothing runs per event: the informer and its watcher already count what they do
(:class:`~kcs.informer.InformerStats`, :class:`~kcs.watch.WatchStats`); the callbacks here
read those counters when the SDK collects, so the hot path pays nothing.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from opentelemetry.metrics import CallbackOptions, Observation

from kcs.observability._telemetry import Telemetry, default_telemetry

__all__ = ["ObservedInformer", "observe_informer"]


class ObservedInformer(Protocol):
    """What :func:`observe_informer` reads (a :class:`~kcs.informer.Informer` has it)."""

    resource: Any
    namespace: str | None
    stats: Any
    lister: Any
    watcher: Any

    @property
    def resource_version(self) -> str:
        """The cache's resourceVersion."""
        ...


@dataclass(slots=True)
class _Tally:
    """Watch counters carried across the watchers of successive runs.

    The stats of the last watcher seen are held (not the watcher: it refers to its
    informer, the key this tally is held weakly under) until the informer has another
    watcher, so the counts it made after the last collection are added then, not lost."""

    watch_stats: Any = None
    earlier_bookmarks: int = 0
    earlier_relists: int = 0
    resource_version: str = ""
    advanced_at: float = 0.0

    def update(self, watcher: Any, resource_version: str, now: float) -> None:
        last = self.watch_stats
        if watcher is not None and watcher.stats is not last:
            if last is not None:
                self.earlier_bookmarks += last.bookmarks
                self.earlier_relists += last.relists
            self.watch_stats = watcher.stats
        if resource_version != self.resource_version or not self.advanced_at:
            self.resource_version = resource_version
            self.advanced_at = now

    @property
    def bookmarks(self) -> int:
        last = self.watch_stats
        return self.earlier_bookmarks + (last.bookmarks if last is not None else 0)

    @property
    def relists(self) -> int:
        last = self.watch_stats
        return self.earlier_relists + (last.relists if last is not None else 0)


_tallies: weakref.WeakKeyDictionary[Any, _Tally] = weakref.WeakKeyDictionary()


def _attrs(informer: ObservedInformer) -> dict[str, str]:
    return {"resource": str(informer.resource), "namespace": informer.namespace or ""}


def _summed(
    t: Telemetry, read: Callable[[ObservedInformer, _Tally, float], float]
) -> Callable[[CallbackOptions], Iterable[Observation]]:
    """A callback summing ``read`` over the informers that share attributes."""

    def callback(_: CallbackOptions) -> Iterable[Observation]:
        now = time.monotonic()
        totals: dict[tuple[str, str], float] = {}
        for informer in list(t.informers):
            tally = _tallies.setdefault(informer, _Tally())
            tally.update(informer.watcher, informer.resource_version, now)
            a = _attrs(informer)
            key = (a["resource"], a["namespace"])
            totals[key] = totals.get(key, 0) + read(informer, tally, now)
        return [Observation(v, {"resource": r, "namespace": n}) for (r, n), v in totals.items()]

    return callback


def observe_informer(informer: ObservedInformer, telemetry: Telemetry | None = None) -> None:
    """Report ``kcs.informer.*`` for ``informer`` (held weakly) until it is collected.

    Attributes: ``resource`` (``plural.group``) and ``namespace`` (``""``: all); informers
    of the same resource and namespace with different selectors are summed.
    """
    t = telemetry if telemetry is not None else default_telemetry()
    t.informers.add(informer)
    if "informers" in t.pull_registered:
        return
    t.pull_registered.add("informers")
    t.observe(
        "kcs.informer.events", "{event}",
        "Watch events processed: objects listed, applied, deleted, and bookmarks.",
        _summed(t, lambda i, _, __: i.stats.events),
    )
    t.observe(
        "kcs.informer.bookmarks", "{event}", "Bookmark events received.",
        _summed(t, lambda _, tally, __: tally.bookmarks),
    )
    t.observe(
        "kcs.informer.lists", "{list}",
        "Complete lists swapped into the cache, the first one included.",
        _summed(t, lambda i, _, __: i.stats.syncs),
    )
    t.observe(
        "kcs.informer.relists", "{list}",
        "Lists started because the resume point was lost (410 Gone).",
        _summed(t, lambda _, tally, __: tally.relists),
    )
    t.observe(
        "kcs.informer.objects", "{object}", "Objects in the cache.",
        _summed(t, lambda i, _, __: len(i.lister)), gauge=True,
    )
    t.observe(
        "kcs.informer.staleness", "s",
        "Seconds since the cache's resourceVersion last advanced, as seen at collection "
        "(an upper bound of the lag behind the server; bookmarks keep it low when idle).",
        _summed(t, lambda _, tally, now: now - tally.advanced_at), gauge=True,
    )
