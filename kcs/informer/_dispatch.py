"""One handler's dispatcher: a pending queue coalesced by key, drained by its own task.

The informer pushes the deltas of each batch with :meth:`HandlerRegistration._push`
(plain dict operations, never blocking) and the registration's task delivers them to the
handler one call at a time. While the handler is busy, later changes of a key fold into
the entry already pending for it:

=====================  =====================  ==========================================
pending                then                   pending becomes
=====================  =====================  ==========================================
(nothing)              Added(n)               add(n)
(nothing)              Updated(o, n)          update(o, n)
(nothing)              Deleted(d)             delete(d)
add(a)                 Updated(_, n)          add(n)            (still initial if a was)
add(a)                 Deleted(_)             (nothing)         the handler never saw it
update(o, _)           Updated(_, n)          update(o, n)      first old, last new
update(o, _)           Deleted(d)             delete(d)
delete(d)              Added(n)               replace(d, n)     on_delete(d), on_add(n)
replace(d, _)          Added/Updated(_, n)    replace(d, n)
replace(d, _)          Deleted(x)             delete(x)
=====================  =====================  ==========================================

So the backlog holds at most one entry per key, and the handler always ends up having
seen the latest state of every key (or its deletion).
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Callable

import anyio
import anyio.abc

from kcs.cache import Added, Delta, Updated
from kcs.core import Object
from kcs.informer._handler import HandlerResult, ResourceEventHandler

__all__ = ["HandlerRegistration"]

_log = logging.getLogger("kcs.informer")

# Pending operations.
_ADD = 0
_UPDATE = 1
_DELETE = 2
_REPLACE = 3  # the key was deleted and created again: on_delete(old), then on_add(new)

# Deliveries between two checkpoints of the dispatcher task, so that a busy handler of
# plain functions still lets the event loop run.
_CHECKPOINT_EVERY = 64


_Pending = tuple[int, "Object | None", Object, bool]
"""What one key has pending for one handler: ``(op, old, new, initial)``; replaced by a
new tuple when a later change coalesces into it (tuples are the cheapest record here)."""


class HandlerRegistration:
    """The handle :meth:`~kcs.informer.Informer.add_handler` returns.

    Guarantees:

    * the handler's calls are made by this registration's own task, one at a time, in the
      order in which keys first became pending; a slow handler never blocks the cache,
      the watch or other handlers;
    * :attr:`pending` never exceeds the number of distinct keys (changes coalesce per key,
      see the module documentation of ``kcs.informer._dispatch``);
    * :attr:`has_synced` becomes true once every object of the informer's first list (or
      of the cache at the time the handler was added) has been delivered with
      ``is_initial=True``;
    * an exception raised by the handler is logged and counted in :attr:`errors`; the
      registration carries on with the next change.
    """

    def __init__(self, handler: ResourceEventHandler, name: str = "") -> None:
        self.handler = handler
        self.name = name or type(handler).__qualname__
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._wake = anyio.Event()
        self._idle = anyio.Event()
        self._idle.set()
        self._synced = anyio.Event()
        self._initial_left = 0
        self._initial_pushed = False
        self._scope: anyio.CancelScope | None = None
        self._removed = False
        self._on_remove: Callable[[HandlerRegistration], None] | None = None
        self.delivered = 0
        """Handler calls made so far."""
        self.errors = 0
        """Handler calls that raised."""
        self.coalesced = 0
        """Changes folded into an entry that was already pending."""

    # --- state ---------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Keys with a change not yet delivered (at most one entry per key)."""
        return len(self._pending)

    @property
    def has_synced(self) -> bool:
        """Whether the initial objects have all been delivered to the handler."""
        return self._synced.is_set()

    async def wait_synced(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until :attr:`has_synced`; ``False`` if ``timeout`` seconds pass first."""
        with anyio.move_on_after(math.inf if timeout is None else timeout):
            await self._synced.wait()
        return self._synced.is_set()

    async def wait_idle(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until nothing is pending and no call is in progress (for tests and
        graceful shutdown); ``False`` if ``timeout`` seconds pass first."""
        with anyio.move_on_after(math.inf if timeout is None else timeout):
            await self._idle.wait()
        return self._idle.is_set()

    @property
    def removed(self) -> bool:
        """Whether :meth:`remove` was called."""
        return self._removed

    def remove(self) -> None:
        """Stop delivering to this handler: pending changes are dropped, a call in
        progress is cancelled. Idempotent."""
        if self._removed:
            return
        self._removed = True
        self._pending.clear()
        if self._on_remove is not None:
            self._on_remove(self)
        if self._scope is not None:
            self._scope.cancel()
        self._wake.set()
        self._idle.set()

    # --- producer side (the informer's task) -------------------------------------------
    def _push_initial(self, objects: list[Object]) -> None:
        """Queue ``on_add(obj, is_initial=True)`` for each of ``objects`` (done once)."""
        if self._initial_pushed or self._removed:
            return
        self._initial_pushed = True
        pending = self._pending
        for obj in objects:
            key = obj.metadata.key
            if key not in pending:
                pending[key] = (_ADD, None, obj, True)
                self._initial_left += 1
        if self._initial_left == 0:
            self._synced.set()
        self._wakeup()

    def _push_deltas(self, deltas: list[Delta]) -> None:
        """Queue a batch of store changes, coalescing per key, and wake the task."""
        if self._removed:
            return
        pending = self._pending
        for d in deltas:
            t = type(d)
            if t is Updated:
                new = d.new  # type: ignore[union-attr]
                key = new.metadata.key
                p = pending.get(key)
                if p is None:
                    pending[key] = (_UPDATE, d.old, new, False)  # type: ignore[union-attr]
                else:
                    self._coalesce(key, p, new)
            elif t is Added:
                obj = d.obj  # type: ignore[union-attr]
                key = obj.metadata.key
                p = pending.get(key)
                if p is None:
                    pending[key] = (_ADD, None, obj, False)
                else:
                    self._coalesce(key, p, obj)
            else:
                obj = d.obj  # type: ignore[union-attr]
                self._coalesce_delete(obj.metadata.key, obj)
        self._wakeup()

    def _coalesce(self, key: str, p: _Pending, new: Object) -> None:
        """An add or update of ``key`` while ``p`` is pending for it."""
        self.coalesced += 1
        op, old, last, initial = p
        if op == _DELETE:  # deleted, then created again
            self._pending[key] = (_REPLACE, last, new, False)
        else:
            self._pending[key] = (op, old, new, initial)

    def _coalesce_delete(self, key: str, obj: Object) -> None:
        """A deletion of ``key`` (``obj`` is its last state)."""
        pending = self._pending
        p = pending.get(key)
        if p is None:
            pending[key] = (_DELETE, None, obj, False)
            return
        self.coalesced += 1
        if p[0] == _ADD:  # the handler never saw it: nothing to tell
            del pending[key]
            if p[3]:
                self._initial_done()
            return
        pending[key] = (_DELETE, None, obj, False)

    def _wakeup(self) -> None:
        """Called after a batch was pushed: let the dispatcher task run."""
        if self._pending:
            self._idle = anyio.Event() if self._idle.is_set() else self._idle
            self._wake.set()

    def _initial_done(self) -> None:
        self._initial_left -= 1
        if self._initial_left == 0:
            self._synced.set()

    # --- consumer side (the registration's own task) ---------------------------------
    async def _run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Deliver pending changes until removed or cancelled."""
        with anyio.CancelScope() as scope:
            self._scope = scope
            if self._removed:
                scope.cancel()
            task_status.started()
            await self._drain_forever()

    async def _drain_forever(self) -> None:
        pending = self._pending
        popitem = pending.popitem
        handler = self.handler
        on_add, on_update, on_delete = handler.on_add, handler.on_update, handler.on_delete
        since_checkpoint = 0
        while True:
            if not pending:
                self._idle.set()
                self._wake = anyio.Event()
                await self._wake.wait()
                continue
            key, (op, old, new, initial) = popitem(last=False)
            self.delivered += 1
            try:
                if op == _UPDATE:
                    res = on_update(old, new)  # type: ignore[arg-type]
                elif op == _ADD:
                    res = on_add(new, initial)
                elif op == _DELETE:
                    res = on_delete(new)
                else:  # _REPLACE: the old object's deletion first, in its own call
                    res = None
                    await self._deliver(key, on_delete, old)
                    res = on_add(new, False)
                if res is not None:
                    await res
            except Exception:
                self._failed(key)
            if initial:
                self._initial_done()
            since_checkpoint += 1
            if since_checkpoint >= _CHECKPOINT_EVERY:
                since_checkpoint = 0
                await anyio.lowlevel.checkpoint()

    async def _deliver(self, key: str, method: Callable[..., HandlerResult], *args: object) -> None:
        """One handler call; an exception is logged and counted, never raised."""
        self.delivered += 1
        try:
            res = method(*args)
            if res is not None:
                await res
        except Exception:
            self._failed(key)

    def _failed(self, key: str) -> None:
        self.errors += 1
        _log.exception(
            "event handler %s failed on %s; continuing with the next change", self.name, key
        )

    def __repr__(self) -> str:
        return (
            f"HandlerRegistration({self.name}, pending={self.pending}, "
            f"delivered={self.delivered}, errors={self.errors})"
        )
