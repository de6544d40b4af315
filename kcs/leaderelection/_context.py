"""What the parts of one election share: the lock, who we are, the timings, the observer,
the event hook, and a level-triggered wake-up."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import anyio
import anyio.lowlevel

from kcs.client import Client
from kcs.core import Object
from kcs.leaderelection._events import (
    ElectionEvent,
    ElectionEventHandler,
    ElectionEventKind,
    EndReason,
)
from kcs.leaderelection._lock import LeaseLock
from kcs.leaderelection._observe import LeaseObserver, Observation
from kcs.leaderelection._timing import ElectionTimings

__all__ = ["Election", "Wakeup"]

_log = logging.getLogger("kcs.leaderelection")


class Wakeup:
    """Wakes the loops of an elector when something they wait on changed.

    :meth:`arm` before looking at the state, then :meth:`sleep` on what it returned: a
    :meth:`notify` that came in between is not lost.
    """

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = anyio.Event()

    def arm(self) -> anyio.Event:
        """The event the next :meth:`notify` sets."""
        if self._event.is_set():
            self._event = anyio.Event()
        return self._event

    def notify(self) -> None:
        """Wake every loop sleeping on an armed event."""
        self._event.set()

    @staticmethod
    async def sleep(armed: anyio.Event, seconds: float) -> None:
        """Until ``armed`` is set or ``seconds`` have passed (a checkpoint when
        ``seconds <= 0``)."""
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        with anyio.move_on_after(seconds):
            await armed.wait()


@dataclass(slots=True)
class Election:
    """One replica's view of one election Lease."""

    lock: LeaseLock
    identity: str
    timings: ElectionTimings
    observer: LeaseObserver
    on_event: ElectionEventHandler | None
    wakeup: Wakeup
    term: int = 0
    """The number of this replica's current (or last) term of leadership."""

    @property
    def client(self) -> Client:
        return self.lock.client

    @property
    def name(self) -> str:
        return self.lock.name

    @property
    def namespace(self) -> str:
        return self.lock.namespace

    @property
    def who(self) -> str:
        """``namespace/name [identity]``, the prefix of every log line."""
        return f"{self.namespace}/{self.name} [{self.identity}]"

    @property
    def leader(self) -> str | None:
        """The holder last observed (``None``: nobody, or not known yet)."""
        obs = self.observer.current
        return obs.holder or None if obs is not None else None

    def observe(self, lease: Object | None) -> Observation | None:
        """Feed the result of one of our own reads or writes to the observer."""
        return self.observer.observe(lease, None if lease is not None else "")

    def emit(
        self,
        kind: ElectionEventKind,
        *,
        holder: str = "",
        sent: float | None = None,
        detail: str = "",
        reason: EndReason | None = None,
    ) -> None:
        """Report one event to ``on_event`` (exceptions are logged, never raised)."""
        if self.on_event is None:
            return
        event = ElectionEvent(
            kind=kind, at=anyio.current_time(), identity=self.identity, holder=holder,
            term=self.term, sent=sent, detail=detail or (str(reason) if reason else ""),
            reason=reason,
        )
        try:
            self.on_event(event)
        except Exception:
            _log.exception("on_event raised")
