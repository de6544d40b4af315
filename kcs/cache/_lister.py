"""The read-only face of a store: everything a reader may do with a cache, nothing more.

An informer keeps its :class:`~kcs.cache.Store` to itself and hands out its
:class:`Lister`; so does any code that owns a store and shares its contents. A lister
holds no state of its own: every call reads the store as it is at that moment, through the
store's public reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kcs.cache._history import HistoryWatch
from kcs.cache._options import StoreOptions
from kcs.core import FieldSelectorLike, LabelSelectorLike, Object

if TYPE_CHECKING:
    from kcs.cache._store import Store

__all__ = ["Lister"]


class Lister:
    """Reads a :class:`~kcs.cache.Store`: get by name, list by selector, read an index,
    wait for a resourceVersion, watch the history. It cannot change the store.

    What a reader gets: the cached :class:`~kcs.core.Object` instances themselves, in
    a new ``list`` the caller owns (in no particular order). The objects are shared with
    the store and every other reader: never mutate them, including their ``labels`` and
    ``annotations`` dicts (copy with ``obj.to_dict()`` to edit; the mutation detector
    fails loudly in tests). Each call reads the store as it is at that moment: a relist
    is seen entirely or not at all.
    """

    __slots__ = ("_store",)

    def __init__(self, store: Store) -> None:
        self._store = store

    # --- objects ---------------------------------------------------------------------
    def get(self, name: str, namespace: str | None = None) -> Object | None:
        """The object ``name`` (in ``namespace`` when namespaced), or ``None``."""
        return self._store.get(f"{namespace}/{name}" if namespace else name)

    def by_key(self, key: str) -> Object | None:
        """The object under ``key`` (``namespace/name``, or ``name``), or ``None``."""
        return self._store.get(key)

    def keys(self) -> list[str]:
        """The keys of every cached object (a new list, in no particular order)."""
        return self._store.keys()

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, key: object) -> bool:
        return key in self._store

    # --- indexes ---------------------------------------------------------------------
    def by_index(self, name: str, value: str) -> list[Object]:
        """The objects whose index ``name`` has ``value`` (``KeyError``: no such index)."""
        return self._store.by_index(name, value)

    def index_keys(self, name: str, value: str) -> list[str]:
        """The keys of the objects whose index ``name`` has ``value`` (``KeyError``: no
        such index)."""
        return self._store.index_keys(name, value)

    def index_values(self, name: str) -> list[str]:
        """The values of index ``name`` some cached object has (``KeyError``: no index)."""
        return self._store.index_values(name)

    def index_names(self) -> list[str]:
        """The names of the store's indexes (see :func:`~kcs.cache.label_index_name`)."""
        return self._store.index_names()

    # --- freshness and history -------------------------------------------------------
    @property
    def resource_version(self) -> str:
        """The resourceVersion the store has reached (``""`` before anything arrived)."""
        return self._store.resource_version

    @property
    def has_synced(self) -> bool:
        """Whether a first complete list has been swapped in (stays true afterwards)."""
        return self._store.has_synced

    @property
    def options(self) -> StoreOptions:
        """The store's options (its indexes included)."""
        return self._store.options

    @property
    def mutation_detector(self) -> bool:
        """Whether the store's mutation detector is on."""
        return self._store.mutation_detector

    async def wait_for(
        self,
        resource_version: str,
        timeout: float | None = None,  # noqa: ASYNC109 - the answer says whether it was reached
    ) -> bool:
        """Wait until the store has reached ``resource_version``; ``False`` on timeout
        (see :meth:`Store.wait_for <kcs.cache.Store.wait_for>`)."""
        return await self._store.wait_for(resource_version, timeout)

    async def wait_synced(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until the first relist is committed; ``False`` on timeout."""
        return await self._store.wait_synced(timeout)

    def watch(self, since_rv: str | None = None) -> HistoryWatch:
        """Watch the store's changes after ``since_rv`` (see
        :meth:`Store.watch <kcs.cache.Store.watch>`)."""
        return self._store.watch(since_rv)

    def verify(self) -> None:
        """Check every cached object against its fingerprint (mutation detector on);
        raises :class:`~kcs.cache.CacheMutationError` naming the first mutated key."""
        self._store.verify()

    def __repr__(self) -> str:
        return f"<Lister of {self._store!r}>"

    # Last in the class body: a method named ``list`` would shadow the builtin in the
    # annotations before it.
    def list(
        self,
        namespace: str | None = None,
        label_selector: LabelSelectorLike = None,
        field_selector: FieldSelectorLike = None,
    ) -> list[Object]:
        """The cached objects in ``namespace`` (``None`` or ``""``: all) that match.

        Selectors are accepted as :class:`~kcs.core.LabelSelector` /
        :class:`~kcs.core.FieldSelector`, their string forms, or ``{key: value}``
        mappings, with the apiserver's semantics (a missing field reads as ``""``),
        answered from the indexes (see :meth:`Store.list <kcs.cache.Store.list>`).
        Raises :class:`~kcs.core.SelectorError` for a selector that does not parse.
        """
        return self._store.list(namespace, label_selector, field_selector)
