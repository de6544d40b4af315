"""kcs.cache: the store an informer fills, its indexes, listers and history.

* :class:`Store` — cached :class:`~kcs.core.Object` instances by key, an atomic
  relist (:meth:`Store.replace` / :meth:`Store.relist`) that returns the true
  differences, per-object staleness checks, the cache's resourceVersion and
  :meth:`Store.wait_for`, selectors answered from indexes (:meth:`Store.list`), and a
  bounded history (:meth:`Store.watch`).
* :class:`StoreOptions` and :class:`IndexOptions` — what a store keeps and how it is
  indexed (namespace, label keys, field paths, owner uids, custom functions): frozen
  values, passed intact from whoever builds them.
* :class:`Lister` — the read-only face of a store: what readers get.
* :class:`IndexImage` — a store's namespace, label and field indexes by position
  (:meth:`Store.index_image`), restored whole by :meth:`Relist.restore`: what a snapshot
  saves so that a warm start does not index its objects one by one.
* :class:`Delta` — the closed set of changes: :class:`Added`, :class:`Updated`,
  :class:`Deleted`.
* The mutation detector — :class:`CacheMutationError` when a reader mutated a cached
  object (on with ``KCS_CACHE_MUTATION_DETECTOR=1`` or
  ``StoreOptions(mutation_detector=True)``).

Everything a reader gets is the cached instance itself: never mutate it.
"""

from kcs.cache._delta import Added, Deleted, Delta, Updated
from kcs.cache._errors import CacheMutationError, HistoryExpired
from kcs.cache._history import HistoryWatch
from kcs.cache._image import BucketValues, IndexImage, PositionBuckets
from kcs.cache._lister import Lister
from kcs.cache._options import (
    NAMESPACE_INDEX,
    OWNER_INDEX,
    HistoryRetention,
    IndexFunc,
    IndexOptions,
    StoreOptions,
    Transform,
    field_index_name,
    label_index_name,
)
from kcs.cache._store import Relist, Store

__all__ = [
    "NAMESPACE_INDEX",
    "OWNER_INDEX",
    "Added",
    "BucketValues",
    "CacheMutationError",
    "Deleted",
    "Delta",
    "HistoryExpired",
    "HistoryRetention",
    "HistoryWatch",
    "IndexFunc",
    "IndexImage",
    "IndexOptions",
    "Lister",
    "PositionBuckets",
    "Relist",
    "Store",
    "StoreOptions",
    "Transform",
    "Updated",
    "field_index_name",
    "label_index_name",
]
