"""The public surface of each package, pinned: a name added to or removed from an
``__all__`` is a decision, made here on purpose (as httpx does). One row per package."""

from __future__ import annotations

import importlib

import pytest

pytestmark = pytest.mark.timeout(10)

SURFACE: dict[str, list[str]] = {
    "kcs.watch": [
        "INITIAL_EVENTS_END",
        "Apply",
        "Backoff",
        "Bookmark",
        "Delete",
        "ErrorTally",
        "Event",
        "InitApply",
        "InitDone",
        "InitStart",
        "InitialList",
        "ListerWatcher",
        "RawWatch",
        "WatchError",
        "WatchErrorHook",
        "WatchErrorKind",
        "WatchOptions",
        "WatchStats",
        "Watcher",
        "WatcherState",
        "describe_scope",
    ],
    "kcs.cache": [
        "NAMESPACE_INDEX",
        "OWNER_INDEX",
        "Added",
        "CacheMutationError",
        "Deleted",
        "Delta",
        "HistoryExpired",
        "HistoryWatch",
        "IndexFunc",
        "IndexOptions",
        "Lister",
        "Relist",
        "Store",
        "StoreOptions",
        "Transform",
        "Updated",
        "field_index_name",
        "label_index_name",
    ],
    "kcs.informer": [
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
    ],
}


@pytest.mark.parametrize("package", sorted(SURFACE))
def test_public_names(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == sorted(SURFACE[package])
    assert len(set(module.__all__)) == len(module.__all__)
    for name in module.__all__:
        assert hasattr(module, name), f"{package}.{name} is in __all__ but missing"
