"""kcs.cache: the store an informer fills, its indexes, listers and history.

* :class:`Store` — cached :class:`~kcs.core.Object` instances by key, an atomic
  relist (:meth:`Store.replace` / :meth:`Store.relist`) that returns the true
  differences, per-object staleness checks, the cache's resourceVersion and
  :meth:`Store.wait_for`, and a bounded history (:meth:`Store.watch`).
* Indexes — namespace, label keys, field paths, owner uids, custom functions.
* :class:`Lister` — get / list with label and field selectors answered from indexes.
* :class:`Delta` — the closed set of changes: :class:`Added`, :class:`Updated`,
  :class:`Deleted`.
* The mutation detector — :class:`CacheMutationError` when a reader mutated a cached
  object (on with ``KCS_CACHE_MUTATION_DETECTOR=1`` or ``Store(mutation_detector=True)``).

Everything a reader gets is the cached instance itself: never mutate it.
"""

from kcs.cache._delta import Added, Deleted, Delta, Updated
from kcs.cache._errors import CacheMutationError, HistoryExpired
from kcs.cache._history import HistoryWatch
from kcs.cache._indexer import (
    NAMESPACE_INDEX,
    OWNER_INDEX,
    IndexFunc,
    field_index_name,
    label_index_name,
)
from kcs.cache._lister import Lister
from kcs.cache._store import DEFAULT_HISTORY_SIZE, Relist, Store, Transform

__all__ = [
    "DEFAULT_HISTORY_SIZE",
    "NAMESPACE_INDEX",
    "OWNER_INDEX",
    "Added",
    "CacheMutationError",
    "Deleted",
    "Delta",
    "HistoryExpired",
    "HistoryWatch",
    "IndexFunc",
    "Lister",
    "Relist",
    "Store",
    "Transform",
    "Updated",
    "field_index_name",
    "label_index_name",
]
