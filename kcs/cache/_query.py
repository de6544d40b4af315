"""Answering a selector from a store's indexes.

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
from kcs.cache._options import NAMESPACE_INDEX, field_index_name, label_index_name
from kcs.core import (
    FieldRequirement,
    FieldSelector,
    LabelRequirement,
    LabelSelector,
    Object,
    field_value,
)

__all__ = ["select"]


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


def select(
    objects: Mapping[str, Object],
    indexer: Indexer,
    namespace: str | None,
    labels: LabelSelector,
    fields: FieldSelector,
) -> list[Object]:
    """The objects in ``namespace`` (``None``: all) that match both selectors.

    A new list of the stored instances, answered from ``indexer`` where it can be (see the
    module documentation); always exactly what a scan of ``objects`` would find.
    """
    ns = namespace or None
    candidates: list[Collection[str]] = []
    rest_labels: list[LabelRequirement] = []
    for req in labels.requirements:
        if req.op in ("=", "in") and indexer.label_indexed(req.key):
            buckets = indexer.buckets(label_index_name(req.key))
            candidates.append(_candidates(buckets, req.values))
        else:
            rest_labels.append(req)
    rest_fields: list[FieldRequirement] = []
    for freq in fields.requirements:
        if freq.op == "=" and indexer.field_values(freq.path) is not None:
            buckets = indexer.buckets(field_index_name(freq.path))
            candidates.append(_candidates(buckets, (freq.value,)))
        else:
            rest_fields.append(freq)
    check_ns = ns
    if not candidates and ns is not None and indexer.has_namespace_index:
        candidates.append(_candidates(indexer.buckets(NAMESPACE_INDEX), (ns,)))
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
