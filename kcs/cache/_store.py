"""The store: cached objects by key, their indexes, the cache's resourceVersion.

One :class:`Store` holds one collection (one resource, namespace and selector, as one
watch sees it). Writers are the informer's event loop; readers are listers and handlers
in the same event loop. Nothing here awaits while changing state, so every change
(:meth:`Store.apply`, :meth:`Store.delete`, :meth:`Relist.commit`) is atomic to
readers in other tasks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

import anyio

from kcs.cache._delta import Added, Deleted, Delta, Updated
from kcs.cache._errors import HistoryExpired
from kcs.cache._history import History, HistoryWatch
from kcs.cache._image import IndexImage, image_of, keys_of, restore_indexer
from kcs.cache._indexer import Indexer
from kcs.cache._lister import Lister
from kcs.cache._mutation import MutationDetector, enabled_by_environment
from kcs.cache._options import IndexFunc, IndexOptions, StoreOptions, check_metadata_paths
from kcs.cache._query import select
from kcs.cache._waiters import ResourceVersionWaiters
from kcs.core import (
    BodySpans,
    FieldSelector,
    FieldSelectorLike,
    LabelSelector,
    LabelSelectorLike,
    Object,
    parse_resource_version,
    resource_version_at_least,
    resource_version_newer,
)

__all__ = ["Relist", "Store"]

_DEFAULT_OPTIONS = StoreOptions()


class Store:
    """Cached objects by key (``namespace/name`` or ``name``), with indexes.

    Guarantees:

    * **Atomic relist.** :meth:`replace` (or a :class:`Relist` from :meth:`relist`)
      swaps in a complete new state in one step: readers see the old contents or the
      new, never a half-listed cache. It returns the true differences only: an object
      whose resourceVersion did not change yields nothing.
    * **Never backwards per object.** :meth:`apply` and :meth:`delete` ignore an event
      older than (or as old as) the stored object; they return the :class:`Delta` they
      made, or ``None``.
    * **resourceVersion.** :attr:`resource_version` advances with every event (even one
      that changed nothing), every bookmark (:meth:`observe_resource_version`) and is set
      by every relist; :meth:`wait_for` wakes as soon as it reaches a given value.
    * **Zero-copy reads.** :meth:`get`, :meth:`list` and :meth:`by_index` return the
      stored :class:`~kcs.core.Object` instances. They are shared by every reader and
      must never be mutated (their ``labels``/``annotations`` dicts included); turn on
      the mutation detector in tests to catch it.
    * **History.** The last ``history_size`` changes are kept, so :meth:`watch` can
      resume from a recent resourceVersion (:class:`~kcs.cache.HistoryExpired` if it is
      too old). With ``history_retention="watched"`` (the default) they are kept only
      while a watch of the store is alive: a store nobody watches holds no replaced
      objects, and a watch opened then starts the history at :attr:`resource_version`.

    ``options`` (a :class:`~kcs.cache.StoreOptions`) say what is kept and how it is
    indexed (see ``docs/caches-and-indexes.md``). Writers hold the store; readers get
    :attr:`lister`, its read-only face.

    Not thread-safe: use a store from one event loop (its informer's).
    """

    def __init__(self, options: StoreOptions | None = None) -> None:
        options = options if options is not None else _DEFAULT_OPTIONS
        self._options = options
        self._indexer = Indexer(options.indexes)
        self._objects: dict[str, Object] = {}
        self._project: Callable[[Object], Object] | None = (
            options.project if options.projects else None
        )
        self._history = (
            History(options.history_size, always=options.history_retention == "always")
            if options.history_size
            else None
        )
        detector = options.mutation_detector
        if detector is None:
            detector = enabled_by_environment()
        self._detector = MutationDetector() if detector else None
        self._rv = ""
        self._rv_n: int | None = None  # parse_resource_version(self._rv)
        self._waiters = ResourceVersionWaiters()
        self._synced = False
        self._synced_event: anyio.Event | None = None

    @property
    def lister(self) -> Lister:
        """The read-only face of this store: what readers get (see :class:`Lister`).

        A new, stateless :class:`Lister` each time (keep it): the store holds no reference
        to its listers, so a dropped store with its objects is freed at once, not by the
        garbage collector's next full pass.
        """
        return Lister(self)

    @property
    def options(self) -> StoreOptions:
        """The options the store runs with (their indexes include any added later)."""
        return self._options

    # --- reading ---------------------------------------------------------------------
    @property
    def resource_version(self) -> str:
        """The resourceVersion the store has reached (``""`` before anything arrived)."""
        return self._rv

    @property
    def has_synced(self) -> bool:
        """Whether a first complete list has been swapped in (stays true afterwards)."""
        return self._synced

    @property
    def mutation_detector(self) -> bool:
        """Whether the mutation detector is on."""
        return self._detector is not None

    def get(self, key: str) -> Object | None:
        """The cached object under ``key`` (``namespace/name`` or ``name``), or ``None``.

        The cached instance itself: never mutate it.
        """
        return self._objects.get(key)

    def __len__(self) -> int:
        return len(self._objects)

    def __contains__(self, key: object) -> bool:
        return key in self._objects

    def keys(self) -> list[str]:
        """The keys of every cached object (a new list, in no particular order: the
        order of :meth:`list` without arguments, when nothing changed in between)."""
        return list(self._objects)

    def index_names(self) -> list[str]:
        """The names of the store's indexes (see :func:`~kcs.cache.label_index_name`)."""
        return self._indexer.names()

    def index_keys(self, index: str, value: str) -> list[str]:
        """The keys of the objects whose ``index`` value is ``value`` (a new list).

        Raises ``KeyError`` if the store has no such index.
        """
        bucket = self._indexer.buckets(index).get(value)
        if bucket is None:
            return []
        return [bucket] if isinstance(bucket, str) else list(bucket)

    def by_index(self, index: str, value: str) -> list[Object]:
        """The cached objects whose ``index`` value is ``value`` (client-go's ``ByIndex``).

        Raises ``KeyError`` if the store has no such index.
        """
        objects = self._objects
        bucket = self._indexer.buckets(index).get(value)
        if bucket is None:
            return []
        if isinstance(bucket, str):
            return [objects[bucket]]
        return [objects[k] for k in bucket]

    def field_values(self, path: str) -> Mapping[str, str]:
        """Key -> value of the indexed field ``path`` for every cached object (read only:
        the live map). Raises ``KeyError`` if ``path`` is not indexed."""
        values = self._indexer.field_values(path)
        if values is None:
            raise KeyError(f"the store does not index the field {path!r}")
        return values

    def index_values(self, index: str) -> list[str]:
        """The values of ``index`` that at least one cached object has."""
        return list(self._indexer.buckets(index))

    def index_image(self, keys: Sequence[str]) -> IndexImage:
        """The namespace, label and field indexes as they are now, by position in
        ``keys``: :meth:`keys` as of now, whose objects (:meth:`list`, in the same order)
        are saved beside it (what a snapshot saves, for :meth:`Relist.restore`). A new
        value: later changes of the store do not touch it."""
        return image_of(self._indexer, keys)

    # --- configuration ---------------------------------------------------------------
    def add_indexes(self, indexes: IndexOptions) -> None:
        """Add the indexes ``indexes`` ask for that the store lacks (never removes one).

        May be called at any time, even while a relist is being built: the objects
        already cached are indexed at once. The store's :attr:`options` then hold the
        merged indexes (:meth:`IndexOptions.merge <kcs.cache.IndexOptions.merge>`).
        Raises ``ValueError`` (and adds nothing) for a custom index name in use with
        another function, or a field path a metadata-only store cannot have.
        """
        merged = self._options.indexes.merge(indexes)
        if self._options.metadata_only:
            check_metadata_paths(indexes.fields)
        self._indexer.extend(merged, self._objects)
        self._options = self._options.with_indexes(merged)

    def add_index(self, name: str, fn: IndexFunc) -> None:
        """Add the custom index ``name``: ``fn(obj)`` returns the object's index values.

        ``fn`` must be a pure function of the object; a ``str`` result counts as one value.
        Adding the same function under the same name again does nothing; another function
        under a name in use, or a reserved name (``namespace``, ``owner``, ``label:*``,
        ``field:*``), raises ``ValueError``. See :meth:`add_indexes`.
        """
        self.add_indexes(IndexOptions(namespace=False, labels=False, custom={name: fn}))

    def add_field_index(self, path: str) -> None:
        """Index field ``path`` (such as ``spec.nodeName``) too; see :meth:`add_indexes`."""
        self.add_indexes(IndexOptions(namespace=False, labels=False, fields=(path,)))

    def add_label_index(self, label: str) -> None:
        """Index label key ``label`` too (nothing to do when every label key is indexed)."""
        self.add_indexes(IndexOptions(namespace=False, labels=(label,)))

    # --- writing ---------------------------------------------------------------------
    def apply(self, obj: Object, spans: BodySpans | None = None) -> Delta | None:
        """Add or update ``obj`` (a watch ADDED or MODIFIED event).

        Returns :class:`Added` or :class:`Updated`, or ``None`` when the stored object
        is at least as new (``obj`` is ignored). An object without a resourceVersion is
        always taken. The store's resourceVersion advances to ``obj``'s either way.
        Raises :class:`~kcs.cache.CacheMutationError` (before changing anything) if the
        detector is on and the stored object was mutated.

        ``spans``, the :class:`~kcs.core.BodySpans` of ``obj.body`` from the codec that
        decoded it (a watch :class:`~kcs.watch.Apply` carries them), let the field
        indexes skip decoding a path whose top-level field is byte for byte the one of
        the stored object: the index values are the same as without them.
        """
        project = self._project
        if project is not None:
            obj = project(obj)
            spans = None  # they describe the body before the projection
        meta = obj.metadata
        rv = meta.resource_version
        n = parse_resource_version(rv)  # once, for both comparisons below
        key = meta.key
        objects = self._objects
        old = objects.get(key)
        detector = self._detector
        delta: Delta
        if old is None:
            self._indexer.add(key, obj, spans=spans)
            objects[key] = obj
            delta = Added(obj)
        else:
            if detector is not None:
                detector.check(key, old)
            if rv:
                old_rv = old.metadata.resource_version
                o = parse_resource_version(old_rv)
                # resource_version_at_least(old_rv, rv), with rv parsed once
                if (o >= n) if (o is not None and n is not None) else (old_rv == rv):
                    self._advance_to(rv, n)
                    return None
            self._indexer.update(key, old, obj, spans)
            objects[key] = obj
            delta = Updated(old, obj)
        if detector is not None:
            detector.record(key, obj)
        history = self._history
        if history is not None and history.recording:
            history.record(rv, delta)
        self._advance_to(rv, n)
        return delta

    def delete(self, obj: Object) -> Delta | None:
        """Remove ``obj``'s key (a watch DELETED event; ``obj`` is the final state).

        Returns :class:`Deleted` carrying ``obj`` (transformed like every stored object),
        or ``None`` when the key is not cached or the cached object is newer than
        ``obj`` (it was created again). The store's resourceVersion advances either way.
        """
        project = self._project
        if project is not None:
            obj = project(obj)
        meta = obj.metadata
        rv = meta.resource_version
        key = meta.key
        old = self._objects.get(key)
        if old is None:
            self._advance(rv)
            return None
        detector = self._detector
        if detector is not None:
            detector.check(key, old)
        if resource_version_newer(old.metadata.resource_version, rv):
            self._advance(rv)
            return None
        self._indexer.remove(key, old)
        del self._objects[key]
        if detector is not None:
            detector.forget(key)
        delta = Deleted(obj)
        history = self._history
        if history is not None and history.recording:
            history.record(rv, delta)
        self._advance(rv)
        return delta

    def relist(self) -> Relist:
        """Start a relist: add the listed objects to it, then :meth:`Relist.commit`.

        Until the commit the store keeps serving its current contents; the new
        contents and their indexes are built aside, page by page. Dropping the
        :class:`Relist` without committing leaves the store untouched (a list that had
        to restart).
        """
        # The current objects as the relist starts (a relist is built between two
        # commits; the dict's own get is a C call per listed object, not a Python one).
        return Relist(self._project, self._objects.get, lambda: self._indexer, self._commit,
                      self._objects.__len__)

    def replace(self, objects: Iterable[Object], resource_version: str) -> list[Delta]:
        """Swap in ``objects`` as the complete state at ``resource_version``, atomically.

        Returns the true differences, in this order: :class:`Added` and
        :class:`Updated` in the order of ``objects``, then :class:`Deleted`. Marks the
        store synced. Shorthand for ``relist()``, ``add_many(objects)``, ``commit(rv)``.
        """
        relist = self.relist()
        relist.add_many(objects)
        return relist.commit(resource_version)

    def _commit(
        self, objects: dict[str, Object], indexer: Indexer, resource_version: str
    ) -> list[Delta]:
        previous = self._objects
        detector = self._detector
        if detector is not None:
            detector.verify(previous)
        indexer.extend(self._indexer.options, objects)  # indexes added while it ran
        deltas: list[Delta]
        if not previous:  # the first list (or a snapshot): every object is new
            deltas = list(map(Added, objects.values()))
        else:
            deltas = []
            for key, new in objects.items():
                old = previous.get(key)
                if old is None:
                    deltas.append(Added(new))
                elif old is not new:
                    old_rv = old.metadata.resource_version
                    new_rv = new.metadata.resource_version
                    if old_rv != new_rv or (not new_rv and old != new):
                        deltas.append(Updated(old, new))
            deltas.extend(Deleted(old) for key, old in previous.items() if key not in objects)
        # The swap: two assignments, no await in between.
        self._objects = objects
        self._indexer = indexer
        if detector is not None:
            detector.rebuild(objects, previous)
        history = self._history
        if history is not None and history.recording:
            for delta in deltas:
                history.record(resource_version, delta)
        self._rv = resource_version
        self._rv_n = parse_resource_version(resource_version)
        if self._waiters.count:
            self._waiters.notify(resource_version)
        if not self._synced:
            self._synced = True
            if self._synced_event is not None:
                self._synced_event.set()
        return deltas

    def observe_resource_version(self, resource_version: str) -> None:
        """The collection reached ``resource_version`` with nothing to apply (a bookmark).

        Advances :attr:`resource_version` (never backwards) and wakes :meth:`wait_for`.
        """
        self._advance(resource_version)

    def _advance(self, rv: str) -> None:
        self._advance_to(rv, parse_resource_version(rv))

    def _advance_to(self, rv: str, n: int | None) -> None:
        """Move the store's resourceVersion to ``rv`` (``n``: its integer value) unless it
        has reached it already: ``resource_version_at_least`` exactly, with the store's own
        value kept parsed so that each event parses one resourceVersion, not two."""
        cur = self._rv_n
        if (n > cur) if (n is not None and cur is not None) else (
            not resource_version_at_least(self._rv, rv)
        ):
            self._rv = rv
            self._rv_n = n
            waiters = self._waiters
            if waiters.count and (n is None or n >= waiters.low):
                waiters.notify(rv)

    # --- waiting ---------------------------------------------------------------------
    async def wait_for(
        self,
        resource_version: str,
        timeout: float | None = None,  # noqa: ASYNC109 - the answer says whether it was reached
    ) -> bool:
        """Wait until the store has reached ``resource_version``; ``False`` on timeout.

        Returns at once when it already has (an empty ``resource_version`` always has).
        Woken by the event, bookmark or relist that reaches it; never polls.
        Non-numeric resourceVersions are reached only by equality.
        """
        if resource_version_at_least(self._rv, resource_version):
            return True
        event = self._waiters.add(resource_version)
        try:
            with anyio.move_on_after(math.inf if timeout is None else timeout):
                await event.wait()
                return True
        finally:
            self._waiters.discard(event)
        return resource_version_at_least(self._rv, resource_version)

    async def wait_synced(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 - as wait_for
        """Wait until the first relist is committed; ``False`` on timeout."""
        if self._synced:
            return True
        if self._synced_event is None:
            self._synced_event = anyio.Event()
        with anyio.move_on_after(math.inf if timeout is None else timeout):
            await self._synced_event.wait()
        return self._synced

    # --- history ---------------------------------------------------------------------
    def watch(self, since_rv: str | None = None) -> HistoryWatch:
        """Watch the store's changes after ``since_rv`` (``None``: from now on).

        ``since_rv`` is a resourceVersion this store reported (:attr:`resource_version`,
        an object's, or :attr:`HistoryWatch.resource_version`); ``""`` means from the
        empty store. Raises :class:`~kcs.cache.HistoryExpired` at once when the history
        no longer reaches back to it, like a watch cache's 410. See
        :class:`~kcs.cache.HistoryWatch` for what the iterator guarantees.
        """
        history = self._history
        if history is None:
            raise HistoryExpired("this store keeps no history (history_size=0)")
        history.begin(self._rv)
        try:
            position = (
                history.end if since_rv is None else history.position_after(since_rv, self._rv)
            )
        except HistoryExpired:
            history.release()
            raise
        watch = HistoryWatch(history, position, since_rv, self._rv)
        history.attach(watch)
        return watch

    # --- mutation detector -----------------------------------------------------------
    def verify(self) -> None:
        """Check every cached object against its fingerprint (mutation detector on).

        Raises :class:`~kcs.cache.CacheMutationError` naming the first mutated key; does
        nothing when the detector is off.
        """
        if self._detector is not None:
            self._detector.verify(self._objects)

    def __repr__(self) -> str:
        return (
            f"<Store {len(self._objects)} objects rv={self._rv!r} "
            f"synced={self._synced} indexes={self._indexer.names()}>"
        )

    # Last in the class body: a method named ``list`` would shadow the builtin in the
    # annotations after it.
    def list(
        self,
        namespace: str | None = None,
        label_selector: LabelSelectorLike = None,
        field_selector: FieldSelectorLike = None,
    ) -> list[Object]:
        """The cached objects in ``namespace`` (``None`` or ``""``: all) that match.

        A new list of the cached instances (in no particular order), answered from the
        indexes where it can be and always exactly what a scan would find. Selectors are
        accepted as :class:`~kcs.core.LabelSelector` / :class:`~kcs.core.FieldSelector`,
        their string forms, or ``{key: value}`` mappings, with the apiserver's semantics
        (a missing field reads as ``""``). Raises :class:`~kcs.core.SelectorError` for a
        selector that does not parse.
        """
        if not namespace and label_selector is None and field_selector is None:
            return list(self._objects.values())
        return select(
            self._objects,
            self._indexer,
            namespace,
            LabelSelector.of(label_selector),
            FieldSelector.of(field_selector),
        )


class Relist:
    """A relist being built aside from its :class:`Store`; see :meth:`Store.relist`.

    Feed it the listed objects (page by page, awaiting between pages as you like), then
    :meth:`commit` once. Objects whose resourceVersion equals the stored one keep the
    stored instance (no new memory; what readers already hold stays current). A key
    added twice keeps the last object.

    Made by the store, which hands it exactly what it needs: its projection, a read of
    the current object of a key, its current indexer (to reuse the field values of
    unchanged objects) and the commit.
    """

    __slots__ = ("_commit", "_current", "_current_count", "_current_indexer", "_done",
                 "_indexer", "_objects", "_project")

    def __init__(
        self,
        project: Callable[[Object], Object] | None,
        current: Callable[[str], Object | None],
        current_indexer: Callable[[], Indexer],
        commit: Callable[[dict[str, Object], Indexer, str], list[Delta]],
        current_count: Callable[[], int] = lambda: 0,
    ) -> None:
        self._project = project
        self._current = current
        self._current_indexer = current_indexer
        self._current_count = current_count
        self._commit = commit
        self._objects: dict[str, Object] = {}
        self._indexer = current_indexer().empty_like()
        self._done = False

    def __len__(self) -> int:
        return len(self._objects)

    def add(
        self,
        obj: Object,
        spans: BodySpans | None = None,
        *,
        field_values: Mapping[str, str] | None = None,
    ) -> None:
        """Add one listed object (``spans``: its body's, as for :meth:`Store.apply`).

        ``field_values`` (path -> value) are the object's field index values as a store
        computed them before (a snapshot keeps them): those paths are not decoded again,
        unless the store's projection changes the object.
        """
        if self._done:
            raise RuntimeError("this relist was already committed")
        if self._project is not None:
            projected = self._project(obj)
            if projected is not obj:
                obj, spans, field_values = projected, None, None
        key = obj.metadata.key
        objects = self._objects
        prev = objects.get(key)
        if prev is not None:
            self._indexer.remove(key, prev)
        cur = self._current(key)
        reuse = None
        if cur is not None:
            rv = obj.metadata.resource_version
            if cur is obj or (rv and cur.metadata.resource_version == rv):
                obj = cur
                reuse = self._current_indexer()
        self._indexer.add(
            key, obj, reuse, spans=spans if reuse is None else None, values=field_values
        )
        objects[key] = obj

    def add_many(self, objects: Iterable[Object]) -> None:
        """Add listed objects (one page, or all of them)."""
        for obj in objects:
            self.add(obj)

    def restore(
        self,
        objects: Sequence[Object],
        image: IndexImage | None = None,
        keys: Sequence[str] | None = None,
    ) -> None:
        """Add ``objects`` with their indexes taken from ``image`` (:meth:`Store.index_image`
        of the store that held them, in the same order), all at once: each bucket is
        rebuilt whole instead of indexing the objects one by one. The indexes the image
        lacks (owners, custom functions, a label key or field path it did not have) are
        built from the objects. ``keys`` are the objects' keys in the same order (the
        keys the image was made with); given, neither they nor the image's bucket values
        are read from the objects, so an image with saved values (and no index it lacks)
        restores without reading any object's metadata.

        The result equals :meth:`add_many` of the same objects, and that is what is done
        where the two could differ: when the store projects objects (a transform, or
        metadata-only), or when the relist or the store is not empty. Raises
        ``ValueError``, adding nothing, for an image that does not fit the objects (a
        position out of range, two objects with one key, a bucket whose object lacks its
        value). Given ``keys`` and saved bucket values are taken as they are: they must be
        the ones the image was made with (a snapshot checks that its file is intact).
        """
        if self._done:
            raise RuntimeError("this relist was already committed")
        if self._project is not None or self._objects or self._current_count():
            fields = {} if image is None else image.fields
            if any(len(column) != len(objects) for column, _ in fields.values()):
                raise ValueError(f"a field column does not have {len(objects)} values")
            for i, obj in enumerate(objects):
                values = {path: column[i] for path, (column, _) in fields.items()}
                self.add(obj, field_values=values or None)
            return
        if keys is None:
            keys = keys_of(objects)
        elif len(keys) != len(objects):
            raise ValueError(f"{len(keys)} keys for {len(objects)} objects")
        by_key = dict(zip(keys, objects, strict=True))
        if len(by_key) != len(keys):
            raise ValueError("two of the objects have the same key")
        options = self._indexer.options
        self._indexer = restore_indexer(options, image or IndexImage(), keys, objects, by_key)
        self._objects = by_key

    def commit(self, resource_version: str) -> list[Delta]:
        """Swap the listed objects in as the store's state at ``resource_version``.

        Atomic; returns the true differences (see :meth:`Store.replace`). Raises
        :class:`~kcs.cache.CacheMutationError` (and changes nothing) if the detector is
        on and a cached object was mutated. A relist commits once.
        """
        if self._done:
            raise RuntimeError("this relist was already committed")
        deltas = self._commit(self._objects, self._indexer, resource_version)
        self._done = True
        return deltas
