"""The schema model reads kubernetes-asyncio's generated models without importing them; it
must agree with the imported classes, every one of them, field by field."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from kcs.testing._registry import Registry
from kcs.testing._schema import definition_name, kind_model, model, reachable

pytestmark = pytest.mark.timeout(120)


def test_every_generated_model_agrees_with_the_imported_class() -> None:
    models = pytest.importorskip("kubernetes_asyncio.client.models")
    from kubernetes_asyncio.client.configuration import Configuration

    config = Configuration()
    config.client_side_validation = True
    checked = 0
    classes: list[tuple[str, Any]] = inspect.getmembers(models, inspect.isclass)  # untyped
    for name, cls in classes:
        if not hasattr(cls, "openapi_types"):
            continue
        m = model(name)
        assert set(m.fields) == set(cls.attribute_map.values()), name
        probe = cls.__new__(cls)
        probe.local_vars_configuration = config
        for attr, json_name in cls.attribute_map.items():
            f = m.fields[json_name]
            lines = (getattr(cls, attr).__doc__ or "").split("\n")
            doc = lines[2].strip().removesuffix("  # noqa: E501")
            if doc.startswith(":return:"):
                doc = ""
            assert f.description == doc or (not doc and f.name in ("metadata", "spec",
                                                                    "status")), (name, attr)
            try:
                setattr(probe, attr, None)
                is_required = False
            except ValueError:
                is_required = True
            assert f.required == is_required, (name, attr)
        checked += 1
    assert checked > 700


def test_every_served_built_in_kind_has_a_model() -> None:
    for s in Registry().all():
        name = kind_model(s.resource.api_version, s.resource.kind)
        assert name is not None, s.resource
        assert model(name).fields["kind"].type.kind == "string"
        assert len(list(reachable(name))) >= 2


def test_field_types_and_names() -> None:
    spec = model("V1PodSpec").fields
    assert spec["containers"].type.kind == "array" and spec["containers"].merge_key == "name"
    assert spec["containers"].type.item is not None
    assert spec["containers"].type.item.ref == "V1Container"
    assert spec["terminationGracePeriodSeconds"].type.kind == "integer"
    assert model("V1ResourceRequirements").fields["limits"].type.item is not None
    assert model("V1ServicePort").fields["targetPort"].type.kind == "int-or-string"
    secret_data = model("V1Secret").fields["data"].type.item
    assert secret_data is not None and secret_data.kind == "byte"
    assert model("V1Pod").fields["metadata"].description.startswith("Standard object's metadata")
    assert kind_model("v1", "Event") == "CoreV1Event"
    assert kind_model("events.k8s.io/v1", "Event") == "EventsV1Event"
    assert kind_model("example.com/v1", "Widget") is None
    assert definition_name("V1PodSpec", "") == "io.k8s.api.core.v1.PodSpec"
    assert definition_name("V1ObjectMeta", "apps") == (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
    assert definition_name("V2MetricSpec", "autoscaling") == "io.k8s.api.autoscaling.v2.MetricSpec"
    assert definition_name("V1JSONSchemaProps", "apiextensions.k8s.io") == (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps")
    with pytest.raises(KeyError):
        model("V1NoSuchThing")
