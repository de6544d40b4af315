"""What a store keeps and how it indexes it: frozen values, compared by value.

:class:`StoreOptions` (with its :class:`IndexOptions`) is built once — by the user, an
informer or the controller builder — and passed intact to the :class:`~kcs.cache.Store`;
every default is stated here, once. Functions in it (a ``transform``, custom index
functions) compare by identity: two options are equal only when they hold the very same
function objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Final, Literal

from kcs.core import Object

__all__ = [
    "FIELD_INDEX_PREFIX",
    "LABEL_INDEX_PREFIX",
    "NAMESPACE_INDEX",
    "OWNER_INDEX",
    "HistoryRetention",
    "IndexFunc",
    "IndexOptions",
    "StoreOptions",
    "Transform",
    "field_index_name",
    "label_index_name",
]

IndexFunc = Callable[[Object], Iterable[str]]
"""A custom index function: the index values of an object (a ``str`` counts as one value)."""

HistoryRetention = Literal["watched", "always"]
"""When a store records its history: only while a watch of it is alive, or always."""

Transform = Callable[[Object], Object]
"""Applied to every object before it is stored (a projection, such as dropping status)."""

NAMESPACE_INDEX: Final = "namespace"
"""The name of the namespace index (client-go's ``cache.NamespaceIndex``)."""
OWNER_INDEX: Final = "owner"
"""The name of the owner index: owner uid -> keys of the objects it owns."""
LABEL_INDEX_PREFIX: Final = "label:"
FIELD_INDEX_PREFIX: Final = "field:"

_EMPTY_BODY: Final = b"{}"


def label_index_name(key: str) -> str:
    """The index name of label ``key``: ``label_index_name("app") == "label:app"``."""
    return LABEL_INDEX_PREFIX + key


def field_index_name(path: str) -> str:
    """The index name of field ``path``: ``"field:spec.nodeName"``."""
    return FIELD_INDEX_PREFIX + path


def _check_custom_name(name: str) -> None:
    if (
        not name
        or name in (NAMESPACE_INDEX, OWNER_INDEX)
        or name.startswith((LABEL_INDEX_PREFIX, FIELD_INDEX_PREFIX))
    ):
        raise ValueError(f"{name!r} is reserved for a built-in index; choose another name")


@dataclass(frozen=True, slots=True, init=False)
class IndexOptions:
    """The indexes of a store (see ``docs/caches-and-indexes.md``).

    * ``namespace`` — namespace -> keys (on by default);
    * ``labels`` — a collection of label keys to index (opt-in by key); ``True``: every
      label key; ``False`` or empty: none (the default). A label selector on a key with
      no index is still answered exactly, by checking the candidates the other indexes
      give (or every object in the namespace); an index only makes it faster;
    * ``fields`` — field paths such as ``"spec.nodeName"``;
    * ``owners`` — owner uid -> keys;
    * ``custom`` — custom index functions by name.

    Normalized on construction (``labels`` and ``fields`` become frozensets, ``custom`` a
    tuple of ``(name, function)`` sorted by name), so equal settings are equal values.
    Raises ``ValueError`` for a custom name that is reserved (``namespace``, ``owner``,
    ``label:*``, ``field:*``).
    """

    namespace: bool
    labels: bool | frozenset[str]
    fields: frozenset[str]
    owners: bool
    custom: tuple[tuple[str, IndexFunc], ...]

    def __init__(
        self,
        *,
        namespace: bool = True,
        labels: bool | Iterable[str] = False,
        fields: Iterable[str] = (),
        owners: bool = False,
        custom: Mapping[str, IndexFunc] | Iterable[tuple[str, IndexFunc]] = (),
    ) -> None:
        if isinstance(labels, str) or isinstance(fields, str):
            raise TypeError("labels and fields take collections of names, not one string")
        if not isinstance(labels, bool):
            labels = frozenset(labels) or False
        pairs = dict(custom.items() if isinstance(custom, Mapping) else custom)
        for name in pairs:
            _check_custom_name(name)
        object.__setattr__(self, "namespace", bool(namespace))
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "fields", frozenset(fields))
        object.__setattr__(self, "owners", bool(owners))
        object.__setattr__(self, "custom", tuple(sorted(pairs.items(), key=lambda p: p[0])))

    def label_indexed(self, key: str) -> bool:
        """Whether label ``key`` is indexed."""
        return self.labels is True or (self.labels is not False and key in self.labels)

    def merge(self, other: IndexOptions) -> IndexOptions:
        """Every index either asks for: what a shared informer does with a second request.

        Indexes are only ever added: ``namespace`` and ``owners`` if either has them,
        every label key if either indexes every label key (else the union of the keys),
        the union of the field paths and of the custom indexes. The same custom name with
        two different functions raises ``ValueError`` naming it.
        """
        if self.labels is True or other.labels is True:
            labels: bool | frozenset[str] = True
        else:
            labels = (self.labels or frozenset()) | (other.labels or frozenset())
        custom = dict(self.custom)
        for name, fn in other.custom:
            mine = custom.get(name)
            if mine is not None and mine is not fn and mine != fn:
                raise ValueError(
                    f"the custom index {name!r} is already defined with another function "
                    f"({mine!r}, not {fn!r}); pass the same function object, or choose "
                    "another name"
                )
            custom[name] = fn
        return IndexOptions(
            namespace=self.namespace or other.namespace,
            labels=labels,
            fields=self.fields | other.fields,
            owners=self.owners or other.owners,
            custom=custom,
        )

    def names(self) -> list[str]:
        """The index names these options create (``label:*`` only for named label keys)."""
        out = [NAMESPACE_INDEX] if self.namespace else []
        if not isinstance(self.labels, bool):
            out.extend(label_index_name(k) for k in sorted(self.labels))
        out.extend(field_index_name(p) for p in sorted(self.fields))
        if self.owners:
            out.append(OWNER_INDEX)
        out.extend(name for name, _ in self.custom)
        return out


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """What a :class:`~kcs.cache.Store` keeps, and how it indexes it.

    ``transform`` runs on every object before it is stored (it must keep name, namespace
    and resourceVersion, and be idempotent). ``metadata_only=True`` stores
    ``apiVersion``, ``kind`` and ``metadata`` only (``body`` is ``b"{}"``): what a
    metadata-only informer (``PartialObjectMetadata``) stores; its field indexes may use
    ``metadata.*`` paths only. ``history_size`` recent changes are kept for
    :meth:`Store.watch() <kcs.cache.Store.watch>` (``0``: none), with
    ``history_retention``: ``"watched"`` (the default) records them only while a watch
    of the store is alive, so that a store nobody watches keeps no replaced objects;
    ``"always"`` records every change, so that a watch can start from any of the last
    ``history_size`` changes, made before it was opened. ``mutation_detector``:
    ``True``/``False``, or ``None`` to follow the environment variable
    ``KCS_CACHE_MUTATION_DETECTOR``.
    """

    indexes: IndexOptions = IndexOptions()
    transform: Transform | None = None
    metadata_only: bool = False
    history_size: int = 10_000
    history_retention: HistoryRetention = "watched"
    mutation_detector: bool | None = None

    def __post_init__(self) -> None:
        if self.history_size < 0:
            raise ValueError(f"history_size must be >= 0, not {self.history_size}")
        if self.history_retention not in ("watched", "always"):
            raise ValueError(
                f"history_retention must be 'watched' or 'always', not "
                f"{self.history_retention!r}"
            )
        if self.metadata_only:
            check_metadata_paths(self.indexes.fields)

    @property
    def projects(self) -> bool:
        """Whether :meth:`project` changes objects (a transform or metadata-only)."""
        return self.transform is not None or self.metadata_only

    def project(self, obj: Object) -> Object:
        """What the store makes of ``obj`` before storing it: the transform, then the
        metadata-only cut. Used for objects read live, so they look like cached ones."""
        if self.transform is not None:
            obj = self.transform(obj)
        if self.metadata_only and obj.body != _EMPTY_BODY:
            obj = Object(obj.api_version, obj.kind, obj.metadata, _EMPTY_BODY)
        return obj

    def with_indexes(self, indexes: IndexOptions) -> StoreOptions:
        """A copy with ``indexes`` instead of these options' indexes."""
        return replace(self, indexes=indexes)


def check_metadata_paths(paths: Iterable[str]) -> None:
    """Refuse field paths a metadata-only store cannot index."""
    for path in paths:
        if not path.startswith("metadata."):
            raise ValueError(
                f"a metadata-only store cannot index {path!r}: only metadata.* paths exist"
            )
