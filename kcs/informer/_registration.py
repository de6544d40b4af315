"""The handle :meth:`Informer.add_handler <kcs.informer.Informer.add_handler>` returns."""

from __future__ import annotations

from kcs.informer._dispatch import Dispatcher, HandlerError
from kcs.informer._handler import ResourceEventHandler

__all__ = ["HandlerRegistration"]


class HandlerRegistration:
    """One handler's subscription to an informer: its state, and :meth:`remove`.

    Guarantees:

    * the handler's calls are made by this registration's own task, one at a time, in the
      order in which keys first became pending; a slow handler never blocks the cache,
      the watch or other handlers;
    * :attr:`pending` never exceeds the number of distinct keys (changes coalesce per key,
      see the module documentation of ``kcs.informer._dispatch``);
    * :attr:`has_synced` becomes true once every object of the informer's first list (or
      of the cache at the time the handler was added) has been delivered with
      ``is_initial=True``;
    * an exception raised by the handler is logged with its traceback (naming the
      handler, the method and the key), counted in :attr:`errors` and kept in
      :attr:`last_error`; the registration carries on with the next change.
    """

    __slots__ = ("_dispatcher",)

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher

    @property
    def handler(self) -> ResourceEventHandler:
        """The handler."""
        return self._dispatcher.handler

    @property
    def name(self) -> str:
        """The name it is logged under (``add_handler(name=...)``, or the handler's)."""
        return self._dispatcher.name

    @property
    def pending(self) -> int:
        """Keys with a change not yet delivered (at most one entry per key)."""
        return self._dispatcher.pending

    @property
    def delivered(self) -> int:
        """Handler calls made so far."""
        return self._dispatcher.delivered

    @property
    def errors(self) -> int:
        """Handler calls that raised."""
        return self._dispatcher.errors

    @property
    def coalesced(self) -> int:
        """Changes folded into an entry that was already pending."""
        return self._dispatcher.coalesced

    @property
    def last_error(self) -> HandlerError | None:
        """The last exception the handler raised (with its traceback), or ``None``."""
        return self._dispatcher.last_error

    @property
    def has_synced(self) -> bool:
        """Whether the initial objects have all been delivered to the handler."""
        return self._dispatcher.has_synced

    async def wait_synced(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until :attr:`has_synced`; ``False`` if ``timeout`` seconds pass first."""
        return await self._dispatcher.wait_synced(timeout)

    async def wait_idle(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until nothing is pending and no call is in progress (for tests and
        graceful shutdown); ``False`` if ``timeout`` seconds pass first."""
        return await self._dispatcher.wait_idle(timeout)

    @property
    def removed(self) -> bool:
        """Whether :meth:`remove` was called."""
        return self._dispatcher.removed

    def remove(self) -> None:
        """Stop delivering to this handler: pending changes are dropped, a call in
        progress is cancelled. Idempotent."""
        self._dispatcher.remove()

    def __repr__(self) -> str:
        d = self._dispatcher
        return (
            f"HandlerRegistration({d.name}, pending={d.pending}, "
            f"delivered={d.delivered}, errors={d.errors})"
        )
