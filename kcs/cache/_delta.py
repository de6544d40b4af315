"""The closed set of changes a :class:`~kcs.cache.Store` goes through.

Every write to a store that changes it returns one of these, its history records them, and
the informer above dispatches them to handlers. They are frozen, slotted and not tracked
by the garbage collector (msgspec Structs), so a history of ten thousand of them adds no
work to a collection; they support ``match`` with positional patterns::

    match delta:
        case Added(obj): ...
        case Updated(old, new): ...
        case Deleted(obj): ...

The objects inside are the cached :class:`~kcs.core.Object` instances themselves (no
copy): read them, never mutate them.
"""

from __future__ import annotations

import msgspec

from kcs.core import Object

__all__ = ["Added", "Deleted", "Delta", "Updated"]


class Added(msgspec.Struct, frozen=True, gc=False):
    """``obj`` was not in the store and now is."""

    obj: Object

    @property
    def key(self) -> str:
        """The store key of the object (``namespace/name`` or ``name``)."""
        return self.obj.key


class Updated(msgspec.Struct, frozen=True, gc=False):
    """The stored ``old`` was replaced by ``new`` (a newer resourceVersion, same key)."""

    old: Object
    new: Object

    @property
    def key(self) -> str:
        """The store key of the object (``namespace/name`` or ``name``)."""
        return self.new.key


class Deleted(msgspec.Struct, frozen=True, gc=False):
    """The key is no longer in the store; ``obj`` is the object's last known state.

    After a watch DELETED event that is the state the server sent with the event; after a
    relist it is the object the store held.
    """

    obj: Object

    @property
    def key(self) -> str:
        """The store key of the object (``namespace/name`` or ``name``)."""
        return self.obj.key


Delta = Added | Updated | Deleted
"""Any change of a store (a closed union: match on it)."""
