"""kcs.informer: one watch per (resource, selector), shared by everyone in the process.

* :class:`Informer` — lists and watches one resource (through :class:`kcs.watch.Watcher`),
  keeps it in a :class:`kcs.cache.Store`, fans its changes out to handlers, and answers
  consistent reads (:meth:`Informer.consistent_get`, :meth:`Informer.consistent_list`)
  and read-your-writes waits (:meth:`Informer.wait_for`).
* :class:`ResourceEventHandler` / :class:`FunctionHandler` — what handlers implement;
  each gets its own task and a pending queue coalesced per key
  (:class:`HandlerRegistration`).
* :class:`InformerFactory` — one shared informer per watch, all run together.

See ``docs/informers.md`` and ``docs/consistency.md``.
"""

from kcs.informer._consistent import CacheNotFresh
from kcs.informer._dispatch import HandlerRegistration
from kcs.informer._factory import InformerFactory
from kcs.informer._handler import FunctionHandler, HandlerResult, ResourceEventHandler
from kcs.informer._informer import Informer, InformerStats
from kcs.informer._options import Fallback, InformerOptions
from kcs.informer._snapshot import SnapshotError

__all__ = [
    "CacheNotFresh",
    "Fallback",
    "FunctionHandler",
    "HandlerRegistration",
    "HandlerResult",
    "Informer",
    "InformerFactory",
    "InformerOptions",
    "InformerStats",
    "ResourceEventHandler",
    "SnapshotError",
]
