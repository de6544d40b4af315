"""The informer: one watch feeding one store, fanned out to handlers.

``run()`` reads the watcher's batches and, for each batch, applies every event to the
store (a relist is built aside and swapped in at ``InitDone``), collects the deltas the
store reports, then hands them to every handler registration at once. Registrations
coalesce per key and deliver from tasks of their own, so nothing a handler does slows the
watch or the store.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Any, Unpack

import anyio
import anyio.abc

from kcs.cache import Delta, IndexFunc, IndexOptions, Lister, Relist, Store, StoreOptions
from kcs.client import Client
from kcs.core import FieldSelector, LabelSelector, Object, Resource, codec_for
from kcs.informer._consistent import (
    CacheNotFresh,
    and_fields,
    and_labels,
    current_resource_version,
    live_get,
    live_list,
)
from kcs.informer._dispatch import HandlerRegistration
from kcs.informer._handler import ResourceEventHandler
from kcs.informer._options import Fallback, InformerOptions
from kcs.informer._snapshot import SnapshotError, read_snapshot, write_snapshot
from kcs.observability import observe_informer
from kcs.watch import (
    Apply,
    Bookmark,
    Delete,
    Event,
    InitApply,
    InitDone,
    InitStart,
    Watcher,
    WatchOptions,
)

__all__ = ["Informer", "InformerStats"]

_log = logging.getLogger("kcs.informer")

_EMPTY_BODY = b"{}"
_WATCHER_OPTIONS = ("initial_list", "page_size", "watch_timeout", "dead_stream_timeout", "backoff")

LabelSelectorLike = LabelSelector | str | dict[str, str] | None
FieldSelectorLike = FieldSelector | str | dict[str, str] | None


@dataclass(slots=True)
class InformerStats:
    """Counters of one informer (plain integers, read at any time)."""

    batches: int = 0
    """Batches of watch events processed."""
    events: int = 0
    """Watch events processed (objects listed, applied or deleted, and bookmarks)."""
    deltas: int = 0
    """Changes of the store dispatched to handlers (initial adds included)."""
    syncs: int = 0
    """Complete lists swapped into the store (the first one and every relist)."""
    snapshot_loads: int = 0
    """Snapshots loaded at start."""


class Informer:
    """One shared watch of ``(resource, namespace, label_selector, field_selector)``, kept
    in a :class:`~kcs.cache.Store` and fanned out to :class:`ResourceEventHandler` s.

    Guarantees:

    * **One watch.** :meth:`run` lists and watches through a :class:`kcs.watch.Watcher`
      (resume after disconnects, relist after 410, backoff) until cancelled.
    * **Atomic (re)lists.** A list is built aside and swapped into the store in one
      step; readers see the old or the new state, never half. After a relist handlers
      receive only the true differences.
    * **Batches.** Each batch of events is applied to the store completely before any
      handler hears of it; handlers are then woken once.
    * **Handlers never block the cache.** See :meth:`add_handler`.
    * **resourceVersion.** :attr:`resource_version` advances with every event and
      bookmark; :meth:`wait_for` waits for a given one (read-your-writes), and
      :meth:`consistent_get`/:meth:`consistent_list` wait for the server's current one.
    * **Zero-copy reads.** :attr:`store` and :attr:`lister` return the cached objects
      themselves: never mutate them.

    Prefer :meth:`InformerFactory.informer <kcs.informer.InformerFactory.informer>`, which
    shares one informer between every controller of the process that asks for it.
    ``options`` are described by :class:`~kcs.informer.InformerOptions`.
    """

    def __init__(
        self,
        client: Client,
        resource: Resource,
        namespace: str | None = None,
        label_selector: LabelSelectorLike = None,
        field_selector: FieldSelectorLike = None,
        **options: Unpack[InformerOptions],
    ) -> None:
        self._client = client
        self.resource = resource
        """The resource watched."""
        self.namespace: str | None = namespace if resource.namespaced and namespace else None
        """The namespace watched, or ``None`` for all namespaces (or a cluster resource)."""
        self.label_selector = LabelSelector.of(label_selector)
        """The label selector of the watch (empty: every object)."""
        self.field_selector = FieldSelector.of(field_selector)
        """The field selector of the watch (empty: every object)."""
        self.options: InformerOptions = dict(options)  # type: ignore[assignment]
        o: dict[str, Any] = dict(options)
        self._watch_options = WatchOptions(**{k: o[k] for k in _WATCHER_OPTIONS if k in o})
        self.metadata_only = options.get("metadata_only", False)
        self._transform = options.get("transform")
        self._codec = codec_for(
            resource.kind, keep_managed_fields=options.get("keep_managed_fields", False)
        )
        self.store = Store(
            StoreOptions(
                indexes=IndexOptions(
                    labels=options.get("label_index", True),
                    fields=options.get("field_indexes", ()),
                    owners=options.get("owner_index", False),
                    custom=options.get("indexes") or {},
                ),
                transform=self._transform,
                metadata_only=self.metadata_only,
                history_size=options.get("history_size", 10_000),
                mutation_detector=options.get("mutation_detector"),
            )
        )
        """The cache (see :class:`kcs.cache.Store`)."""
        self.lister = Lister(self.store)
        """Reads the cache (see :class:`kcs.cache.Lister`)."""
        self._custom_indexes: dict[str, IndexFunc] = dict(options.get("indexes") or {})
        self._snapshot = options.get("snapshot")
        self.stats = InformerStats()
        """What this informer has processed."""
        self.watcher: Watcher | None = None
        """The watcher of the current :meth:`run` (``None`` when not running)."""
        self._registrations: list[HandlerRegistration] = []
        self._task_group: anyio.abc.TaskGroup | None = None
        self._relist: Relist | None = None
        self._running = False
        observe_informer(self)  # read at metric collection only; nothing per event

    # --- state -----------------------------------------------------------------------
    @property
    def has_synced(self) -> bool:
        """Whether a first complete list (or a snapshot) is in the cache; stays true."""
        return self.store.has_synced

    @property
    def resource_version(self) -> str:
        """The resourceVersion the cache has reached (events and bookmarks)."""
        return self.store.resource_version

    @property
    def running(self) -> bool:
        """Whether :meth:`run` is running."""
        return self._running

    @property
    def handlers(self) -> list[HandlerRegistration]:
        """The current handler registrations."""
        return list(self._registrations)

    async def wait_synced(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until :attr:`has_synced`; ``False`` if ``timeout`` seconds pass first."""
        return await self.store.wait_synced(timeout)

    async def wait_for(self, resource_version: str, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until the cache has reached ``resource_version``; ``False`` on timeout.

        Read-your-writes: pass the resourceVersion a write returned; once this is true
        the cache holds that write (or something newer). An object that is outside the
        informer's selectors reaches the cache only through a bookmark, which may take
        up to the server's bookmark interval.
        """
        return await self.store.wait_for(resource_version, timeout)

    # --- handlers --------------------------------------------------------------------
    def add_handler(
        self, handler: ResourceEventHandler, *, name: str = ""
    ) -> HandlerRegistration:
        """Subscribe ``handler`` to the changes of the cache; may be called at any time.

        * Added before the first sync: the objects of the first list arrive as
          ``on_add(obj, is_initial=True)``; added later: every object cached at that
          moment does, then the changes after it.
        * Each registration has its own task and its own pending changes, coalesced per
          key (so its backlog is bounded by the number of keys): a slow handler delays
          only itself and sees the latest state of each key.
        * A handler's exception is logged and counted (``registration.errors``); the
          informer and the other handlers carry on.

        Returns the :class:`~kcs.informer.HandlerRegistration`; ``remove()`` it to
        unsubscribe.
        """
        reg = HandlerRegistration(handler, name)
        reg._on_remove = self._remove_registration
        self._registrations.append(reg)
        if self.store.has_synced:
            reg._push_initial(self.store.list())
        if self._task_group is not None:
            self._task_group.start_soon(reg._run)
        return reg

    def _remove_registration(self, reg: HandlerRegistration) -> None:
        with contextlib.suppress(ValueError):
            self._registrations.remove(reg)

    # --- indexes ---------------------------------------------------------------------
    def add_index(self, name: str, fn: IndexFunc) -> None:
        """Add a custom index ``name`` (``fn(obj)`` gives the object's index values).

        May be called at any time (cached objects are indexed at once). Adding the
        same function under the same name again is a no-op; a different function under
        a name in use raises ``ValueError``. Read it with ``lister.by_index(name, v)``.
        """
        existing = self._custom_indexes.get(name)
        if existing is not None:
            if existing is fn or existing == fn:
                return
            raise ValueError(f"the {self.resource} informer already has an index {name!r}")
        self.store.add_index(name, fn)
        self._custom_indexes[name] = fn

    def add_label_index(self, label: str) -> None:
        """Index label key ``label`` (``kcs.cache.label_index_name(label)``); no-op when
        it already is."""
        self.store.add_label_index(label)

    def add_field_index(self, path: str) -> None:
        """Index field ``path`` such as ``spec.nodeName``
        (``kcs.cache.field_index_name(path)``); no-op when it already is."""
        self.store.add_field_index(path)

    # --- consistent reads --------------------------------------------------------------
    def _project(self, obj: Object) -> Object:
        """What the store would make of ``obj`` (for answers read live)."""
        if self._transform is not None:
            obj = self._transform(obj)
        if self.metadata_only and obj.body != _EMPTY_BODY:
            obj = Object(obj.api_version, obj.kind, obj.metadata, _EMPTY_BODY)
        return obj

    def _read_namespace(self, namespace: str | None) -> str | None:
        if not self.resource.namespaced:
            return None
        if namespace and self.namespace and namespace != self.namespace:
            raise ValueError(
                f"the {self.resource} informer watches namespace {self.namespace!r} only, "
                f"not {namespace!r}"
            )
        return namespace or self.namespace

    async def _catch_up(self, timeout: float) -> str | None:  # noqa: ASYNC109
        """Wait for the cache to reach the server's current resourceVersion.

        Returns ``None`` when it did, else the resourceVersion it waited for (``""``
        when even finding it took too long).
        """
        deadline = anyio.current_time() + timeout
        wanted = ""
        with anyio.move_on_after(timeout):
            wanted = await current_resource_version(
                self._client,
                self.resource,
                self.namespace,
                self.label_selector,
                self.field_selector,
            )
            if await self.store.wait_for(wanted, max(0.0, deadline - anyio.current_time())):
                return None
        return wanted

    def _not_fresh(self, wanted: str, timeout: float) -> CacheNotFresh:
        return CacheNotFresh(self.resource, wanted, self.resource_version, timeout)

    async def consistent_get(
        self,
        name: str,
        namespace: str | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
        fallback: Fallback = "live",
    ) -> Object | None:
        """The object ``name`` as of now: at least as fresh as a live GET started now.

        Finds the server's current resourceVersion (a quorum LIST with ``limit=1``),
        waits up to ``timeout`` seconds for the cache to reach it, then answers from the
        cache (``None``: no such object, or outside the informer's selectors). If the
        cache does not catch up in time: ``fallback="live"`` reads the object from the
        apiserver (transformed like a cached one), ``"error"`` raises
        :class:`~kcs.informer.CacheNotFresh`. See ``docs/consistency.md``.
        """
        ns = self._read_namespace(namespace)
        if self.resource.namespaced and not ns:
            raise ValueError(f"{self.resource} is namespaced: give a namespace")
        wanted = await self._catch_up(timeout)
        if wanted is None:
            return self.lister.get(name, ns)
        if fallback == "error":
            raise self._not_fresh(wanted, timeout)
        _log.debug("%s: cache not fresh after %gs; reading %s live", self, timeout, name)
        return await live_get(
            self._client,
            self.resource,
            self._codec,
            self._project,
            name,
            ns,
            self.label_selector,
            self.field_selector,
        )

    async def consistent_list(
        self,
        namespace: str | None = None,
        label_selector: LabelSelectorLike = None,
        field_selector: FieldSelectorLike = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
        fallback: Fallback = "live",
    ) -> list[Object]:
        """The matching objects as of now (see :meth:`consistent_get`), from the indexes.

        Within the informer's own namespace and selectors; the selectors given here
        narrow them further. The live fallback is a paginated quorum LIST with the
        informer's and the given selectors combined.
        """
        ns = self._read_namespace(namespace)
        labels = LabelSelector.of(label_selector)
        fields = FieldSelector.of(field_selector)
        wanted = await self._catch_up(timeout)
        if wanted is None:
            return self.lister.list(ns, labels, fields)
        if fallback == "error":
            raise self._not_fresh(wanted, timeout)
        _log.debug("%s: cache not fresh after %gs; listing live", self, timeout)
        return await live_list(
            self._client,
            self.resource,
            self._codec,
            self._project,
            ns,
            and_labels(self.label_selector, labels),
            and_fields(self.field_selector, fields),
            self._watch_options.page_size,
        )

    # --- snapshots -------------------------------------------------------------------
    async def save_snapshot(self, path: str | os.PathLike[str]) -> int:
        """Write the cache (objects and resourceVersion) to ``path``, atomically.

        A later ``Informer(..., snapshot=path)`` starts from it and resumes the watch at
        its resourceVersion instead of listing. Returns the number of objects written.
        Raises ``RuntimeError`` before the first sync.
        """
        if not self.store.has_synced:
            raise RuntimeError(f"the {self.resource} informer has not synced yet")
        objects = self.store.list()  # the cached instances, as of now (immutable)
        rv = self.store.resource_version
        return await anyio.to_thread.run_sync(
            write_snapshot, path, self.resource, rv, objects
        )

    async def _load_snapshot(self) -> str | None:
        """Load the configured snapshot into the store; its resourceVersion, or ``None``."""
        path = self._snapshot
        if path is None or self.store.has_synced:
            return None
        try:
            rv, objects = await anyio.to_thread.run_sync(
                read_snapshot, path, self.resource, self._codec
            )
        except SnapshotError as exc:
            _log.warning("%s: not using the snapshot (%s); listing instead", self, exc)
            return None
        if not rv:
            return None
        self._synced(self.store.replace(objects, rv))
        self.stats.snapshot_loads += 1
        _log.info("%s: loaded %d objects at rv %s from %s", self, len(objects), rv, path)
        return rv

    # --- the loop --------------------------------------------------------------------
    def _watcher(self, resource_version: str | None) -> Watcher:
        return Watcher(
            self._client,
            self.resource,
            self.namespace,
            None if self.label_selector.empty else self.label_selector,
            None if self.field_selector.empty else self.field_selector,
            options=self._watch_options,
            resource_version=resource_version,
            codec=self._codec,
        )

    async def run(self) -> None:
        """List, watch and dispatch until cancelled (never returns on its own).

        Handler tasks run inside; cancelling ``run()`` stops them too. Running again
        after a cancelled run resumes the watch from the cache's resourceVersion.
        """
        if self._running:
            raise RuntimeError(f"the {self.resource} informer is already running")
        self._running = True
        try:
            async with anyio.create_task_group() as tg:
                self._task_group = tg
                for reg in self._registrations:
                    tg.start_soon(reg._run)
                start_rv = await self._load_snapshot()
                if start_rv is None and self.store.has_synced:
                    start_rv = self.store.resource_version or None
                await self._consume(self._watcher(start_rv))
        finally:
            self._task_group = None
            self._relist = None
            self.watcher = None
            self._running = False

    async def _consume(self, watcher: Watcher) -> None:
        self.watcher = watcher
        async with watcher, contextlib.aclosing(watcher.batches()) as batches:
            async for batch in batches:
                self._process(batch)

    def _process(self, batch: list[Event]) -> None:
        """Apply one batch to the store, then hand its deltas to every handler."""
        store = self.store
        deltas: list[Delta] = []
        append = deltas.append
        for event in batch:
            t = type(event)
            if t is Apply:
                d = store.apply(event.obj)  # type: ignore[union-attr]
                if d is not None:
                    append(d)
            elif t is Delete:
                d = store.delete(event.obj)  # type: ignore[union-attr]
                if d is not None:
                    append(d)
            elif t is InitApply:
                relist = self._relist
                if relist is None:
                    relist = self._relist = store.relist()
                relist.add(event.obj)  # type: ignore[union-attr]
            elif t is Bookmark:
                store.observe_resource_version(event.resource_version)  # type: ignore[union-attr]
            elif t is InitStart:
                self._relist = store.relist()  # drops any partial list
            elif t is InitDone:
                relist = self._relist or store.relist()
                self._relist = None
                if deltas:
                    self._dispatch(deltas)
                    deltas = []
                    append = deltas.append
                first = not store.has_synced
                changes = relist.commit(event.resource_version)  # type: ignore[union-attr]
                if first:
                    self._synced(changes)
                else:
                    self.stats.syncs += 1
                    deltas.extend(changes)
        self.stats.batches += 1
        self.stats.events += len(batch)
        if deltas:
            self._dispatch(deltas)

    def _synced(self, changes: list[Delta]) -> None:
        """The first complete state is in: every handler gets it as initial adds."""
        self.stats.syncs += 1
        del changes  # all Added: the store was empty
        objects = self.store.list()
        self.stats.deltas += len(objects)
        for reg in self._registrations:
            reg._push_initial(objects)

    def _dispatch(self, deltas: list[Delta]) -> None:
        self.stats.deltas += len(deltas)
        for reg in self._registrations:
            reg._push_deltas(deltas)

    def __repr__(self) -> str:
        parts = [str(self.resource)]
        if self.namespace:
            parts.append(f"namespace={self.namespace}")
        if not self.label_selector.empty:
            parts.append(f"labels={self.label_selector}")
        if not self.field_selector.empty:
            parts.append(f"fields={self.field_selector}")
        return f"Informer({' '.join(parts)})"

