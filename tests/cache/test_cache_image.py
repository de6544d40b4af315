"""Index images: a store restored from its image equals the same objects added one by one."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from cache_objects import pod

from kcs.cache import IndexImage, IndexOptions, Store, StoreOptions
from kcs.core import Object, object_from_dict

pytestmark = pytest.mark.timeout(30)


def _pods(n: int = 60) -> list[Object]:
    out = []
    for i in range(n):
        labels = {"app": f"a{i % 3}", "hash": f"h{i}"}  # "hash": one key per value
        if i % 4:
            labels["tier"] = f"t{i % 2}"
        out.append(pod(f"p{i}", f"ns{i % 5}", str(100 + i), labels=labels,
                       node=f"n{i % 7}" if i % 6 else None, owners=[f"rs{i % 4}"]))
    return out


def _odd(obj: Object) -> list[str]:
    return ["odd"] if int(obj.name[1:]) % 2 else []


def _key(obj: Object) -> str:
    return obj.metadata.key


def _contents(store: Store) -> tuple[dict[str, Object], dict[str, dict[str, set[str]]],
                                     dict[str, dict[str, str]]]:
    """Every object, every bucket of every index, every field value."""
    indexes = {name: {v: set(store.index_keys(name, v)) for v in store.index_values(name)}
               for name in store.index_names()}
    fields = {p: dict(store.field_values(p)) for p in store.options.indexes.fields}
    return {k: store.get(k) for k in store.keys()}, indexes, fields  # type: ignore[misc]  # noqa: SIM118 - Store has no __iter__


def _listed(options: StoreOptions, objects: list[Object]) -> Store:
    store = Store(options)
    store.replace(objects, "200")
    return store


def _restored(options: StoreOptions, objects: list[Object], image: IndexImage | None,
              keys: list[str] | None = None) -> Store:
    store = Store(options)
    relist = store.relist()
    relist.restore(objects, image, keys)
    assert len(store) == 0 and len(relist) == len(objects)  # the store waits for the commit
    relist.commit("200")
    return store


INDEXES = {
    "default": IndexOptions(fields=["spec.nodeName"]),
    "every label": IndexOptions(labels=True, fields=["spec.nodeName"]),
    "some labels": IndexOptions(labels=["app", "tier", "absent"], fields=["spec.nodeName"]),
    "owners and custom": IndexOptions(owners=True, custom={"odd": _odd}),
    "none": IndexOptions(namespace=False, labels=False),
}


def _without_values(image: IndexImage) -> IndexImage:
    """The image as an older snapshot (format 3) holds it: bucket positions only."""
    return dataclasses.replace(image, namespace_values=None, label_values={})


@pytest.mark.parametrize("saved", list(INDEXES))
@pytest.mark.parametrize("loaded", list(INDEXES))
@pytest.mark.parametrize("given", ["values and keys", "positions only"])
def test_a_restored_store_equals_a_listed_one(saved: str, loaded: str, given: str) -> None:
    """Whatever the image holds: what it has is restored, what it lacks is built; with
    the bucket values and the keys given (format 4) or read from the objects."""
    objects = _pods()
    source = _listed(StoreOptions(indexes=INDEXES[saved]), objects)
    keys = source.keys()
    image = source.index_image(keys)
    in_order = [source.get(k) for k in keys]
    options = StoreOptions(indexes=INDEXES[loaded])
    expected = _contents(_listed(options, in_order))  # type: ignore[arg-type]
    if given == "values and keys":
        got = _restored(options, in_order, image, list(keys))  # type: ignore[arg-type]
    else:
        got = _restored(options, in_order, _without_values(image))  # type: ignore[arg-type]
    assert _contents(got) == expected
    # Store.list promises no order (its buckets are sets): compare the objects by key.
    selected = got.list(label_selector="app=a1,tier=t1")
    listed = _listed(options, in_order).list(label_selector="app=a1,tier=t1")  # type: ignore[arg-type]
    assert selected, "the selector must select something for this to mean anything"
    assert sorted(selected, key=_key) == sorted(listed, key=_key)


def test_the_image_is_a_copy() -> None:
    store = _listed(StoreOptions(indexes=INDEXES["default"]), _pods(10))
    keys = store.keys()
    image = store.index_image(keys)
    before = dataclasses.replace(image)
    store.apply(pod("p1", "ns1", "999", labels={"app": "new"}, node="elsewhere"))
    assert image == before


def test_cluster_scoped_objects_restore() -> None:
    nodes = [object_from_dict({"apiVersion": "v1", "kind": "Node",
                               "metadata": {"name": f"n{i}", "resourceVersion": str(i + 1),
                                            "labels": {"zone": f"z{i % 2}"}}})
             for i in range(6)]
    source = _listed(StoreOptions(), nodes)
    keys = source.keys()
    got = _restored(StoreOptions(), [source.get(k) for k in keys],  # type: ignore[misc]
                    source.index_image(keys))
    assert _contents(got) == _contents(source)
    assert got.keys() == [f"n{i}" for i in range(6)]


def test_a_projecting_store_restores_object_by_object() -> None:
    def drop_status(obj: Object) -> Object:
        return Object(obj.api_version, obj.kind, obj.metadata, b'{"spec":{}}')

    objects = _pods(12)
    options = StoreOptions(indexes=INDEXES["default"], transform=drop_status)
    source = _listed(StoreOptions(indexes=INDEXES["default"]), objects)
    keys = source.keys()
    got = _restored(options, [source.get(k) for k in keys], source.index_image(keys))  # type: ignore[misc]
    assert _contents(got) == _contents(_listed(options, objects))
    assert all(o.body == b'{"spec":{}}' for o in got.list())


def _bad(image: IndexImage, **changes: Any) -> IndexImage:
    return dataclasses.replace(image, **changes)


@pytest.mark.parametrize("damage", ["out of range", "negative", "lone multi", "wrong label",
                                    "short column", "same value twice", "duplicate key",
                                    "short values", "short keys"])
def test_an_image_that_does_not_fit_is_refused(damage: str) -> None:
    objects = _pods(20)
    source = _listed(StoreOptions(indexes=INDEXES["every label"]), objects)
    keys = source.keys()
    in_order: list[Object] = [source.get(k) for k in keys]  # type: ignore[misc]
    image = source.index_image(keys)
    namespace = image.namespace
    assert namespace is not None
    singles, multis = image.labels["hash"]
    column, buckets = image.fields["spec.nodeName"]
    given: list[str] | None = None
    if damage in ("wrong label", "same value twice"):
        image = _without_values(image)  # the values are read from the objects
    if damage == "out of range":
        image = _bad(image, labels={**image.labels, "hash": ([*singles[:-1], 10_000], multis)})
    elif damage == "negative":
        image = _bad(image, namespace=(namespace[0], [[-1, *namespace[1][0]]]))
    elif damage == "lone multi":
        image = _bad(image, labels={**image.labels, "hash": (singles[1:], [[singles[0]]])})
    elif damage == "wrong label":  # "hash" buckets that point at objects without it
        image = _bad(image, labels={**image.labels, "tier": image.labels["hash"]})
    elif damage == "short column":
        image = _bad(image, fields={"spec.nodeName": (column[:-1], buckets)})
    elif damage == "same value twice":
        image = _bad(image, labels={**image.labels, "app": ([0, 0], [])})
    elif damage == "short values":  # a saved bucket without its value
        single_values, multi_values = image.label_values["hash"]
        image = _bad(image, label_values={**image.label_values,
                                          "hash": (single_values[:-1], multi_values)})
    elif damage == "short keys":
        given = list(keys)[:-1]
    else:
        in_order = [*in_order[:-1], in_order[0]]
    store = Store(StoreOptions(indexes=INDEXES["every label"]))
    relist = store.relist()
    with pytest.raises(ValueError, match=r"."):
        relist.restore(in_order, image, given)
    assert len(relist) == 0 and len(store) == 0  # nothing added
    relist.add_many(objects)  # the relist is still usable: list instead
    relist.commit("200")
    assert _contents(store) == _contents(source)


def test_restored_field_values_are_shared_strings() -> None:
    """As field_value interns them: every pod of a node holds one nodeName string."""
    source = _listed(StoreOptions(indexes=INDEXES["default"]), _pods(30))
    keys = source.keys()
    image = source.index_image(keys)
    column, buckets = image.fields["spec.nodeName"]
    copies = ([bytes(v, "ascii").decode() for v in column], buckets)  # as a file gives them
    restored = _restored(StoreOptions(indexes=INDEXES["default"]),
                         [source.get(k) for k in keys],  # type: ignore[misc]
                         dataclasses.replace(image, fields={"spec.nodeName": copies}))
    values = restored.field_values("spec.nodeName")
    on_n1 = [values[k] for k in restored.index_keys("field:spec.nodeName", "n1")]
    assert len(on_n1) > 1 and all(v is on_n1[0] for v in on_n1)
