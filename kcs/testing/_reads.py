"""The read verbs: list (with kube's resourceVersion semantics and pagination) and watch.

Lists:

* ``resourceVersion`` unset: the latest state (a "quorum read"), paginated with ``limit``;
* ``"0"``: any state, served like the watch cache, which ignores ``limit``;
* ``N`` with ``resourceVersionMatch=NotOlderThan`` (or unset, without ``limit``): the latest
  state, once the store has reached N;
* ``N`` with ``Exact`` (or unset, with ``limit``): the state as of revision N, rebuilt from
  the history; 410 Expired when N is older than the history;
* a ``continue`` token: the next page of the same snapshot; 410 Expired once compacted.

A resourceVersion the store has not reached yet waits up to ``too_large_wait`` and is then a
504 Timeout "Too large resource version", as in kube-apiserver. A consistent list (no
resourceVersion) also brings the resource's watch-cache revision up to the global one, as
kube-apiserver's consistent reads from the watch cache do (through an etcd progress
notification): the next faithful bookmark of its watches carries it.

Watches, as kube-apiserver's watch cache (the cacher) serves them:

* no ``sendInitialEvents``: ``resourceVersion`` unset or ``"0"`` starts with a synthetic
  ``ADDED`` for every object, then the changes (no initial-events-end bookmark); ``N``
  delivers the events after N, an ``ERROR`` 410 Expired event when N is older than the
  history, and nothing until the server passes N when N is in the future;
* ``sendInitialEvents=true``: the objects as ``ADDED`` once the watch cache has reached
  the requested revision (the global one when ``resourceVersion`` is unset), then, with
  ``allowWatchBookmarks``, the bookmark annotated ``k8s.io/initial-events-end``;
* ``sendInitialEvents=false``: the changes after ``resourceVersion`` (after the current
  revision when unset, after the watch cache's when ``"0"``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kcs.core import FieldSelector, ServerTimeout
from kcs.testing._fields import check_field_selector, field_reader, matches
from kcs.testing._listing import ListOptions, decode_continue, encode_continue
from kcs.testing._registry import ServedResource
from kcs.testing._status import expired, too_large_resource_version
from kcs.testing._store import ResourceStore, Store, StoredObject
from kcs.testing._watch import ClientInfo, Watcher, bookmark_line, error_line

__all__ = ["ListPage", "Reads"]


@dataclass(frozen=True, slots=True)
class ListPage:
    """One page of a list: the objects, the list's revision, and how to continue."""

    items: list[StoredObject]
    resource_version: int
    continue_token: str | None = None
    remaining: int | None = None


def _single_name(fields: FieldSelector) -> str | None:
    """The name a field selector pins with ``metadata.name=NAME``, if it does."""
    for req in fields.requirements:
        if req.path == "metadata.name" and req.op == "=":
            return req.value
    return None


def _key_of(served: ServedResource, so: StoredObject) -> str:
    meta = so.obj["metadata"]
    return f"{meta.get('namespace')}/{meta['name']}" if served.resource.namespaced else str(
        meta["name"])


class Reads:
    """list and watch over a :class:`Store`."""

    def __init__(self, store: Store, *, too_large_wait: float = 3.0) -> None:
        self.store = store
        self.too_large_wait = too_large_wait

    def rs(self, served: ServedResource) -> ResourceStore:
        """The store of ``served``'s objects."""
        return self.store.resource(served.store_key)

    async def wait_for_revision(self, rv: int) -> None:
        """Wait (up to ``too_large_wait``) until the store reaches ``rv``; else 504 Timeout."""
        try:
            async with asyncio.timeout(self.too_large_wait):
                await self.store.wait_for_revision(rv)
        except TimeoutError:
            raise too_large_resource_version(rv, self.store.revision) from None

    async def list_page(
        self, served: ServedResource, namespace: str | None, opts: ListOptions
    ) -> ListPage:
        """One page of a list (see the module doc for the resourceVersion semantics)."""
        check_field_selector(served, opts.field)
        rs = self.rs(served)
        limit = opts.limit
        after: str | None = None
        rv = opts.rv
        if opts.continue_token:
            at, after = decode_continue(opts.continue_token)
            if at < rs.history_start:
                raise expired(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter."
                )
        elif rv is None:
            at = self.store.revision
            rs.freshen(at)  # a consistent read waits until the watch cache is fresh
        elif rv == 0:
            at, limit = self.store.revision, 0  # served from the "watch cache": no paging
        else:
            if rv > self.store.revision:
                await self.wait_for_revision(rv)
            exact = opts.resource_version_match == "Exact" or (
                not opts.resource_version_match and limit > 0
            )
            if exact:
                if rv < rs.history_start:
                    raise expired("The resourceVersion for the provided list is too old.")
                at = rv
            else:
                at = self.store.revision
                if rv > rs.cache_rv:
                    rs.freshen(at)
        return self._page(served, rs, at, namespace, after, limit, opts)

    def _page(
        self,
        served: ServedResource,
        rs: ResourceStore,
        at: int,
        namespace: str | None,
        after: str | None,
        limit: int,
        opts: ListOptions,
    ) -> ListPage:
        reader = field_reader(served)
        filtered = not (opts.label.empty and opts.field.empty)
        items: list[StoredObject] = []
        last_key: str | None = None
        more = False
        name = _single_name(opts.field)
        candidates: Iterable[StoredObject]
        if name is not None and after is None and (namespace or not served.resource.namespaced):
            # kube-apiserver reads a list that selects one name by that key alone
            # (registry.Store.ListPredicate with SelectionPredicate.MatchesSingle)
            key = f"{namespace}/{name}" if served.resource.namespaced else name
            found = rs.at_key(at, key)
            candidates = () if found is None else (found,)
        else:
            candidates = rs.view(at, namespace, after)
        for so in candidates:
            if filtered and not (
                opts.label.matches((so.obj.get("metadata") or {}).get("labels"))
                and matches(reader, opts.field, so.obj)
            ):
                continue
            if limit and len(items) >= limit:
                more = True
                break
            items.append(so)
            last_key = _key_of(served, so)
        if not more or last_key is None:
            return ListPage(items, at)
        remaining = None if filtered else rs.count_after(at, namespace, last_key)
        return ListPage(items, at, encode_continue(at, last_key), remaining)

    async def watch(
        self,
        served: ServedResource,
        namespace: str | None,
        opts: ListOptions,
        client: ClientInfo,
        name: str | None = None,
        transform: Callable[[str, StoredObject], bytes] | None = None,
    ) -> Watcher | bytes:
        """Open a watch: a registered :class:`Watcher` with its initial lines queued, or the
        ERROR line to send instead (a resourceVersion too old, or too new for a streaming
        list). See the module doc for the semantics.

        The watcher is registered with the resource store in the same step as the initial
        state is read, so no event is missed or repeated.
        """
        check_field_selector(served, opts.field)
        fsel = opts.field
        if name is not None:
            fsel = FieldSelector.parse(",".join(filter(None, [str(fsel), f"metadata.name={name}"])))
        rs = self.rs(served)
        rv = opts.rv
        sie = opts.send_initial_events
        w = Watcher(served, served.resource.api_version, namespace, opts.label, fsel,
                    field_reader(served), client, transform)
        if sie:
            required = self.store.revision if rv is None else rv
            if required > self.store.revision:
                try:
                    await self.wait_for_revision(required)
                except ServerTimeout as e:
                    return error_line(e.status)
            if required > rs.cache_rv:
                rs.freshen(self.store.revision)
            w.offer_initial(rs.view(self.store.revision, namespace))
            w.position = rs.cache_rv
            if opts.allow_bookmarks:
                w.push(bookmark_line(served.resource.kind, served.resource.api_version,
                                     rs.cache_rv, initial_end=True))
        elif rv is None and sie is False:
            w.position = w.after = self.store.revision
        elif rv == 0 and sie is False:
            w.position = rs.cache_rv
        elif not rv:
            w.offer_initial(rs.view(self.store.revision, namespace))
            w.position = rs.cache_rv
        else:
            oldest = rs.oldest_watchable()
            if rv < oldest:
                return error_line(expired(f"too old resource version: {rv} ({oldest})").status)
            w.position = rv
            if rv > self.store.revision:
                w.after = rv
            for ev in rs.events_after(rv):
                w.offer(ev)
                w.position = max(w.position, ev.rv)
        rs.listeners.add(w.offer)
        return w

    def stop_watch(self, w: Watcher) -> None:
        """Unregister ``w`` from its resource store."""
        self.rs(w.served).listeners.discard(w.offer)
