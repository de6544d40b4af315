"""Event handlers: what an informer tells the code that subscribes to it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from kcs.core import Object

__all__ = ["FunctionHandler", "HandlerResult", "ResourceEventHandler"]

HandlerResult = None | Awaitable[None]
"""A handler method returns nothing (a plain function) or an awaitable (an ``async def``)."""


class ResourceEventHandler:
    """Receives the changes an informer's cache goes through. Subclass and override.

    Each method may be a plain function or an ``async def``; the informer awaits what it
    returns. The default methods do nothing.

    Guarantees (see :meth:`~kcs.informer.Informer.add_handler`):

    * calls for one handler are made one at a time, in the order the keys changed, by a
      dispatcher task of its own: a slow handler never delays the cache or other handlers;
    * pending changes are coalesced per key while the handler is busy, so the handler may
      skip intermediate states but always receives the latest state of every key (or its
      deletion), and its backlog holds at most one entry per key;
    * an exception is logged with its traceback (naming the handler, the method and the
      key), counted and kept as ``registration.last_error``; the next change is
      delivered as usual.

    The objects passed in are the cached objects themselves: never mutate them.
    """

    def on_add(self, obj: Object, is_initial: bool) -> HandlerResult:
        """``obj`` appeared. ``is_initial`` is true for objects of the first list (or of
        the cache as it was when the handler was added after sync)."""
        return None

    def on_update(self, old: Object, new: Object) -> HandlerResult:
        """The object changed from ``old`` to ``new`` (``old`` is the state this handler
        last saw, which may be several resourceVersions back when changes coalesced)."""
        return None

    def on_delete(self, obj: Object) -> HandlerResult:
        """The object is gone; ``obj`` is its last known state."""
        return None


OnAdd = Callable[[Object, bool], HandlerResult]
OnUpdate = Callable[[Object, Object], HandlerResult]
OnDelete = Callable[[Object], HandlerResult]


class FunctionHandler(ResourceEventHandler):
    """A :class:`ResourceEventHandler` made of plain or async functions; any may be omitted.

    ``FunctionHandler(on_add=lambda obj, initial: queue.add(obj.key))``.
    """

    __slots__ = ("_add", "_delete", "_update")

    def __init__(
        self,
        on_add: OnAdd | None = None,
        on_update: OnUpdate | None = None,
        on_delete: OnDelete | None = None,
    ) -> None:
        self._add = on_add
        self._update = on_update
        self._delete = on_delete

    def on_add(self, obj: Object, is_initial: bool) -> HandlerResult:
        """Call the ``on_add`` function, if given."""
        return None if self._add is None else self._add(obj, is_initial)

    def on_update(self, old: Object, new: Object) -> HandlerResult:
        """Call the ``on_update`` function, if given."""
        return None if self._update is None else self._update(old, new)

    def on_delete(self, obj: Object) -> HandlerResult:
        """Call the ``on_delete`` function, if given."""
        return None if self._delete is None else self._delete(obj)

    def __repr__(self) -> str:
        fns = [
            f"{n}={getattr(f, '__qualname__', None) or f!r}"
            for n, f in (("on_add", self._add), ("on_update", self._update),
                         ("on_delete", self._delete))
            if f is not None
        ]
        return f"FunctionHandler({', '.join(fns)})"
