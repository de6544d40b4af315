"""The store's indexes and how they follow each change.

Five kinds, each a map of index value -> keys (:mod:`kcs.cache._buckets`):

* ``namespace`` — ``metadata.namespace`` (cluster-scoped objects are not in it);
* ``label:<key>`` — one per chosen label key (none by default): ``app`` -> ``web`` ->
  keys, or one per label key of any object when every key is indexed;
* ``field:<path>`` — a path in the object such as ``spec.nodeName``, read with
  :meth:`Object.get_path <kcs.core.Object.get_path>`; the value of each object is kept
  so that an update decodes the path again only when the body changed, and touches the
  index only when the value changed;
* ``owner`` — the uid of each ``metadata.ownerReferences`` entry;
* custom — a function ``Object -> Iterable[str]`` registered under a name.

An update compares old and new index values and touches an index only where they differ:
a MODIFIED pod whose indexed labels, owners and ``spec`` did not change costs a lookup per
indexed label key, a comparison of the owner references and one of its ``spec`` bytes
(with the codec's body spans), and touches no index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from kcs.cache._buckets import Buckets, bucket_add, bucket_discard
from kcs.cache._options import (
    FIELD_INDEX_PREFIX,
    LABEL_INDEX_PREFIX,
    NAMESPACE_INDEX,
    OWNER_INDEX,
    IndexFunc,
    IndexOptions,
    field_index_name,
    label_index_name,
)
from kcs.core import BodySpans, Object, ObjectMeta, field_reader

__all__ = ["Indexer"]

_EMPTY: Buckets = {}  # returned for a label key no object has; never mutated


def _values_of(fn: IndexFunc, obj: Object) -> frozenset[str]:
    values = fn(obj)
    if isinstance(values, str):
        return frozenset((values,))
    return frozenset(values)


class _FieldIndex:
    """One field path: value -> keys, and key -> value (to compare on update).

    ``spans`` holds, for the objects that came with :class:`~kcs.core.BodySpans`, where
    the path's top-level field (``head``) lies in the stored body: an update whose field
    has the same bytes keeps the value without decoding the path.
    """

    __slots__ = ("buckets", "head", "in_metadata", "path", "read", "spans", "values")

    def __init__(self, path: str) -> None:
        self.path = path
        self.read = field_reader(path)  # field_value of this path, looked up once
        self.head = path.partition(".")[0]
        self.in_metadata = path.startswith("metadata.")
        self.buckets: Buckets = {}
        self.values: dict[str, str] = {}
        self.spans: dict[str, tuple[int, int]] = {}


class Indexer:
    """The indexes of one store (internal: the store owns it and calls it on every change).

    Built from :class:`~kcs.cache.IndexOptions`; :meth:`extend` adds indexes later (never
    removes one). Not thread-safe; the store calls it from its event loop only.
    """

    __slots__ = ("_all_labels", "_custom", "_fields", "_labels", "_namespace", "_owners")

    def __init__(self, options: IndexOptions) -> None:
        self._namespace: Buckets | None = {} if options.namespace else None
        self._all_labels = options.labels is True
        self._labels: dict[str, Buckets] = {}
        if not isinstance(options.labels, bool):
            for key in sorted(options.labels):
                self._labels[key] = {}
        self._fields: dict[str, _FieldIndex] = {
            p: _FieldIndex(p) for p in sorted(options.fields)
        }
        self._owners: Buckets | None = {} if options.owners else None
        self._custom: dict[str, tuple[IndexFunc, Buckets]] = {
            name: (fn, {}) for name, fn in options.custom
        }

    @property
    def options(self) -> IndexOptions:
        """The indexes kept now, as options (what :meth:`empty_like` builds again)."""
        labels: bool | Iterable[str] = True if self._all_labels else tuple(self._labels)
        return IndexOptions(
            namespace=self._namespace is not None,
            labels=labels,
            fields=tuple(self._fields),
            owners=self._owners is not None,
            custom={name: fn for name, (fn, _) in self._custom.items()},
        )

    def empty_like(self) -> Indexer:
        """A new indexer with the same indexes and no objects."""
        return Indexer(self.options)

    # --- configuration ---------------------------------------------------------------
    def extend(self, options: IndexOptions, objects: Mapping[str, Object]) -> None:
        """Add the indexes ``options`` ask for and this indexer lacks, indexing ``objects``
        (the store's contents) at once. Raises ``ValueError`` (and adds nothing) for a
        custom index name in use with another function."""
        for name, fn in options.custom:
            existing = self._custom.get(name)
            if existing is not None and existing[0] is not fn and existing[0] != fn:
                raise ValueError(
                    f"the custom index {name!r} is already defined with another function "
                    f"({existing[0]!r}, not {fn!r})"
                )
        for name, fn in options.custom:
            if name not in self._custom:
                buckets: Buckets = {}
                for key, obj in objects.items():
                    for value in _values_of(fn, obj):
                        bucket_add(buckets, value, key)
                self._custom[name] = (fn, buckets)
        if options.namespace and self._namespace is None:
            namespaces: Buckets = {}
            for key, obj in objects.items():
                if obj.metadata.namespace:
                    bucket_add(namespaces, obj.metadata.namespace, key)
            self._namespace = namespaces
        if options.owners and self._owners is None:
            owners: Buckets = {}
            for key, obj in objects.items():
                for ref in obj.metadata.owner_references:
                    bucket_add(owners, ref.uid, key)
            self._owners = owners
        for path in sorted(options.fields):
            self._add_field(path, objects)
        if options.labels is True:
            self._index_all_labels(objects)
        elif options.labels is not False:
            for label in sorted(options.labels):
                self._add_label(label, objects)

    def _add_field(self, path: str, objects: Mapping[str, Object]) -> None:
        if path in self._fields:
            return
        index = _FieldIndex(path)
        for key, obj in objects.items():
            value = index.values[key] = index.read(obj, None)
            bucket_add(index.buckets, value, key)
        self._fields[path] = index

    def _add_label(self, label: str, objects: Mapping[str, Object]) -> None:
        if self._all_labels or label in self._labels:
            return
        buckets: Buckets = {}
        for key, obj in objects.items():
            value = obj.metadata.labels.get(label)
            if value is not None:
                bucket_add(buckets, value, key)
        self._labels[label] = buckets

    def _index_all_labels(self, objects: Mapping[str, Object]) -> None:
        if self._all_labels:
            return
        known = set(self._labels)
        indexes = self._labels
        for key, obj in objects.items():
            for label, value in obj.metadata.labels.items():
                if label in known:
                    continue
                buckets = indexes.get(label)
                if buckets is None:
                    indexes[label] = {value: key}
                else:
                    bucket_add(buckets, value, key)
        self._all_labels = True

    # --- maintenance -----------------------------------------------------------------
    def add(
        self,
        key: str,
        obj: Object,
        reuse: Indexer | None = None,
        *,
        spans: BodySpans | None = None,
        values: Mapping[str, str] | None = None,
    ) -> None:
        """Index a new ``obj`` under ``key``.

        ``reuse`` is an indexer that holds this very instance under ``key``: its field
        values are taken instead of decoding the paths again (a relist that finds an
        object unchanged). ``spans`` are those of ``obj.body`` (kept for the next update).
        ``values`` are field values already known for ``obj`` (path -> value).
        """
        # Custom functions first: one that raises leaves every index as it was.
        custom = (
            [(b, _values_of(fn, obj)) for fn, b in self._custom.values()] if self._custom else ()
        )
        # Then the field values, before any index changes: a read that fails (malformed
        # JSON in a hand-made body) leaves every index as it was.
        found = []
        for path, index in self._fields.items():
            value = None
            span = None
            if reuse is not None and (old_index := reuse._fields.get(path)) is not None:
                value = old_index.values.get(key)
                span = old_index.spans.get(key)
            elif values is not None:
                value = values.get(path)
            if spans is not None and not index.in_metadata:
                span = spans.segment(index.head)
            if value is None:
                value = index.read(obj, span)
            found.append((index, value, span))
        meta = obj.metadata
        namespaces = self._namespace
        if namespaces is not None and meta.namespace:
            bucket_add(namespaces, meta.namespace, key)
        if meta.labels:
            self._add_labels(key, meta.labels)
        for index, value, span in found:
            index.values[key] = value
            if span is not None:
                index.spans[key] = span
            bucket_add(index.buckets, value, key)
        self._file_refs(key, meta, custom, bucket_add)

    def remove(self, key: str, obj: Object) -> None:
        """Remove ``obj``, stored under ``key``, from every index."""
        custom = [(b, _values_of(fn, obj)) for fn, b in self._custom.values()]
        meta = obj.metadata
        if self._namespace is not None and meta.namespace:
            bucket_discard(self._namespace, meta.namespace, key)
        if meta.labels:
            self._remove_labels(key, meta.labels)
        for index in self._fields.values():
            value = index.values.pop(key, None)
            index.spans.pop(key, None)
            if value is not None:
                bucket_discard(index.buckets, value, key)
        self._file_refs(key, meta, custom, bucket_discard)

    def _file_refs(
        self,
        key: str,
        meta: ObjectMeta,
        custom: Iterable[tuple[Buckets, Iterable[str]]],
        put: Callable[[Buckets, str, str], None],
    ) -> None:
        """Put ``key`` under its owners' UIDs and its custom index values with ``put``
        (:func:`bucket_add`), or take it from there (:func:`bucket_discard`)."""
        if self._owners is not None:
            for ref in meta.owner_references:
                put(self._owners, ref.uid, key)
        for buckets, values in custom:
            for value in values:
                put(buckets, value, key)

    def update(
        self, key: str, old: Object, new: Object, spans: BodySpans | None = None
    ) -> None:
        """``new`` replaces ``old`` under ``key``: touch only the index values that changed.

        The namespace is part of the key, so it never changes. Custom functions run
        first, so one that raises leaves every index as it was. ``spans`` are those of
        ``new.body``: a field path whose top-level field has the same bytes in ``old``
        (as its spans recorded) is not decoded again.
        """
        custom = []
        if self._custom:
            for fn, buckets in self._custom.values():
                old_values, new_values = _values_of(fn, old), _values_of(fn, new)
                if old_values != new_values:
                    custom.append((buckets, old_values, new_values))
        om, nm = old.metadata, new.metadata
        old_labels, new_labels = om.labels, nm.labels
        if old_labels is not new_labels:
            if self._all_labels:
                if old_labels != new_labels:
                    self._update_labels(key, old_labels, new_labels)
            else:
                # Only the chosen keys matter: two lookups each, not a compare of the dicts.
                for label, buckets in self._labels.items():
                    old_value, new_value = old_labels.get(label), new_labels.get(label)
                    if old_value != new_value:
                        if old_value is not None:
                            bucket_discard(buckets, old_value, key)
                        if new_value is not None:
                            bucket_add(buckets, new_value, key)
        if self._fields:
            old_body, new_body = old.body, new.body
            body_changed = old_body is not new_body and old_body != new_body
            for index in self._fields.values():
                span = None
                if body_changed and not index.in_metadata:
                    # Where the path's top-level field lies in each body, if known.
                    span = spans.segment(index.head) if spans is not None else None
                    if span is None:
                        before = index.spans.pop(key, None)
                    else:
                        before = index.spans.get(key)
                        index.spans[key] = span
                        if (
                            before is not None
                            and before[1] - before[0] == span[1] - span[0]
                            and new_body.startswith(old_body[before[0] : before[1]], span[0])
                        ):
                            continue  # the same field, byte for byte: the same value
                if body_changed or index.in_metadata:
                    value = index.read(new, span)
                    old_value = index.values.get(key)
                    if value != old_value:
                        if old_value is not None:
                            bucket_discard(index.buckets, old_value, key)
                        bucket_add(index.buckets, value, key)
                        index.values[key] = value
        if self._owners is not None and om.owner_references != nm.owner_references:
            owners = self._owners
            old_uids = {ref.uid for ref in om.owner_references}
            new_uids = {ref.uid for ref in nm.owner_references}
            for uid in old_uids - new_uids:
                bucket_discard(owners, uid, key)
            for uid in new_uids - old_uids:
                bucket_add(owners, uid, key)
        for buckets, old_values, new_values in custom:
            for value in old_values - new_values:
                bucket_discard(buckets, value, key)
            for value in new_values - old_values:
                bucket_add(buckets, value, key)

    def _add_labels(self, key: str, labels: Mapping[str, str]) -> None:
        indexes = self._labels
        if self._all_labels:
            for label, value in labels.items():
                buckets = indexes.get(label)
                if buckets is None:
                    indexes[label] = {value: key}
                    continue
                # Every label of every listed object comes here: the two common cases
                # (a new value, a value many objects share) without a call.
                keys = buckets.get(value)
                if keys is None:
                    buckets[value] = key
                elif type(keys) is set:
                    keys.add(key)
                else:
                    bucket_add(buckets, value, key)
        else:
            for label, buckets in indexes.items():
                found = labels.get(label)
                if found is not None:
                    bucket_add(buckets, found, key)

    def _remove_labels(self, key: str, labels: Mapping[str, str]) -> None:
        indexes = self._labels
        if self._all_labels:
            for label, value in labels.items():
                buckets = indexes.get(label)
                if buckets is not None:
                    bucket_discard(buckets, value, key)
                    if not buckets:
                        del indexes[label]
        else:
            for label, buckets in indexes.items():
                found = labels.get(label)
                if found is not None:
                    bucket_discard(buckets, found, key)

    def _update_labels(self, key: str, old: Mapping[str, str], new: Mapping[str, str]) -> None:
        """Every label key indexed: move ``key`` for the labels that changed."""
        gone = {k: v for k, v in old.items() if new.get(k) != v}
        came = {k: v for k, v in new.items() if old.get(k) != v}
        if gone:
            self._remove_labels(key, gone)
        if came:
            self._add_labels(key, came)

    # --- reading ---------------------------------------------------------------------
    def names(self) -> list[str]:
        """The names of the indexes (every ``label:<key>`` in use when all labels are)."""
        out = []
        if self._namespace is not None:
            out.append(NAMESPACE_INDEX)
        out.extend(label_index_name(k) for k in self._labels)
        out.extend(field_index_name(p) for p in self._fields)
        if self._owners is not None:
            out.append(OWNER_INDEX)
        out.extend(self._custom)
        return out

    def buckets(self, name: str) -> Buckets:
        """The live map of index ``name`` (read only). Raises ``KeyError`` if there is none."""
        if name == NAMESPACE_INDEX and self._namespace is not None:
            return self._namespace
        if name == OWNER_INDEX and self._owners is not None:
            return self._owners
        if name.startswith(LABEL_INDEX_PREFIX):
            label = name[len(LABEL_INDEX_PREFIX) :]
            found = self._labels.get(label)
            if found is not None:
                return found
            if self._all_labels:
                return _EMPTY
        elif name.startswith(FIELD_INDEX_PREFIX):
            index = self._fields.get(name[len(FIELD_INDEX_PREFIX) :])
            if index is not None:
                return index.buckets
        elif name in self._custom:
            return self._custom[name][1]
        raise KeyError(f"the store has no index named {name!r} (it has: {self.names()})")

    @property
    def has_namespace_index(self) -> bool:
        """Whether the namespace index is kept."""
        return self._namespace is not None

    def label_indexed(self, label: str) -> bool:
        """Whether label key ``label`` is indexed."""
        return self._all_labels or label in self._labels

    def field_values(self, path: str) -> dict[str, str] | None:
        """Key -> value of field ``path`` when it is indexed (read only), else ``None``."""
        index = self._fields.get(path)
        return None if index is None else index.values
