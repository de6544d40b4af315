"""kcs.informer: one watch per collection, shared by everyone in the process.

* :class:`Informer` — lists and watches one collection (through
  :class:`kcs.watch.Watcher`), keeps it in a cache whose read-only face is
  :attr:`Informer.lister`, fans its changes out to handlers, waits for resourceVersions
  (read-your-writes), reports watch failures (:attr:`Informer.not_synced_reason`, error
  hooks) and raises :class:`SyncTimeoutError` from :meth:`Informer.wait_synced` when it
  cannot sync in time.
* :class:`InformerOptions` — its settings: one frozen value made of a
  :class:`kcs.watch.WatchOptions` and a :class:`kcs.cache.StoreOptions`.
* :class:`ResourceEventHandler` / :class:`FunctionHandler` — what handlers implement;
  each gets its own task and a pending queue coalesced per key; the
  :class:`HandlerRegistration` handle says how it does (``last_error``).
* :class:`InformerFactory` — one shared informer per collection, equal settings required
  (:class:`InformerConflict` otherwise), indexes merged, all run together.
* :class:`CacheReader` and :class:`ConsistentReader` — the :class:`kcs.core.Reader`
  interface over informers: from the cache as it is, or as of now
  (:class:`CacheNotFresh` when asked to fail rather than read live).

See ``docs/informers.md`` and ``docs/consistency.md``.
"""

from kcs.informer._cache_reader import CacheReader
from kcs.informer._consistent import ConsistentReader
from kcs.informer._dispatch import HandlerError
from kcs.informer._errors import CacheNotFresh, InformerConflict, NotSynced, SyncTimeoutError
from kcs.informer._factory import InformerFactory
from kcs.informer._handler import FunctionHandler, HandlerResult, ResourceEventHandler
from kcs.informer._informer import Informer, InformerStats
from kcs.informer._options import Fallback, InformerOptions
from kcs.informer._registration import HandlerRegistration
from kcs.informer._snapshot import SnapshotError

__all__ = [
    "CacheNotFresh",
    "CacheReader",
    "ConsistentReader",
    "Fallback",
    "FunctionHandler",
    "HandlerError",
    "HandlerRegistration",
    "HandlerResult",
    "Informer",
    "InformerConflict",
    "InformerFactory",
    "InformerOptions",
    "InformerStats",
    "NotSynced",
    "ResourceEventHandler",
    "SnapshotError",
    "SyncTimeoutError",
]
