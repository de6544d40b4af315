"""Leader election: an election-event handler recording ``kcs.leader.*``."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from opentelemetry.metrics import CallbackOptions, Observation

from kcs.observability._telemetry import Telemetry, default_telemetry

__all__ = ["ElectionEventLike", "LeaderTelemetry"]


class ElectionEventLike(Protocol):
    """What :class:`LeaderTelemetry` reads of a :class:`~kcs.leaderelection.ElectionEvent`."""

    @property
    def kind(self) -> str:
        """The event's kind (a ``StrEnum``)."""
        ...


class LeaderTelemetry:
    """An ``on_event`` handler for a :class:`~kcs.leaderelection.LeaderElector`.

    Records ``kcs.leader.is_leader`` (1 while this replica leads, read at collection),
    ``kcs.leader.transitions`` (``direction``: ``started`` / ``stopped``) and
    ``kcs.leader.changes`` (new holders observed), all with the attribute ``lease``.
    Chains to ``inner`` (another handler) if given. Never raises. The holder's identity is
    not an attribute (it would make a new series per pod).
    """

    def __init__(
        self,
        lease: str,
        telemetry: Telemetry | None = None,
        inner: Callable[[Any], None] | None = None,
    ) -> None:
        self._t = telemetry if telemetry is not None else default_telemetry()
        self._attrs = {"lease": lease}
        self._inner = inner
        self.leading = False
        """Whether this replica leads, as the events said."""
        _register(self._t, self)

    def __call__(self, event: ElectionEventLike) -> None:
        """Record one election event."""
        kind = str(event.kind)
        if kind == "started_leading":
            self.leading = True
            self._t.leader_transitions.add(1, {**self._attrs, "direction": "started"})
        elif kind == "stopped_leading":
            self.leading = False
            self._t.leader_transitions.add(1, {**self._attrs, "direction": "stopped"})
        elif kind == "leader_changed":
            self._t.leader_changes.add(1, self._attrs)
        if self._inner is not None:
            self._inner(event)


_electors: weakref.WeakKeyDictionary[Telemetry, weakref.WeakSet[LeaderTelemetry]] = (
    weakref.WeakKeyDictionary()
)


def _register(t: Telemetry, leader: LeaderTelemetry) -> None:
    """Add ``leader`` to the one ``kcs.leader.is_leader`` gauge of ``t`` (made once)."""
    leaders = _electors.setdefault(t, weakref.WeakSet())
    leaders.add(leader)
    if "leaders" in t.pull_registered:
        return
    t.pull_registered.add("leaders")

    def observe(_: CallbackOptions) -> Iterable[Observation]:
        totals: dict[str, int] = {}
        for one in list(leaders):
            lease = one._attrs["lease"]
            totals[lease] = totals.get(lease, 0) + (1 if one.leading else 0)
        return [Observation(v, {"lease": k}) for k, v in totals.items()]

    t.observe(
        "kcs.leader.is_leader", "1", "1 while this replica leads, else 0.", observe, gauge=True
    )
