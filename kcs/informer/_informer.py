"""The informer: one watch feeding one store, fanned out to handlers.

``run()`` reads the watcher's batches and, for each batch, applies every event to the
store (a relist is built aside and swapped in at ``InitDone``), collects the deltas the
store reports, then hands them to every handler's dispatcher at once. Dispatchers
coalesce per key and deliver from tasks of their own, so nothing a handler does slows the
watch or the store.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import anyio.abc

from kcs.cache import Delta, IndexFunc, IndexOptions, Lister, Relist, Store
from kcs.client import Client
from kcs.core import (
    Codec,
    FieldSelector,
    FieldSelectorLike,
    LabelSelector,
    LabelSelectorLike,
    Object,
    Resource,
    codec_for,
)
from kcs.informer._dispatch import Dispatcher
from kcs.informer._errors import NotSynced, SyncTimeoutError
from kcs.informer._handler import FunctionHandler, ResourceEventHandler
from kcs.informer._options import InformerOptions
from kcs.informer._registration import HandlerRegistration
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
    WatchError,
    WatchErrorHook,
    WatcherState,
    describe_scope,
)

__all__ = ["Informer", "InformerStats"]

_log = logging.getLogger("kcs.informer")

_DEFAULT_OPTIONS = InformerOptions()

# While wait_synced() waits without a timeout, it logs why the informer is not synced
# this often.
SYNC_REPORT_INTERVAL = 30.0


@dataclass(slots=True)
class InformerStats:
    """Counters of one informer (plain integers, read at any time).

    :ivar batches: Batches of watch events processed.
    :ivar events: Watch events processed (objects listed, applied or deleted, and bookmarks).
    :ivar deltas: Changes of the store dispatched to handlers (initial adds included).
    :ivar syncs: Complete lists swapped into the store (the first one and every relist).
    :ivar snapshot_loads: Snapshots loaded at start.
    :ivar watch_errors: Troubles its watchers reported (see :attr:`Informer.last_error`).
    """

    batches: int = 0
    events: int = 0
    deltas: int = 0
    syncs: int = 0
    snapshot_loads: int = 0
    watch_errors: int = 0


class Informer:
    """One shared watch of ``(resource, namespace, label_selector, field_selector)``, kept
    in a cache and fanned out to :class:`ResourceEventHandler` s.

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
      bookmark; :meth:`wait_for` waits for a given one (read-your-writes).
    * **Zero-copy reads.** :attr:`lister` returns the cached objects themselves: never
      mutate them. Readers get the lister (read only); the store stays inside.
    * **Visible failures.** Every watch error reaches :meth:`add_error_hook` hooks and
      :attr:`last_error`; :attr:`not_synced_reason` says why the cache is not synced;
      :meth:`wait_synced` with a timeout raises :class:`~kcs.informer.SyncTimeoutError`
      naming the cause.

    Prefer :meth:`InformerFactory.informer <kcs.informer.InformerFactory.informer>`, which
    shares one informer between every controller of the process that asks for it.
    ``options`` (an :class:`~kcs.informer.InformerOptions`) are passed intact to the
    watcher (``options.watch``) and the store (``options.store``).
    """

    def __init__(
        self,
        client: Client,
        resource: Resource,
        namespace: str | None = None,
        label_selector: LabelSelectorLike = None,
        field_selector: FieldSelectorLike = None,
        *,
        options: InformerOptions | None = None,
    ) -> None:
        options = options if options is not None else _DEFAULT_OPTIONS
        self._client = client
        self.resource = resource
        """The resource watched."""
        self.namespace: str | None = namespace if resource.namespaced and namespace else None
        """The namespace watched, or ``None`` for all namespaces (or a cluster resource)."""
        self.label_selector = LabelSelector.of(label_selector)
        """The label selector of the watch (empty: every object)."""
        self.field_selector = FieldSelector.of(field_selector)
        """The field selector of the watch (empty: every object)."""
        self.scope = describe_scope(
            resource,
            self.namespace,
            None if self.label_selector.empty else str(self.label_selector),
            None if self.field_selector.empty else str(self.field_selector),
        )
        """The collection in plain words (``"pods in all namespaces"``)."""
        self._options = options
        self._codec = codec_for(resource.kind, keep_managed_fields=options.keep_managed_fields)
        self._store = Store(options.store)
        self.lister: Lister = self._store.lister
        """Reads the cache (see :class:`kcs.cache.Lister`): the read-only face of the
        informer's store."""
        self.stats = InformerStats()
        """What this informer has processed."""
        self.watcher: Watcher | None = None
        """The watcher of the current :meth:`run` (``None`` when not running)."""
        self._dispatchers: list[Dispatcher] = []
        self._registrations: list[HandlerRegistration] = []
        self._error_hooks: list[WatchErrorHook] = []
        self._last_error: WatchError | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._relist: Relist | None = None
        self._running = False
        observe_informer(self)  # read at metric collection only; nothing per event

    # --- state -----------------------------------------------------------------------
    @property
    def client(self) -> Client:
        """The client the informer lists and watches with."""
        return self._client

    @property
    def options(self) -> InformerOptions:
        """The options the informer runs with; ``options.store.indexes`` include the
        indexes added since it was made."""
        store = self._store.options
        if store is self._options.store:
            return self._options
        return InformerOptions(
            watch=self._options.watch,
            store=store,
            keep_managed_fields=self._options.keep_managed_fields,
            snapshot=self._options.snapshot,
        )

    @property
    def codec(self) -> Codec:
        """The codec the informer decodes objects with (for reads made around it)."""
        return self._codec

    def project(self, obj: Object) -> Object:
        """What the cache makes of ``obj`` (the transform, then the metadata-only cut):
        for objects read live, so that they look exactly like cached ones."""
        return self._store.options.project(obj)

    @property
    def has_synced(self) -> bool:
        """Whether a first complete list (or a snapshot) is in the cache; stays true."""
        return self._store.has_synced

    @property
    def resource_version(self) -> str:
        """The resourceVersion the cache has reached (events and bookmarks)."""
        return self._store.resource_version

    @property
    def running(self) -> bool:
        """Whether :meth:`run` is running."""
        return self._running

    @property
    def handlers(self) -> list[HandlerRegistration]:
        """The current handler registrations."""
        return list(self._registrations)

    @property
    def last_error(self) -> WatchError | None:
        """The last trouble a watcher of this informer reported (kept across runs), or
        ``None``."""
        return self._last_error

    @property
    def not_synced_reason(self) -> str | None:
        """Why the cache has not synced, in one line, or ``None`` once it has.

        For readiness endpoints and logs: the watcher's last error in plain words and
        what it does now (``"403 Forbidden: listing pods in all namespaces is not allowed
        for this identity (RBAC) ... (failed 3 times in a row; retrying in 20.0s)"``),
        that the informer was never started, or what it is still waiting for.
        """
        if self._store.has_synced:
            return None
        if not self._running:
            return (
                "not running: nothing called Informer.run() (run the InformerFactory, as the "
                "Manager does)"
            )
        watcher = self.watcher
        if watcher is None:
            return "starting (loading the snapshot)"
        stats = watcher.stats
        last = stats.last_error
        if watcher.state is WatcherState.BACKING_OFF and last is not None:
            when = ""
            if watcher.retry_at is not None:
                when = f"; retrying in {max(0.0, watcher.retry_at - anyio.current_time()):.1f}s"
            times = stats.consecutive_failures
            return f"{last} (failed {times} time{'s' if times != 1 else ''} in a row{when})"
        doing = f"{watcher.state.value}: {stats.pages} pages, {stats.events} objects so far"
        if last is not None and stats.consecutive_failures:
            return f"{last} ({doing})"
        return f"{doing}; no error so far"

    @property
    def not_synced(self) -> NotSynced | None:
        """:attr:`not_synced_reason` with the resource, the scope and the last error, as
        a record (what :class:`~kcs.informer.SyncTimeoutError` carries), or ``None``."""
        reason = self.not_synced_reason
        if reason is None:
            return None
        watcher = self.watcher
        last = watcher.stats.last_error if watcher is not None else None
        return NotSynced(self.resource, self.scope, reason, last or self._last_error)

    async def wait_synced(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Return once the cache has synced (at once if it has).

        With a ``timeout``, raise :class:`~kcs.informer.SyncTimeoutError` when it runs
        out: the error names the resource, the scope and why (the watcher's last error,
        such as a 403 or a 404; or that the informer is not running). Without one, wait
        as long as it takes — an RBAC rule can be granted or a CRD installed while it
        waits — and log the reason on the ``kcs.informer`` logger every 30 seconds, so
        a wait is never silent.
        """
        if self._store.has_synced:
            return
        if timeout is not None:
            if not await self._store.wait_synced(timeout):
                not_synced = self.not_synced
                if not_synced is not None:
                    raise SyncTimeoutError(timeout, [not_synced])
            return
        waited = 0.0
        while not await self._store.wait_synced(SYNC_REPORT_INTERVAL):
            waited += SYNC_REPORT_INTERVAL
            _log.warning("%s: not synced after %.0fs: %s", self, waited, self.not_synced_reason)

    async def wait_for(self, resource_version: str, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until the cache has reached ``resource_version``; ``False`` on timeout.

        Read-your-writes: pass the resourceVersion a write returned; once this is true
        the cache holds that write (or something newer). An object that is outside the
        informer's selectors reaches the cache only through a bookmark, which may take
        up to the server's bookmark interval.
        """
        return await self._store.wait_for(resource_version, timeout)

    # --- errors ----------------------------------------------------------------------
    def add_error_hook(self, hook: WatchErrorHook) -> Callable[[], None]:
        """Call ``hook(error)`` with every :class:`~kcs.watch.WatchError` the informer's
        watcher reports, as it happens (in the informer's task: it must not block; an
        exception it raises is logged and ignored). Returns a function that removes it."""
        self._error_hooks.append(hook)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._error_hooks.remove(hook)

        return remove

    def _watch_error(self, error: WatchError) -> None:
        self._last_error = error
        self.stats.watch_errors += 1
        for hook in list(self._error_hooks):
            try:
                hook(error)
            except Exception:
                _log.exception("%s: the error hook %r raised; ignored", self, hook)

    # --- handlers --------------------------------------------------------------------
    def add_handler(
        self, handler: ResourceEventHandler, *, name: str = ""
    ) -> HandlerRegistration:
        """Subscribe ``handler`` to the changes of the cache; may be called at any time.

        * Added before the first sync: the objects of the first list arrive as
          ``on_add(obj, is_initial=True)``; added later: every object cached at that
          moment does, then the changes after it. The registration's task queues those
          objects in slices between its deliveries: this call takes constant time and
          the first delivery does not wait for a large cache.
        * Each registration has its own task and its own pending changes, coalesced per
          key (so its backlog is bounded by the number of keys): a slow handler delays
          only itself and sees the latest state of each key.
        * A handler's exception is logged with its traceback under ``name`` (default:
          the handler's class, or a :class:`FunctionHandler`'s functions), naming the
          method and the key; it is counted (``registration.errors``) and kept
          (``registration.last_error``); the informer and the other handlers carry on.

        Returns the :class:`~kcs.informer.HandlerRegistration`; ``remove()`` it to
        unsubscribe.
        """
        dispatcher = Dispatcher(handler, name or _handler_name(handler), self._removed)
        registration = HandlerRegistration(dispatcher)
        self._dispatchers.append(dispatcher)
        self._registrations.append(registration)
        if self._store.has_synced:
            dispatcher.push_initial(self._store.keys(), self._store.list())
        if self._task_group is not None:
            self._task_group.start_soon(dispatcher.run)
        return registration

    def _removed(self, dispatcher: Dispatcher) -> None:
        for i, d in enumerate(self._dispatchers):
            if d is dispatcher:
                del self._dispatchers[i]
                del self._registrations[i]
                return

    # --- indexes ---------------------------------------------------------------------
    def add_indexes(self, indexes: IndexOptions) -> None:
        """Add the indexes ``indexes`` ask for that the cache lacks, indexing the cached
        objects at once (see :meth:`Store.add_indexes <kcs.cache.Store.add_indexes>`).
        Raises ``ValueError`` for a custom index name in use with another function."""
        self._store.add_indexes(indexes)

    def add_index(self, name: str, fn: IndexFunc) -> None:
        """Add the custom index ``name`` (``fn(obj)`` gives the object's index values);
        the same function again is a no-op, another one under a name in use raises
        ``ValueError``. Read it with ``lister.by_index(name, value)``."""
        self._store.add_index(name, fn)

    def add_label_index(self, label: str) -> None:
        """Index label key ``label`` (``kcs.cache.label_index_name(label)``); no-op when
        it already is."""
        self._store.add_label_index(label)

    def add_field_index(self, path: str) -> None:
        """Index field ``path`` such as ``spec.nodeName``
        (``kcs.cache.field_index_name(path)``); no-op when it already is."""
        self._store.add_field_index(path)

    # --- snapshots -------------------------------------------------------------------
    async def save_snapshot(self, path: str | os.PathLike[str]) -> int:
        """Write the cache (objects and resourceVersion) to ``path``, atomically.

        A later informer with ``InformerOptions(snapshot=path)`` starts from it and
        resumes the watch at its resourceVersion instead of listing. Returns the number
        of objects written. Raises ``RuntimeError`` before the first sync.
        """
        if not self._store.has_synced:
            raise RuntimeError(f"the {self.resource} informer has not synced yet")
        store = self._store
        # As of now, in one step (no await): the cached instances (immutable), in the
        # order of their keys, and the indexes by position in that order.
        keys = store.keys()
        objects = store.list()
        image = store.index_image(keys)
        rv = store.resource_version
        return await anyio.to_thread.run_sync(
            write_snapshot, path, self.resource, rv, objects, image, keys
        )

    async def _load_snapshot(self) -> str | None:
        """Load the configured snapshot into the store; its resourceVersion, or ``None``."""
        path = self._options.snapshot
        if path is None or self._store.has_synced:
            return None
        try:
            snapshot = await anyio.to_thread.run_sync(
                read_snapshot, path, self.resource, self._codec
            )
        except SnapshotError as exc:
            _log.warning("%s: not using the snapshot (%s); listing instead", self, exc)
            return None
        rv, objects = snapshot.resource_version, snapshot.objects
        if not rv:
            return None
        relist = self._store.relist()
        fields = snapshot.fields
        if snapshot.image is not None:
            try:  # every index bucket restored whole, nothing indexed object by object
                relist.restore(objects, snapshot.image, snapshot.keys)
            except ValueError as exc:
                _log.warning("%s: not using the snapshot %s (%s); listing instead",
                             self, path, exc)
                return None
        elif fields:
            # A version 2 file: the field index values the cache had, by object.
            paths = list(fields)
            columns = [fields[p] for p in paths]
            for i, obj in enumerate(objects):
                relist.add(obj, field_values={p: c[i] for p, c in zip(paths, columns, strict=True)})
        else:
            relist.add_many(objects)
        self._synced(relist.commit(rv))
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
            options=self._options.watch,
            resource_version=resource_version,
            codec=self._codec,
            on_error=self._watch_error,
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
                for dispatcher in self._dispatchers:
                    tg.start_soon(dispatcher.run)
                start_rv = await self._load_snapshot()
                if start_rv is None and self._store.has_synced:
                    start_rv = self._store.resource_version or None
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
        store = self._store
        deltas: list[Delta] = []
        append = deltas.append
        for event in batch:
            t = type(event)
            if t is Apply:
                d = store.apply(event.obj, event.spans)  # type: ignore[union-attr]
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
                relist.add(event.obj, event.spans)  # type: ignore[union-attr]
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
        keys, objects = self._store.keys(), self._store.list()  # in the same order
        self.stats.deltas += len(objects)
        for dispatcher in self._dispatchers:
            dispatcher.push_initial(keys, objects)

    def _dispatch(self, deltas: list[Delta]) -> None:
        self.stats.deltas += len(deltas)
        for dispatcher in self._dispatchers:
            dispatcher.push_deltas(deltas)

    def __repr__(self) -> str:
        return f"Informer({self.scope})"


def _handler_name(handler: ResourceEventHandler) -> str:
    """The name a handler's errors are logged under when none is given: a
    :class:`FunctionHandler` by its functions, any other by its class."""
    if isinstance(handler, FunctionHandler):
        return repr(handler)
    return type(handler).__qualname__
