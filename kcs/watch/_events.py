"""The closed set of events a :class:`~kcs.watch.Watcher` yields.

Two phases, as in kube-rs' watcher:

* **Initial list** — ``InitStart``, then one ``InitApply`` per object, then ``InitDone``.
  The objects between ``InitStart`` and ``InitDone`` (each key at most once) are the
  complete state of the collection at ``InitDone.resource_version``; a store buffers
  them and swaps them in at ``InitDone`` in one step. Every relist (after 410 Gone)
  arrives in this shape again.
  An ``InitStart`` can arrive again before ``InitDone`` when a list had to be restarted;
  the consumer then drops what it buffered since the previous ``InitStart``.
* **Watch** — ``Apply`` (ADDED or MODIFIED), ``Delete`` and ``Bookmark``, in
  resourceVersion order, each exactly once.

The classes are frozen, slotted and not tracked by the garbage collector (msgspec
Structs): creating one costs about 40 ns, a frozen dataclass about 200 ns. They support
``match`` with positional patterns: ``case Apply(obj): ...``.
"""

from __future__ import annotations

import msgspec

from kcs.core import BodySpans, Object

__all__ = ["Apply", "Bookmark", "Delete", "Event", "InitApply", "InitDone", "InitStart"]


class InitStart(msgspec.Struct, frozen=True, gc=False):
    """A (re)list begins: start buffering a new complete state, dropping any partial one."""


class InitApply(msgspec.Struct, frozen=True, gc=False):
    """One object of the list that started with the last :class:`InitStart`.

    ``spans``: as for :class:`Apply` (pass them to :meth:`Relist.add
    <kcs.cache.Relist.add>`).
    """

    obj: Object
    spans: BodySpans | None = None


class InitDone(msgspec.Struct, frozen=True, gc=False):
    """The list is complete: the buffered objects are the state at ``resource_version``.

    Swap them in atomically; objects held before the list and absent from it are gone.
    """

    resource_version: str


class Apply(msgspec.Struct, frozen=True, gc=False):
    """An object was added or modified (watch event ADDED or MODIFIED).

    ``obj.resource_version`` is newer than that of every event before it. ``spans``
    say where each top-level field lies in ``obj.body`` when the watcher's codec decoded
    it (``None`` otherwise): pass them to :meth:`Store.apply <kcs.cache.Store.apply>`,
    which then decodes an indexed field path only when its field changed.
    """

    obj: Object
    spans: BodySpans | None = None


class Delete(msgspec.Struct, frozen=True, gc=False):
    """An object was deleted; ``obj`` is its last state as the server sent it."""

    obj: Object


class Bookmark(msgspec.Struct, frozen=True, gc=False):
    """Nothing to apply, but the collection has reached ``resource_version``.

    Everything up to it has been delivered; a store may advance its resourceVersion.
    """

    resource_version: str


Event = InitStart | InitApply | InitDone | Apply | Delete | Bookmark
"""Any event a :class:`~kcs.watch.Watcher` yields (a closed union: match on it)."""
