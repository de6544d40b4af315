"""One place where a watcher's troubles are counted, logged and handed to its hook."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from kcs.watch._errors import WatchError, WatchErrorHook, WatchErrorKind
from kcs.watch._stats import WatchStats

__all__ = ["Reporter"]

_log = logging.getLogger("kcs.watch")


class Reporter:
    """Turns a trouble into a :class:`WatchError`: counted, logged once, hook called.

    ``scope`` describes the watch in plain words (``"pods in all namespaces"``); the
    watcher and its stream decoders share one reporter. ``position`` tells the watcher's
    resourceVersion: a report that names none is about that point.
    """

    __slots__ = ("hook", "position", "scope", "stats")

    def __init__(
        self,
        stats: WatchStats,
        scope: str,
        hook: WatchErrorHook | None = None,
        position: Callable[[], str] | None = None,
    ) -> None:
        self.stats = stats
        self.scope = scope
        self.hook = hook
        self.position = position

    def report(
        self,
        kind: WatchErrorKind,
        message: str,
        *,
        code: int | None = None,
        permanent: bool = False,
        resource_version: str | None = None,
        then: str = "",
        level: int = logging.WARNING,
        exc_info: bool = False,
    ) -> WatchError:
        """Record one trouble; ``then`` (logged, not part of the message) says what the
        watcher does next, such as ``"retrying in 0.80s"``. ``resource_version`` is where
        it happened (``None``: the reporter's ``position``)."""
        if resource_version is None:
            resource_version = self.position() if self.position is not None else ""
        error = WatchError(kind, message, code, permanent, resource_version, time.time())
        self.stats.record(error)
        if _log.isEnabledFor(level):
            _log.log(level, "%s%s", message, f"; {then}" if then else "", exc_info=exc_info)
        hook = self.hook
        if hook is not None:
            try:
                hook(error)
            except Exception:
                _log.exception("the watch error hook %r raised; ignored", hook)
        return error
