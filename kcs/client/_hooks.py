"""Hooks on the client: the seam for what cuts across every call.

Cross-cutting concerns attach to the one :class:`~kcs.client.Client` instead of wrapping
it in classes that copy its verbs:

* a :class:`WriteHook` sees the object every successful write stored (read-your-writes
  records its resourceVersion; see :mod:`kcs.controller`);
* a :class:`~kcs.client.RequestObserver` sees every finished call (telemetry);
* a :class:`~kcs.client.HedgedReads` policy hedges GETs and LISTs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kcs.core import Object, Resource

__all__ = ["WriteHook", "WriteHooks"]

_log = logging.getLogger("kcs.client")

WriteHook = Callable[[Resource, Object], None]
"""Called with the resource and the object as stored after every successful write that
stored one (create, update, patch, their status forms, and a delete answered with the
object while finalizers or a grace period hold it). Not called for dry runs. Runs in the
task that made the write, synchronously: it must be quick and must not raise (an
exception is logged and ignored)."""


class WriteHooks:
    """The write hooks of one client, called in the order they were added."""

    __slots__ = ("_hooks",)

    def __init__(self) -> None:
        self._hooks: tuple[WriteHook, ...] = ()

    def add(self, hook: WriteHook) -> Callable[[], None]:
        """Add ``hook``; returns a function that removes it again (idempotent)."""
        self._hooks = (*self._hooks, hook)

        def remove() -> None:
            self._hooks = tuple(h for h in self._hooks if h is not hook)

        return remove

    def __len__(self) -> int:
        return len(self._hooks)

    def written(self, resource: Resource, obj: Object) -> None:
        """Tell every hook about ``obj``."""
        for hook in self._hooks:
            try:
                hook(resource, obj)
            except Exception:
                _log.exception("a write hook failed")
