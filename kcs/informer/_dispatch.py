"""One handler's dispatcher: a pending queue coalesced by key, drained by its own task.

The informer pushes the deltas of each batch with :meth:`Dispatcher.push_deltas` (plain
dict operations, never blocking) and the dispatcher's task delivers them to the handler
one call at a time; the initial objects of a handler added to a synced cache are queued by
that task in slices between deliveries, with changes pushed meanwhile held and folded in
after the last slice (the same pending state as queueing them all at once). The
:class:`~kcs.informer.HandlerRegistration` the user holds is a
handle on it that reads its state and can remove it, nothing more. While the handler is
busy, later changes of a key fold into the entry already pending for it:

=====================  =====================  ==========================================
pending                then                   pending becomes
=====================  =====================  ==========================================
(nothing)              Added(n)               add(n)
(nothing)              Updated(o, n)          update(o, n)
(nothing)              Deleted(d)             delete(d)
add(a)                 Updated(_, n)          add(n)            (still initial if a was)
add(a)                 Deleted(d)             add-delete(a, d)  on_add(a), then on_delete(d)
add-delete(a, _)       Added/Updated(_, n)    add(n)            the handler never had it
update(o, _)           Updated(_, n)          update(o, n)      first old, last new
update(o, _)           Deleted(d)             delete(d)
delete(d)              Added(n)               replace(d, n)     on_delete(d), on_add(n)
replace(d, _)          Added/Updated(_, n)    replace(d, n)
replace(d, _)          Deleted(x)             delete(x)
=====================  =====================  ==========================================

So the backlog holds at most one entry per key, and the handler always ends up having
seen the latest state of every key (or its deletion), in a sequence consistent with what
it was told before (never an ``on_delete`` of a key it was not given). A key created and
deleted while the handler was busy is still reported, as ``on_add`` then ``on_delete``:
handlers that map an object to another key (its owner's) must hear of it, because the
owner may be waiting for exactly that object.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice

import anyio
import anyio.abc

from kcs.cache import Added, Delta, Updated
from kcs.core import Object
from kcs.informer._handler import HandlerResult, ResourceEventHandler

__all__ = ["Dispatcher", "HandlerError"]

_log = logging.getLogger("kcs.informer")

# Pending operations.
_ADD = 0
_UPDATE = 1
_DELETE = 2
_REPLACE = 3  # the key was deleted and created again: on_delete(old), then on_add(new)
_ADD_DELETE = 4  # created and deleted unseen: on_add(old), then on_delete(new)

# Deliveries between two checkpoints of the dispatcher task, so that a busy handler of
# plain functions still lets the event loop run.
_CHECKPOINT_EVERY = 64

# Initial objects queued per checkpoint: a handler added to a synced cache of N objects
# queues them in slices between its deliveries instead of all at once (queueing 100,000
# took 75 ms with the event loop blocked, the first delivery after it).
_QUEUE_INITIAL_EVERY = 1024

# Changes held while the initial objects are being queued, past which the rest of them is
# queued at once (so that a slow handler's backlog stays bounded by its keys).
_HOLD_AT_MOST = 4096

_METHODS = ("on_add", "on_update", "on_delete", "on_delete", "on_add")


_Pending = tuple[int, "Object | None", Object, bool]
"""What one key has pending for one handler: ``(op, old, new, initial)``; replaced by a
new tuple when a later change coalesces into it (tuples are the cheapest record here)."""


@dataclass(frozen=True, slots=True)
class HandlerError:
    """The last exception a handler raised (``registration.last_error``).

    ``exception`` carries the user's traceback (``exception.__traceback__``); the same
    traceback was logged on the ``kcs.informer`` logger when it happened.
    """

    handler: str
    """The registration's name."""
    method: str
    """``"on_add"``, ``"on_update"`` or ``"on_delete"``."""
    key: str
    """The key of the object the call was about."""
    exception: Exception
    at: float = field(default=0.0, compare=False)
    """When it happened (``time.time()``)."""

    def __str__(self) -> str:
        return (
            f"event handler {self.handler} raised in {self.method}({self.key}): "
            f"{type(self.exception).__name__}: {self.exception}"
        )


class Dispatcher:
    """Delivers one handler's changes from a pending queue coalesced by key (internal).

    The informer pushes (:meth:`push_initial`, :meth:`push_deltas`) and runs
    :meth:`run` in a task of its own; the user's :class:`HandlerRegistration` reads the
    public attributes and calls :meth:`remove`. See the module documentation for the
    coalescing rules.
    """

    def __init__(
        self,
        handler: ResourceEventHandler,
        name: str,
        on_remove: Callable[[Dispatcher], None] | None = None,
    ) -> None:
        self.handler = handler
        self.name = name
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._wake = anyio.Event()
        self._idle = anyio.Event()
        self._idle.set()
        self._synced = anyio.Event()
        self._initial_left = 0
        self._initial_pushed = False
        # Initial objects not yet queued (how many, and an iterator on them), and the changes pushed
        # meanwhile, folded in once they all are: the same pending state as queueing
        # them all at once, reached in slices.
        self._initial: Iterator[tuple[str, Object]] = iter(())
        self._initial_left_to_queue = 0
        self._held: list[Delta] = []
        self._scope: anyio.CancelScope | None = None
        self.removed = False
        """Whether :meth:`remove` was called."""
        self._on_remove = on_remove
        self.delivered = 0
        """Handler calls made so far."""
        self.errors = 0
        """Handler calls that raised."""
        self.coalesced = 0
        """Changes folded into an entry that was already pending."""
        self.last_error: HandlerError | None = None
        """The last exception the handler raised, or ``None``."""

    # --- state ---------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Keys with a change not yet delivered (at most one entry per key)."""
        return len(self._pending) + self._initial_left_to_queue

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
        """Wait until nothing is pending and no call is in progress; ``False`` if
        ``timeout`` seconds pass first."""
        with anyio.move_on_after(math.inf if timeout is None else timeout):
            await self._idle.wait()
        return self._idle.is_set()

    def remove(self) -> None:
        """Stop delivering: pending changes are dropped, a call in progress is cancelled.
        Idempotent."""
        if self.removed:
            return
        self.removed = True
        self._pending.clear()
        self._initial, self._initial_left_to_queue, self._held = iter(()), 0, []
        if self._on_remove is not None:
            self._on_remove(self)
        if self._scope is not None:
            self._scope.cancel()
        self._wake.set()
        self._idle.set()

    # --- producer side (the informer's task) -------------------------------------------
    def push_initial(self, keys: Sequence[str], objects: Sequence[Object]) -> None:
        """Queue ``on_add(obj, is_initial=True)`` for each of ``objects`` (done once);
        ``keys[i]`` is the key of ``objects[i]``.

        Takes both sequences (keep them unchanged); the task queues the objects in slices
        between deliveries, and changes pushed before they are all queued fold in after
        them, so the handler sees what it would if they had been queued at once. The keys
        come beside the objects so that queueing reads nothing of an object, as two lists
        because the store gives those at a fraction of the cost of a list of pairs.
        """
        if len(keys) != len(objects):
            raise ValueError(f"{len(keys)} keys for {len(objects)} initial objects")
        if self._initial_pushed or self.removed:
            return
        self._initial_pushed = True
        if not objects:
            self._synced.set()
            return
        # the lengths are checked above
        self._initial = zip(keys, objects, strict=True)
        self._initial_left_to_queue = len(objects)
        self._idle = anyio.Event() if self._idle.is_set() else self._idle
        self._wake.set()

    def _queue_initial(self, count: int) -> None:
        """Queue up to ``count`` more initial objects; after the last, fold in the
        changes held meanwhile."""
        pending = self._pending
        count = min(count, self._initial_left_to_queue)
        left = 0
        for key, obj in islice(self._initial, count):
            if key not in pending:
                pending[key] = (_ADD, None, obj, True)
                left += 1
        self._initial_left += left
        self._initial_left_to_queue -= count
        if self._initial_left_to_queue:
            return
        self._initial = iter(())
        held, self._held = self._held, []
        if self._initial_left == 0:
            self._synced.set()
        if held:
            self._fold(held)

    def push_deltas(self, deltas: list[Delta]) -> None:
        """Queue a batch of store changes, coalescing per key, and wake the task."""
        if self.removed:
            return
        if self._initial_left_to_queue:  # the initial objects first (see push_initial)
            self._held.extend(deltas)
            if len(self._held) > _HOLD_AT_MOST:
                self._queue_initial(self._initial_left_to_queue)
            return
        self._fold(deltas)

    def _fold(self, deltas: list[Delta]) -> None:
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
        elif op == _ADD_DELETE:  # the handler never had it: only the new object matters
            self._pending[key] = (_ADD, None, new, initial)
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
        op, old, last, initial = p
        if op == _ADD:  # created and deleted before the handler saw it: tell both
            pending[key] = (_ADD_DELETE, last, obj, initial)
        elif op == _ADD_DELETE:
            pending[key] = (_ADD_DELETE, old, obj, initial)
        else:
            pending[key] = (_DELETE, None, obj, False)

    def _wakeup(self) -> None:
        """Called after a batch was pushed: let the dispatcher task run."""
        if self._pending:
            self._idle = anyio.Event() if self._idle.is_set() else self._idle
            self._wake.set()

    def _initial_done(self) -> None:
        self._initial_left -= 1
        if self._initial_left == 0 and not self._initial_left_to_queue:
            self._synced.set()

    # --- consumer side (the registration's own task) ---------------------------------
    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Deliver pending changes until removed or cancelled."""
        with anyio.CancelScope() as scope:
            self._scope = scope
            if self.removed:
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
                if self._initial_left_to_queue:
                    self._queue_initial(_QUEUE_INITIAL_EVERY)
                    continue
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
                elif op == _REPLACE:  # the old object's deletion first, in its own call
                    res = None
                    await self._deliver(key, "on_delete", on_delete, old)
                    res = on_add(new, False)
                else:  # _ADD_DELETE: the add first, in its own call
                    res = None
                    await self._deliver(key, "on_add", on_add, old, initial)
                    res = on_delete(new)
                if res is not None:
                    await res
            except Exception as exc:
                failed = {_REPLACE: "on_add", _ADD_DELETE: "on_delete"}.get(op, _METHODS[op])
                self._failed(key, failed, exc)
            if initial:
                self._initial_done()
            since_checkpoint += 1
            if since_checkpoint >= _CHECKPOINT_EVERY:
                since_checkpoint = 0
                await anyio.lowlevel.checkpoint()
                if self._initial_left_to_queue:
                    self._queue_initial(_QUEUE_INITIAL_EVERY)

    async def _deliver(
        self, key: str, name: str, method: Callable[..., HandlerResult], *args: object
    ) -> None:
        """One handler call; an exception is logged and counted, never raised."""
        self.delivered += 1
        try:
            res = method(*args)
            if res is not None:
                await res
        except Exception as exc:
            self._failed(key, name, exc)

    def _failed(self, key: str, method: str, exc: Exception) -> None:
        self.errors += 1
        self.last_error = HandlerError(self.name, method, key, exc, time.time())
        _log.error(
            "event handler %s raised in %s(%s); continuing with the next change",
            self.name,
            method,
            key,
            exc_info=exc,
        )

    def __repr__(self) -> str:
        return (
            f"Dispatcher({self.name}, pending={self.pending}, "
            f"delivered={self.delivered}, errors={self.errors})"
        )
