"""Errors raised by the cache."""

from __future__ import annotations

from kcs.core import Gone

__all__ = ["CacheMutationError", "HistoryExpired"]


class CacheMutationError(RuntimeError):
    """A cached object was mutated after the store took it (a bug in the caller).

    Cached objects are shared by every reader: their ``labels`` and ``annotations`` dicts
    (and ``managed_fields``, when kept) must never be changed in place. Copy first with
    ``obj.to_dict()``. ``key`` names the object that was changed.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(
            f"cache mutation detected: the cached object {key!r} was modified after the store "
            "took it. Cached objects are shared by every reader and must never be mutated; "
            "copy with obj.to_dict() before changing anything."
        )


class HistoryExpired(Gone):
    """The store's history no longer reaches back to the requested resourceVersion.

    The in-process counterpart of the apiserver's ``410 Gone`` for a watch: a subclass of
    :class:`kcs.core.Gone`, so one ``except Gone`` handles both. Raised by
    :meth:`~kcs.cache.Store.watch` when ``since_rv`` is older than the oldest event the
    history holds, and by its iterator when the consumer fell so far behind that events
    it had not read yet were dropped. Recover by reading the store again (a "relist"
    from the cache) and watching from its current resourceVersion.
    """

    def __init__(self, message: str) -> None:
        super().__init__({"code": 410, "reason": "Expired", "message": message})
