"""Consistent reads: prove the cache as fresh as a quorum read started now, then answer
from it — or answer with that quorum read itself.

Why it is correct: a LIST with no ``resourceVersion`` is served from etcd with a quorum
read (or from a watch cache that kube-apiserver proved as fresh, KEP-2340), so its
``metadata.resourceVersion`` ``R`` is at least the revision of every write that completed
before the call, and its items are the collection's state at ``R``. The cache may answer
when it has reached ``R`` (through an event or a bookmark of its watch, which delivers
changes in order), or — for one object — when it holds the very version the quorum read
returned (a resourceVersion names one state of an object). Otherwise the quorum read's own
answer is the live answer.

A get's probe is a LIST of that one name (within the informer's selectors): as cheap for
the server as a GET, it carries both ``R`` and the object. A collection that nothing
writes to reaches ``R`` only through a bookmark, up to a minute away on kube-apiserver;
comparing versions answers from the cache at once. A list's probe is a LIST with
``limit=1`` (``R`` only); when the cache is behind it waits briefly for the watch, then
lists live.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable

import anyio
import msgspec

from kcs.core import (
    FieldRequirement,
    FieldSelector,
    FieldSelectorLike,
    LabelSelector,
    LabelSelectorLike,
    ListMeta,
    NotFound,
    Object,
    ObjectList,
    Resource,
    resource_version_at_least,
)
from kcs.informer._cache_reader import CacheReader
from kcs.informer._errors import CacheNotFresh
from kcs.informer._factory import InformerFactory
from kcs.informer._informer import Informer
from kcs.informer._options import Fallback
from kcs.informer._probe import SharedProbes

__all__ = ["ConsistentReader"]

_log = logging.getLogger("kcs.informer")


class _ListHead(msgspec.Struct):
    metadata: ListMeta = ListMeta()


_list_head = msgspec.json.Decoder(_ListHead)


class ConsistentReader:
    """A :class:`~kcs.core.Reader` whose answers are as fresh as a live read started at
    the same moment, served from the informer caches (same call shape and return types as
    :class:`~kcs.client.Client`).

    **get** sends one quorum LIST of that name (the informer's namespace and selectors,
    plus ``metadata.name``): it tells the server's current resourceVersion ``R`` and the
    object's version at ``R``. The answer is the cached instance when the cache has
    reached ``R`` or holds that very version (or, like the server, no such object); else
    ``fallback="live"`` answers with the listed object (decoded with the informer's codec,
    through its transform and metadata-only cut: it looks exactly like a cached one; no
    second request), and ``fallback="error"`` waits up to ``timeout`` for the watch to
    reach ``R``, then raises :class:`~kcs.informer.CacheNotFresh`. A quiet collection
    (no event has reached ``R``, no bookmark is due) is answered from the cache at once.

    **list** finds ``R`` with a quorum LIST with ``limit=1`` and answers from the indexes
    once the cache has reached ``R``; it waits up to ``live_after`` seconds for that
    (``fallback="live"``, then a paginated quorum ``list_raw``), or ``timeout``
    (``fallback="error"``, then :class:`~kcs.informer.CacheNotFresh`).

    Concurrent reads of the same informer (and, for gets, the same name) that start in
    the same event-loop tick share one probe; a read never uses a probe sent before it
    started. ``timeout`` bounds every read (probe included); ``fallback`` and ``timeout``
    can also be given per read.

    ``source`` is what a :class:`~kcs.informer.CacheReader` reads (one informer, several,
    a factory) or a cache reader itself; reads are routed to informers the same way (a
    resource no informer serves raises :class:`LookupError`), and answers are limited to
    the serving informer's namespace and selectors: an object outside them reads as
    absent, live or not. A read before the informer has synced never answers from its
    empty cache: it answers live, or with ``"error"`` waits for the sync (within
    ``timeout``). See ``docs/consistency.md``.
    """

    __slots__ = ("_cache", "fallback", "live_after", "timeout")

    def __init__(
        self,
        source: CacheReader | Informer | InformerFactory | Iterable[Informer],
        *,
        timeout: float = 5.0,
        fallback: Fallback = "live",
        namespace: str | None = None,
        live_after: float = 0.1,
    ) -> None:
        self._cache = (
            source if isinstance(source, CacheReader) else CacheReader(source, namespace=namespace)
        )
        self.timeout = timeout
        """Seconds a read may take in all before its fallback (``"error"``: raising)."""
        self.fallback = fallback
        """What a read does when the cache is not as fresh as the server."""
        self.live_after = live_after
        """Seconds a list waits for the watch to reach the server before listing live."""

    @property
    def cache(self) -> CacheReader:
        """The cache reader answers come from (and that routes reads to informers)."""
        return self._cache

    async def get(
        self,
        resource: Resource,
        name: str,
        namespace: str | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        fallback: Fallback | None = None,
    ) -> Object | None:
        """The object ``name`` as of now: at least as fresh as a live GET started now
        (``None``: no such object, or outside the informer's selectors)."""
        ns = self._cache.namespace_for(resource, namespace)
        informer = self._cache.informer_for(resource, ns)
        timeout = self.timeout if timeout is None else timeout
        deadline = anyio.current_time() + timeout
        wanted = ""
        with anyio.move_on_after(timeout):
            wanted, live = await _probes_of(informer).run(
                ("get", name, ns), lambda: _probe_get(informer, name, ns)
            )
            if informer.has_synced:
                cached = informer.lister.get(name, ns)
                # (a server that gives no resourceVersion proves nothing by it)
                if (wanted and resource_version_at_least(informer.resource_version, wanted)) or (
                    _same_version(cached, live)
                ):
                    return cached
            if (fallback or self.fallback) == "live":
                return live
            if await informer.wait_for(wanted, max(0.0, deadline - anyio.current_time())):
                return informer.lister.get(name, ns)
        if (fallback or self.fallback) == "error":
            raise CacheNotFresh(resource, wanted, informer.resource_version, timeout)
        # The probe itself did not answer in time: one plain live read.
        _log.debug("%s: no answer to the probe in %gs; reading %s live", informer, timeout, name)
        return await _live_get(informer, name, ns)

    async def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: LabelSelectorLike = None,
        field_selector: FieldSelectorLike = None,
        timeout: float | None = None,  # noqa: ASYNC109
        fallback: Fallback | None = None,
    ) -> ObjectList:
        """The matching objects as of now, from the indexes (see :meth:`get`).

        Within the informer's own namespace and selectors; the selectors given here
        narrow them further. The live fallback is a paginated quorum LIST with the
        informer's and the given selectors combined.
        """
        ns = namespace if resource.namespaced else None
        informer = self._cache.informer_for(resource, ns, label_selector, field_selector)
        labels = LabelSelector.of(label_selector)
        fields = FieldSelector.of(field_selector)
        timeout = self.timeout if timeout is None else timeout
        error = (fallback or self.fallback) == "error"
        wait = timeout if error else min(timeout, self.live_after)
        wanted = await _catch_up(informer, timeout, wait)
        if wanted is None:
            found = informer.lister.list(ns, labels, fields)
            return ObjectList(found, resource_version=informer.resource_version)
        if error:
            raise CacheNotFresh(resource, wanted, informer.resource_version, timeout)
        _log.debug("%s: cache not fresh after %gs; listing live", informer, timeout)
        return await _live_list(informer, ns or informer.namespace, labels, fields)

    def __repr__(self) -> str:
        return f"ConsistentReader({self._cache!r}, timeout={self.timeout:g})"


_shared: weakref.WeakKeyDictionary[Informer, SharedProbes[tuple[str, Object | None]]] = (
    weakref.WeakKeyDictionary()
)
_shared_rv: weakref.WeakKeyDictionary[Informer, SharedProbes[str]] = weakref.WeakKeyDictionary()


def _probes_of(informer: Informer) -> SharedProbes[tuple[str, Object | None]]:
    """The get probes of ``informer``, shared by every reader of it."""
    probes = _shared.get(informer)
    if probes is None:
        probes = _shared[informer] = SharedProbes()
    return probes


def _same_version(cached: Object | None, live: Object | None) -> bool:
    """Whether the cache holds the state the quorum read returned (or, like it, nothing)."""
    if cached is None or live is None:
        return cached is live
    rv = live.metadata.resource_version
    return bool(rv) and cached.metadata.resource_version == rv


async def _probe_get(
    informer: Informer, name: str, namespace: str | None
) -> tuple[str, Object | None]:
    """A quorum LIST of ``name`` within the informer's scope: ``(R, the object at R)``."""
    fields = informer.field_selector
    by_name = FieldSelector((*fields.requirements, FieldRequirement("metadata.name", "=", name)))
    labels = informer.label_selector
    body = await informer.client.list_raw(
        informer.resource,
        namespace,
        label_selector=None if labels.empty else labels,
        field_selector=by_name,
    )
    meta, items = informer.codec.decode_list(body)
    return meta.resource_version, informer.project(items[0]) if items else None


async def _catch_up(informer: Informer, timeout: float, wait: float) -> str | None:  # noqa: ASYNC109
    """Wait for the cache to reach the server's current resourceVersion: the probe within
    ``timeout``, the wait for the watch within ``wait`` of it too.

    Returns ``None`` when it did, else the resourceVersion it waited for (``""`` when even
    finding it took too long).
    """
    deadline = anyio.current_time() + timeout
    wanted = ""
    with anyio.move_on_after(timeout):
        probes = _shared_rv.get(informer)
        if probes is None:
            probes = _shared_rv[informer] = SharedProbes()
        wanted = await probes.run("list", lambda: _current_resource_version(informer))
        if resource_version_at_least(informer.resource_version, wanted) and informer.has_synced:
            return None
        left = min(wait, max(0.0, deadline - anyio.current_time()))
        if await informer.wait_for(wanted, left):
            return None
    return wanted


async def _current_resource_version(informer: Informer) -> str:
    """The server's current resourceVersion, by a quorum list of at most one object."""
    body = await informer.client.list_raw(
        informer.resource,
        informer.namespace,
        label_selector=None if informer.label_selector.empty else informer.label_selector,
        field_selector=None if informer.field_selector.empty else informer.field_selector,
        limit=1,
    )
    return _list_head.decode(body).metadata.resource_version


async def _live_get(informer: Informer, name: str, namespace: str | None) -> Object | None:
    """Read one object from the apiserver as the informer would cache it.

    With selectors, an object outside them is ``None`` (as it would be in the cache): the
    read is a LIST restricted by ``metadata.name``; without, a GET. A 404 about the
    resource itself (not the object) raises, as the client's ``get`` does.
    """
    client, codec = informer.client, informer.codec
    labels, fields = informer.label_selector, informer.field_selector
    if labels.empty and fields.empty:
        try:
            body = await client.get_raw(informer.resource, name, namespace)
        except NotFound as exc:
            if exc.details.get("name") == name:
                return None
            raise
        return informer.project(codec.decode_object(body))
    by_name = FieldSelector((*fields.requirements, FieldRequirement("metadata.name", "=", name)))
    body = await client.list_raw(
        informer.resource,
        namespace,
        label_selector=None if labels.empty else labels,
        field_selector=by_name,
    )
    _, items = codec.decode_list(body)
    return informer.project(items[0]) if items else None


async def _live_list(
    informer: Informer, namespace: str | None, labels: LabelSelector, fields: FieldSelector
) -> ObjectList:
    """List from the apiserver (quorum read, paginated) as the informer would cache it,
    within the informer's selectors and ``labels``/``fields``."""
    client, codec, project = informer.client, informer.codec, informer.project
    labels = LabelSelector(informer.label_selector.requirements + labels.requirements)
    fields = FieldSelector(informer.field_selector.requirements + fields.requirements)
    out = ObjectList()
    token: str | None = None
    while True:
        body = await client.list_raw(
            informer.resource,
            namespace,
            label_selector=None if labels.empty else labels,
            field_selector=None if fields.empty else fields,
            limit=informer.options.watch.page_size,
            continue_=token,
        )
        meta, items = codec.decode_list(body)
        out.extend(project(obj) for obj in items)
        if not token:
            out.resource_version = meta.resource_version
        token = meta.continue_ or None
        if token is None:
            return out
