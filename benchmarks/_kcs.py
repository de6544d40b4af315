"""The kcs side of every benchmark, in one place.

Each benchmark builds its kcs objects (informers, stores) only through the functions
here, so that a change of kcs's informer or store API is adapted here and nowhere else.
The baselines never import this module.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

import anyio

from benchmarks._workload import INDEXED_LABEL
from kcs.cache import IndexOptions, Lister, Store, StoreOptions
from kcs.client import Client
from kcs.core import Object, Resource, builtin, codec_for
from kcs.informer import (
    ConsistentReader,
    FunctionHandler,
    HandlerRegistration,
    Informer,
    InformerOptions,
)
from kcs.watch import WatchOptions

PODS = builtin("pods")
FIELD_INDEXES = ["spec.nodeName"]


@contextlib.asynccontextmanager
async def informer_client(url: str) -> AsyncIterator[Client]:
    """A kcs client for ``url`` with no client-side rate limit (the benchmark's server)."""
    async with Client.from_url(url, qps=0) as client:
        yield client


# --- watch ----------------------------------------------------------------------------


class WatchInformer:
    """The informer of the watch benchmark: pods, indexed by namespace, by the label the
    realistic stream changes and by ``spec.nodeName``, default settings otherwise (a
    history of 10,000 changes, the mutation detector as the environment says), and one
    no-op handler."""

    def __init__(self, client: Client) -> None:
        indexes = IndexOptions(labels=[INDEXED_LABEL], fields=FIELD_INDEXES)
        self.informer = Informer(
            client, PODS, options=InformerOptions(store=StoreOptions(indexes=indexes))
        )
        handler = FunctionHandler(on_add=self._noop, on_update=self._noop,
                                  on_delete=self._noop)
        self.registration: HandlerRegistration = self.informer.add_handler(handler)

    @staticmethod
    def _noop(*_args: Any) -> None:
        return None

    async def wait_synced(self, timeout: float) -> None:  # noqa: ASYNC109
        """Until the first list is cached and its adds were delivered to the handler."""
        await self.informer.wait_synced(timeout)  # raises SyncTimeoutError naming why
        if not (await self.registration.wait_synced(timeout)
                and await self.registration.wait_idle(timeout)):
            raise RuntimeError("the handler did not receive the first list")

    async def wait_handled(self, resource_version: str, timeout: float) -> None:  # noqa: ASYNC109
        """Until the cache has reached ``resource_version`` and the handler has been
        called for every change up to it."""
        if not (await self.informer.wait_for(resource_version, timeout)
                and await self.registration.wait_idle(timeout)):
            raise RuntimeError(f"the informer did not reach {resource_version}")

    @property
    def cached(self) -> int:
        """Objects in the cache."""
        return len(self.informer.lister)


def watch_informer(client: Client) -> WatchInformer:
    """The informer of the watch benchmark (see :class:`WatchInformer`)."""
    return WatchInformer(client)


# --- sync -----------------------------------------------------------------------------


def sync_informer(client: Client, initial_list: str = "list",
                  snapshot: str | None = None) -> Informer:
    """An informer on pods with the namespace and ``spec.nodeName`` indexes (and, as by
    default, no label index), listing with
    ``initial_list`` (``"list"`` or ``"stream"``) or warmed from ``snapshot``."""
    store = StoreOptions(indexes=IndexOptions(fields=FIELD_INDEXES))
    if snapshot is not None:
        return Informer(client, PODS, options=InformerOptions(store=store, snapshot=snapshot))
    watch = WatchOptions(initial_list="stream" if initial_list == "stream" else "list")
    return Informer(client, PODS, options=InformerOptions(watch=watch, store=store))


async def save_snapshot(informer: Informer, path: str) -> None:
    """Write ``informer``'s snapshot to ``path``."""
    await informer.save_snapshot(path)


# --- latency --------------------------------------------------------------------------


def latency_informer(client: Client, resource: Resource, on_update: Any = None) -> Informer:
    """An informer on ``resource`` with the ``app`` label index (and ``spec.nodeName``
    for pods); ``on_update(old, new)`` is called for every update."""
    fields = FIELD_INDEXES if resource == PODS else []
    indexes = IndexOptions(labels=["app"], fields=fields)
    informer = Informer(
        client, resource, options=InformerOptions(store=StoreOptions(indexes=indexes))
    )
    if on_update is not None:
        informer.add_handler(FunctionHandler(on_update=on_update))
    return informer


async def wait_handlers_synced(informer: Informer, timeout: float) -> None:  # noqa: ASYNC109
    """Wait until every handler of ``informer`` has been given its initial objects."""
    for registration in informer.handlers:
        if not await registration.wait_synced(timeout):
            raise TimeoutError(f"{registration} not synced after {timeout}s")


def resource_version_of(obj: Object) -> str:
    """The resourceVersion of a cached object."""
    return obj.metadata.resource_version


def cached_keys(informer: Informer) -> list[str]:
    """The keys of every object in ``informer``'s cache."""
    return informer.lister.keys()


async def consistent_get(
    informer: Informer, name: str, namespace: str, timeout: float = 5.0  # noqa: ASYNC109
) -> Object | None:
    """A consistent read of one object through ``informer`` (live after ``timeout``)."""
    return await ConsistentReader(informer, timeout=timeout).get(
        informer.resource, name, namespace
    )


# --- memory and index -----------------------------------------------------------------


def filled_store(raw: Iterable[bytes], resource_version: str) -> Store:
    """A store with the three indexes (namespace, every label key, ``spec.nodeName``),
    default settings otherwise, filled as an informer's first list fills it. Every label
    key is indexed (label indexes are opt-in, by key): the most a store holds."""
    store = Store(StoreOptions(indexes=IndexOptions(labels=True, fields=FIELD_INDEXES)))
    codec = codec_for("Pod")
    relist = store.relist()
    for data in raw:
        relist.add(codec.decode_object(data))
    relist.commit(resource_version)
    return store


def update_store(store: Store, raw: Iterable[bytes]) -> None:
    """Apply one MODIFIED event per object of ``raw`` to ``store``, as the watch does."""
    codec = codec_for("Pod")
    for data in raw:
        store.apply(codec.decode_object(data))


def lister(store: Store) -> Lister:
    """A lister over ``store`` (its read-only face)."""
    return store.lister


async def cancel_after_synced(informer: Informer, timeout: float) -> None:  # noqa: ASYNC109
    """Run ``informer`` until it has synced, then stop it."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(informer.run)
        await informer.wait_synced(timeout)  # raises SyncTimeoutError naming why
        tg.cancel_scope.cancel()
