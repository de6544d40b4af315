"""The options an informer accepts, shared by :class:`Informer` and its factory."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Literal, TypedDict

from kcs.cache import IndexFunc, Transform
from kcs.watch import Backoff, InitialList

__all__ = ["INDEX_OPTIONS", "Fallback", "InformerOptions"]

Fallback = Literal["live", "error"]
"""What a consistent read does when the cache does not catch up in time: read from the
apiserver (``"live"``) or raise :class:`~kcs.informer.CacheNotFresh` (``"error"``)."""


class InformerOptions(TypedDict, total=False):
    """Keyword options of :class:`~kcs.informer.Informer` and
    :meth:`InformerFactory.informer <kcs.informer.InformerFactory.informer>`."""

    # What is cached
    metadata_only: bool
    """Cache ``apiVersion``, ``kind`` and ``metadata`` only (the body is dropped on
    arrival, client side: what a ``PartialObjectMetadata`` informer stores)."""
    transform: Transform | None
    """Applied to every object before it is cached (a projection, e.g. drop ``status``);
    must keep name, namespace and resourceVersion, and be idempotent (a snapshot holds
    transformed objects and they are transformed again on load)."""
    keep_managed_fields: bool
    """Keep ``metadata.managedFields`` (stripped by default: a large share of a pod)."""

    # Indexes (merged when a shared informer is requested again)
    label_index: bool | Iterable[str]
    """Index every label key (``True``, the default), some label keys, or none."""
    field_indexes: Iterable[str]
    """Field paths to index, such as ``"spec.nodeName"``."""
    owner_index: bool
    """Index owner uids (``kcs.cache.OWNER_INDEX``); cannot be added after creation."""
    indexes: Mapping[str, IndexFunc]
    """Custom index functions by name."""

    # How the watch runs (passed to kcs.watch.Watcher)
    initial_list: InitialList
    """``"list"`` (paginated, the default) or ``"stream"`` (``sendInitialEvents``)."""
    page_size: int
    """Objects per page of a paginated list (default 500)."""
    watch_timeout: float
    """Base of the randomized server-side watch timeout, in seconds (default 300)."""
    dead_stream_timeout: float
    """Seconds without a byte after which a watch is closed and resumed (default 150)."""
    backoff: Backoff
    """Backoff between failed attempts."""

    # The store
    history_size: int
    """Recent changes kept for ``informer.store.watch(since_rv)`` (default 10,000)."""
    mutation_detector: bool | None
    """Check that nobody mutates cached objects (``None``: follow
    ``KCS_CACHE_MUTATION_DETECTOR``)."""

    # Warm start
    snapshot: str | os.PathLike[str] | None
    """Load this snapshot (see :meth:`Informer.save_snapshot`) and resume the watch from
    its resourceVersion instead of listing; a missing or unusable file means a list."""


INDEX_OPTIONS = frozenset({"label_index", "field_indexes", "owner_index", "indexes"})
"""Options that add indexes; a shared informer merges them instead of keying on them."""
