"""The mutation detector: a reader that mutates a cached object is caught, loudly."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cache_objects import bump, pod

from kcs.cache import CacheMutationError, Lister, Store, StoreOptions
from kcs.core import object_from_dict

pytestmark = pytest.mark.timeout(10)


def _mutate_labels(store: Store) -> None:
    cached = Lister(store).get("a", "default")
    assert cached is not None
    cached.labels["app"] = "hacked"  # the bug the detector exists for


def _mutate_annotations(store: Store) -> None:
    cached = store.get("default/a")
    assert cached is not None
    cached.annotations["note"] = "changed"


@pytest.mark.parametrize("mutate", [_mutate_labels, _mutate_annotations])
@pytest.mark.parametrize("then", ["apply", "delete", "replace", "verify"])
def test_mutating_a_cached_object_is_caught(mutate: Callable[[Store], None], then: str) -> None:
    store = Store()  # on through KCS_CACHE_MUTATION_DETECTOR=1 (conftest)
    assert store.mutation_detector
    a = pod("a", rv="1", labels={"app": "web"}, annotations={"note": "x"})
    store.replace([a, pod("b", rv="2")], "2")
    store.verify()  # nothing mutated yet
    mutate(store)
    with pytest.raises(CacheMutationError, match="'default/a'") as info:
        if then == "apply":
            store.apply(bump(a, "3"))
        elif then == "delete":
            store.delete(bump(a, "3"))
        elif then == "replace":
            store.replace([pod("a", rv="1"), pod("b", rv="2")], "3")
        else:
            store.verify()
    assert info.value.key == "default/a"
    # Nothing changed: the failing write was refused before touching the store.
    assert store.get("default/a") is a
    assert store.resource_version == "2"


def test_other_keys_and_stale_events_still_check_the_stored_object() -> None:
    store = Store()
    a = pod("a", rv="5", labels={"app": "web"})
    store.apply(a)
    store.apply(pod("b", rv="6"))  # another key: no check of "a" needed
    a.labels["app"] = "x"
    with pytest.raises(CacheMutationError):
        store.apply(pod("a", rv="4"))  # even a stale event for the key checks it


def test_detector_off_costs_nothing_and_catches_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(StoreOptions(mutation_detector=False))
    assert store._detector is None
    a = pod("a", rv="1", labels={"app": "web"})
    store.apply(a)
    a.labels["app"] = "hacked"
    store.apply(bump(a, "2"))
    store.verify()
    monkeypatch.setenv("KCS_CACHE_MUTATION_DETECTOR", "0")
    assert not Store().mutation_detector
    monkeypatch.setenv("KCS_CACHE_MUTATION_DETECTOR", "true")
    assert Store().mutation_detector
    monkeypatch.delenv("KCS_CACHE_MUTATION_DETECTOR")
    assert not Store().mutation_detector
    assert Store(StoreOptions(mutation_detector=True)).mutation_detector


def test_kept_managed_fields_are_covered_too() -> None:
    store = Store()
    obj = object_from_dict(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "cm",
                "namespace": "default",
                "resourceVersion": "1",
                "managedFields": [{"manager": "kubectl", "operation": "Update"}],
            },
        },
        keep_managed_fields=True,
    )
    store.apply(obj)
    obj.metadata.managed_fields[0]["manager"] = "someone"  # type: ignore[attr-defined]
    with pytest.raises(CacheMutationError):
        store.verify()
