"""Listers: typed, indexed reads of a store.

A query is answered from the indexes when it can be:

1. each ``key=value`` / ``key in (...)`` requirement of the label selector on an indexed
   label key, and each ``path=value`` requirement of the field selector on an indexed
   field, gives a candidate set of keys; the sets are intersected smallest first;
2. with no such requirement, the namespace index gives the candidates;
3. only then are all objects scanned.

Every candidate is then checked against whatever the indexes did not answer (the
namespace, ``!=``, ``notin``, exists, unindexed keys and fields), so the answer is
always exactly the objects a scan would find.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping

from kcs.cache._buckets import Buckets
from kcs.cache._indexer import Indexer
from kcs.cache._store import Store
from kcs.core import (
    FieldRequirement,
    FieldSelector,
    LabelRequirement,
    LabelSelector,
    Object,
    field_value,
)

__all__ = ["Lister"]

LabelSelectorLike = LabelSelector | str | Mapping[str, str] | None
FieldSelectorLike = FieldSelector | str | Mapping[str, str] | None


def _candidates(buckets: Buckets, values: Iterable[str]) -> Collection[str]:
    """The keys under any of ``values`` (the live bucket itself when there is one value)."""
    found = [b for v in values if (b := buckets.get(v)) is not None]
    if not found:
        return ()
    if len(found) == 1:
        only = found[0]
        return (only,) if isinstance(only, str) else only
    out: set[str] = set()
    for b in found:
        if isinstance(b, str):
            out.add(b)
        else:
            out.update(b)
    return out


class Lister:
    """Reads a :class:`~kcs.cache.Store`: get by name, list by selector, read an index.

    What a reader gets: the cached :class:`~kcs.core.Object` instances themselves, in
    a new ``list`` the caller owns (in no particular order). The objects are shared with
    the store and every other reader: never mutate them, including their ``labels`` and
    ``annotations`` dicts (copy with ``obj.to_dict()`` to edit; the mutation detector
    fails loudly in tests). Each call reads the store as it is at that moment: a relist
    is seen entirely or not at all. A lister holds no state of its own and always reads
    the store's current contents.
    """

    __slots__ = ("_store",)

    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def store(self) -> Store:
        """The store this lister reads."""
        return self._store

    def get(self, name: str, namespace: str | None = None) -> Object | None:
        """The object ``name`` (in ``namespace`` when namespaced), or ``None``."""
        return self._store.get(f"{namespace}/{name}" if namespace else name)

    def by_index(self, name: str, value: str) -> list[Object]:
        """The objects whose index ``name`` has ``value`` (``KeyError``: no such index)."""
        return self._store.by_index(name, value)

    def index_values(self, name: str) -> list[str]:
        """The values of index ``name`` some cached object has (``KeyError``: no index)."""
        return self._store.index_values(name)

    def list(
        self,
        namespace: str | None = None,
        label_selector: LabelSelectorLike = None,
        field_selector: FieldSelectorLike = None,
    ) -> list[Object]:
        """The cached objects in ``namespace`` (``None`` or ``""``: all) that match.

        Selectors are accepted as :class:`~kcs.core.LabelSelector` /
        :class:`~kcs.core.FieldSelector`, their string forms, or ``{key: value}``
        mappings, with the apiserver's semantics (a missing field reads as ``""``).
        Raises :class:`~kcs.core.SelectorError` for a selector that does not parse.
        """
        labels = LabelSelector.of(label_selector)
        fields = FieldSelector.of(field_selector)
        store = self._store
        objects = store._objects
        indexer = store._indexer
        ns = namespace or None

        candidates: list[Collection[str]] = []
        rest_labels: list[LabelRequirement] = []
        for req in labels.requirements:
            if req.op in ("=", "in") and indexer.label_indexed(req.key):
                buckets = indexer.buckets(f"label:{req.key}")
                candidates.append(_candidates(buckets, req.values))
            else:
                rest_labels.append(req)
        rest_fields: list[FieldRequirement] = []
        for freq in fields.requirements:
            if freq.op == "=" and indexer.field_values(freq.path) is not None:
                buckets = indexer.buckets(f"field:{freq.path}")
                candidates.append(_candidates(buckets, (freq.value,)))
            else:
                rest_fields.append(freq)
        check_ns = ns
        if not candidates and ns is not None and indexer.has_namespace_index:
            candidates.append(_candidates(indexer.buckets("namespace"), (ns,)))
            check_ns = None

        found: Iterable[Object]
        if candidates:
            candidates.sort(key=len)
            first, others = candidates[0], candidates[1:]
            if others:
                found = [objects[k] for k in first if all(k in c for c in others)]
            else:
                found = [objects[k] for k in first]
        else:
            found = objects.values()
        # What the indexes did not answer, one cheap pass per requirement.
        if check_ns is not None:
            found = [o for o in found if o.metadata.namespace == check_ns]
        for req in rest_labels:
            found = [o for o in found if req.matches(o.metadata.labels)]
        for freq in rest_fields:
            found = [o for o in found if freq.matches(_field_reader(indexer, o))]
        return found if isinstance(found, list) else list(found)


def _field_reader(indexer: Indexer, obj: Object) -> Callable[[str], str]:
    """Reads a field of ``obj`` for a field selector: from the index when it is indexed."""

    def read(path: str) -> str:
        values = indexer.field_values(path)
        if values is not None:
            known = values.get(obj.metadata.key)
            if known is not None:
                return known
        return field_value(obj, path)

    return read
