"""Consistent reads: find the server's current resourceVersion, wait for the cache to reach
it, answer from the cache — or, if it does not catch up in time, from the apiserver.

Why it is correct: a list with ``limit=1`` and no ``resourceVersion`` is served from etcd
with a quorum read, so its ``metadata.resourceVersion`` is at least the revision of every
write that completed before the call. Once the cache has reached that revision (through
an event or a bookmark of its watch, which delivers changes in order), it holds the effect
of all those writes, and a read from it is as fresh as a live read started at the same
moment.
"""

from __future__ import annotations

import logging
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
)
from kcs.informer._cache_reader import CacheReader
from kcs.informer._errors import CacheNotFresh
from kcs.informer._factory import InformerFactory
from kcs.informer._informer import Informer
from kcs.informer._options import Fallback

__all__ = ["ConsistentReader"]

_log = logging.getLogger("kcs.informer")


class _ListHead(msgspec.Struct):
    metadata: ListMeta = ListMeta()


_list_head = msgspec.json.Decoder(_ListHead)


class ConsistentReader:
    """A :class:`~kcs.core.Reader` whose answers are as fresh as a live read started at
    the same moment, served from the informer caches (same call shape and return types as
    :class:`~kcs.client.Client`).

    Each read finds the server's current resourceVersion (a quorum LIST with ``limit=1``
    of the serving informer's collection), waits up to ``timeout`` seconds (both steps
    together) for the cache to reach it, then answers from the cache — the cached
    instances themselves, from the indexes. If the cache does not catch up in time:
    ``fallback="live"`` reads from the apiserver (``get_raw`` / a paginated quorum
    ``list_raw``, decoded with the informer's codec and passed through its transform and
    metadata-only cut, so the answer looks exactly like a cached one), ``"error"`` raises
    :class:`~kcs.informer.CacheNotFresh`. Both can be given per read too.

    ``source`` is what a :class:`~kcs.informer.CacheReader` reads (one informer, several,
    a factory) or a cache reader itself; reads are routed to informers the same way (a
    resource no informer serves raises :class:`LookupError`), and answers are limited to
    the serving informer's namespace and selectors: an object outside them reads as
    absent, live or not. A read before the informer has synced waits for the sync (within
    ``timeout``). See ``docs/consistency.md``.
    """

    __slots__ = ("_cache", "fallback", "timeout")

    def __init__(
        self,
        source: CacheReader | Informer | InformerFactory | Iterable[Informer],
        *,
        timeout: float = 5.0,
        fallback: Fallback = "live",
        namespace: str | None = None,
    ) -> None:
        self._cache = (
            source if isinstance(source, CacheReader) else CacheReader(source, namespace=namespace)
        )
        self.timeout = timeout
        """Seconds a read waits for the cache before its fallback."""
        self.fallback = fallback
        """What a read does when the cache did not catch up in time."""

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
        wanted = await _catch_up(informer, timeout)
        if wanted is None:
            return informer.lister.get(name, ns)
        if (fallback or self.fallback) == "error":
            raise CacheNotFresh(resource, wanted, informer.resource_version, timeout)
        _log.debug("%s: cache not fresh after %gs; reading %s live", informer, timeout, name)
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
        wanted = await _catch_up(informer, timeout)
        if wanted is None:
            found = informer.lister.list(ns, labels, fields)
            return ObjectList(found, resource_version=informer.resource_version)
        if (fallback or self.fallback) == "error":
            raise CacheNotFresh(resource, wanted, informer.resource_version, timeout)
        _log.debug("%s: cache not fresh after %gs; listing live", informer, timeout)
        return await _live_list(informer, ns or informer.namespace, labels, fields)

    def __repr__(self) -> str:
        return f"ConsistentReader({self._cache!r}, timeout={self.timeout:g})"


async def _catch_up(informer: Informer, timeout: float) -> str | None:  # noqa: ASYNC109
    """Wait for the cache to reach the server's current resourceVersion.

    Returns ``None`` when it did, else the resourceVersion it waited for (``""`` when even
    finding it took too long).
    """
    deadline = anyio.current_time() + timeout
    wanted = ""
    with anyio.move_on_after(timeout):
        wanted = await _current_resource_version(informer)
        if await informer.wait_for(wanted, max(0.0, deadline - anyio.current_time())):
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
