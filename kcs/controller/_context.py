"""What a reconcile is given besides its key: the controller's clients and helpers."""

from __future__ import annotations

import logging
from collections.abc import Callable

from kcs.client import Client
from kcs.controller._events import EventRecorder
from kcs.core import ObjectKey, Reader

__all__ = ["Context"]


class Context:
    """The services a reconcile uses, the same object for every reconcile of a run.

    * :attr:`cache` — a :class:`~kcs.core.Reader` over the controller's informers:
      zero-copy reads of the cached objects (never mutate them; ``to_dict()`` copies).
      It serves the resources the controller declared in ``setup`` and raises
      :class:`LookupError` for any other.
    * :attr:`client` — the live :class:`~kcs.client.Client` (also a Reader). Every
      request inherits the reconcile's deadline and cancellation; the objects its writes
      store are remembered, so the next reconcile of the key waits until the caches have
      seen them (read-your-writes).
    * :attr:`events` — the controller's :class:`~kcs.controller.EventRecorder`.
    * :attr:`log` — the controller's logger (``kcs.controller.<name>``).
    * :meth:`enqueue` — ask for another key to be reconciled.
    """

    __slots__ = ("_enqueue", "cache", "client", "controller", "events", "log")

    def __init__(
        self,
        *,
        controller: str,
        client: Client,
        cache: Reader,
        events: EventRecorder,
        enqueue: Callable[[ObjectKey, float], None],
    ) -> None:
        self.controller = controller
        """The controller's name."""
        self.client = client
        self.cache = cache
        self.events = events
        self.log = logging.getLogger(f"kcs.controller.{controller}")
        self._enqueue = enqueue

    def enqueue(self, key: ObjectKey, *, after: float = 0.0) -> None:
        """Reconcile ``key`` (in ``after`` seconds); ignored once the run has ended."""
        self._enqueue(key, after)

    def __repr__(self) -> str:
        return f"Context({self.controller!r})"
