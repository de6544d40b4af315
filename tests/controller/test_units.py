"""Keys, results, predicates and owner mapping: the pure parts of kcs.controller."""

from __future__ import annotations

from typing import Any

import pytest

from kcs.client import Client
from kcs.controller import (
    AnnotationsChanged,
    Builder,
    Context,
    Controller,
    GenerationChanged,
    LabelsChanged,
    ResourceVersionChanged,
    Result,
    Runner,
    TerminalError,
    all_of,
    any_of,
    owner_keys,
    predicate,
)
from kcs.core import Object, ObjectKey, builtin, object_from_dict
from kcs.informer import InformerFactory

DEPLOYMENTS = builtin("deployments.apps")
NAMESPACES = builtin("namespaces")


def obj(
    name: str = "a",
    namespace: str = "ns",
    *,
    generation: int = 1,
    rv: str = "1",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    owners: list[dict[str, Any]] | None = None,
) -> Object:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "generation": generation,
        "resourceVersion": rv,
        "labels": labels or {},
        "annotations": annotations or {},
    }
    if owners:
        meta["ownerReferences"] = owners
    return object_from_dict({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta})


def test_object_key_forms() -> None:
    key = ObjectKey("ns", "a")
    assert str(key) == "ns/a"
    assert str(ObjectKey("", "node-1")) == "node-1"
    assert ObjectKey.parse("ns/a") == key
    assert ObjectKey.parse("node-1") == ObjectKey("", "node-1")
    assert ObjectKey.of(obj()) == key
    assert ObjectKey.of({"metadata": {"name": "a", "namespace": "ns"}}) == key
    assert len({key, ObjectKey("ns", "a"), ObjectKey("ns", "b")}) == 2
    assert sorted([ObjectKey("b", "a"), ObjectKey("a", "z")])[0] == ObjectKey("a", "z")


def test_result_validation() -> None:
    assert Result() == Result(requeue_after=None)
    with pytest.raises(ValueError):
        Result(requeue_after=-1)
    with pytest.raises(TypeError):
        Result(requeue=True)  # type: ignore[call-arg]  # deprecated upstream; not copied
    assert isinstance(TerminalError("x"), Exception)


def test_a_subclass_owns_its_namespace() -> None:
    """The base class has no constructor and no instance state: a subclass may name its
    attributes anything (the old base class broke on ``self.sources``, ``client``...)."""

    class Free(Controller):
        def __init__(self, sources: list[str], client: str) -> None:
            self.sources = sources  # names the runtime used to own
            self.client = client
            self.events = "mine"
            self.stats = {"mine": 1}
            self.queue = "mine"

        def setup(self, builder: Builder) -> None:
            raise AssertionError("setup runs only when the controller is bound")

        async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
            return None

    free = Free(["a"], "b")
    assert (free.sources, free.client, free.events, free.queue) == (["a"], "b", "mine", "mine")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("def reconcile(self, ctx, key): return None", "must be an async def"),
        ("async def reconcile(self, key): return None", "must take (self, ctx, key)"),
        ("max_concurrent_reconciles = 0", "max_concurrent_reconciles must be an int >= 1"),
        ("reconcile_timeout = -1", "reconcile_timeout must be a positive number or None"),
        ("sync_timeout = '30'", "sync_timeout must be a positive number or None"),
        ("name = 42", "name must be a str"),
    ],
)
def test_mistakes_are_type_errors_when_the_class_is_defined(body: str, message: str) -> None:
    source = f"class Broken(Controller):\n    {body}\n"
    with pytest.raises(TypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        exec(source, {"Controller": Controller})


def test_instance_options_are_checked_when_bound() -> None:
    class Tunable(Controller):
        def __init__(self, workers: int) -> None:
            self.max_concurrent_reconciles = workers

        def setup(self, builder: Builder) -> None:
            builder.for_(builtin("configmaps"))

        async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
            return None

    client = Client.from_url("http://127.0.0.1:1")  # never contacted
    with pytest.raises(TypeError, match="max_concurrent_reconciles"):
        Runner(Tunable(0), client, InformerFactory(client))
    runner = Runner(Tunable(3), client, InformerFactory(client))
    assert runner.name == "Tunable" and [s.kind for s in runner.sources] == ["for"]


def test_generation_changed_passes_spec_changes_only() -> None:
    p = GenerationChanged()
    assert p.on_update(obj(generation=1, rv="1"), obj(generation=2, rv="2"))
    assert not p.on_update(obj(generation=1, rv="1"), obj(generation=1, rv="2"))
    assert p.on_add(obj()) and p.on_delete(obj())


def test_labels_annotations_and_resource_version_predicates() -> None:
    assert LabelsChanged().on_update(obj(labels={"a": "1"}), obj(labels={"a": "2"}))
    assert not LabelsChanged().on_update(obj(labels={"a": "1"}), obj(labels={"a": "1"}, rv="2"))
    assert AnnotationsChanged().on_update(obj(), obj(annotations={"x": "y"}))
    assert not AnnotationsChanged().on_update(obj(labels={"a": "1"}), obj())
    assert ResourceVersionChanged().on_update(obj(rv="1"), obj(rv="2"))
    assert not ResourceVersionChanged().on_update(obj(rv="1"), obj(rv="1"))


def test_custom_and_combined_predicates() -> None:
    only_a = predicate(add=lambda o: o.name == "a")
    assert only_a.on_add(obj("a")) and not only_a.on_add(obj("b"))
    assert only_a.on_update(obj("b"), obj("b")), "an event kind without a function passes"
    either = any_of(GenerationChanged(), LabelsChanged())
    both = all_of(GenerationChanged(), LabelsChanged())
    spec_only = (obj(generation=1), obj(generation=2))
    assert either.on_update(*spec_only) and not both.on_update(*spec_only)
    assert all_of().on_update(*spec_only), "no predicates: everything passes"


def test_owner_keys_follows_the_controller_reference_of_the_primary_kind() -> None:
    keys = owner_keys(DEPLOYMENTS)
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "u1"}
    assert list(keys(obj(owners=[{**ref, "controller": True}]))) == [ObjectKey("ns", "web")]
    assert list(keys(obj(owners=[ref]))) == [], "not the controller owner"
    other_group = {**ref, "apiVersion": "example.com/v1", "controller": True}
    assert list(keys(obj(owners=[other_group]))) == [], "same kind, other group"
    other_kind = {**ref, "kind": "StatefulSet", "controller": True}
    assert list(keys(obj(owners=[other_kind]))) == []
    assert list(keys(obj())) == []


def test_owner_keys_of_a_cluster_scoped_primary_have_no_namespace() -> None:
    keys = owner_keys(NAMESPACES)
    ref = {"apiVersion": "v1", "kind": "Namespace", "name": "team", "uid": "u", "controller": True}
    assert list(keys(obj(namespace="team", owners=[ref]))) == [ObjectKey("", "team")]
