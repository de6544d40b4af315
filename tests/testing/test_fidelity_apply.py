"""Fidelity: server-side apply and managedFields, pinned to kube-apiserver 1.36's answers.

The expected values (managedFields entries, conflict Status bodies, option errors) are
written from the Kubernetes documentation on server-side apply, the managedFields format,
and kube-apiserver's field manager behaviour.
"""

from __future__ import annotations

from typing import Any

import pytest
from apiserver_http import CM, Http

from kcs.core import Invalid
from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
CMS = CM.format(ns="default")


def deployment(replicas: int | None = 1, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "nginx:1",
                                                       "ports": [{"containerPort": 80}]}]}},
                 **spec},
    }
    if replicas is not None:
        body["spec"]["replicas"] = replicas
    return body


def configmap(name: str, data: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
    if data is not None:
        body["data"] = data
    return body


def entries(obj: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(e["manager"], e["operation"], e.get("subresource", ""))
            for e in obj["metadata"].get("managedFields") or []]


def entry(obj: dict[str, Any], manager: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        e for e in obj["metadata"]["managedFields"] if e["manager"] == manager]
    assert len(found) == 1, obj["metadata"]["managedFields"]
    return found[0]


async def apply(client: Http, path: str, body: Any, manager: str | None,
                **params: str) -> Any:
    if manager is not None:
        params["fieldManager"] = manager
    return await client.patch(path, body, "apply", **params)


async def test_create_records_an_update_entry_in_the_fieldsv1_format(client: Http) -> None:
    created = await client.post(DEPLOYS, deployment(), fieldManager="kubectl-create")
    assert created.status == 201
    e = entry(created.body, "kubectl-create")
    assert (e["operation"], e["apiVersion"], e["fieldsType"]) == ("Update", "apps/v1", "FieldsV1")
    assert e["time"].endswith("Z") and "subresource" not in e
    assert list(e) == ["manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1"]
    # As `kubectl create` gets it from kube-apiserver: the creator owns what it sent and
    # the defaults (filled in while decoding); maps and list items created by the write are
    # members ("."), structs that exist in the kind's empty object (spec, strategy,
    # template) are not; list items are keyed; the selector is atomic; the server's own
    # metadata fields are never owned.
    assert e["fieldsV1"] == {
        "f:spec": {
            "f:progressDeadlineSeconds": {},
            "f:replicas": {},
            "f:revisionHistoryLimit": {},
            "f:selector": {},
            "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {},
                                               "f:maxUnavailable": {}},
                           "f:type": {}},
            "f:template": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {
                    "f:containers": {'k:{"name":"app"}': {
                        ".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {},
                        "f:ports": {".": {}, 'k:{"containerPort":80,"protocol":"TCP"}': {
                            ".": {}, "f:containerPort": {}, "f:protocol": {}}},
                        "f:resources": {}, "f:terminationMessagePath": {},
                        "f:terminationMessagePolicy": {},
                    }},
                    "f:dnsPolicy": {}, "f:restartPolicy": {}, "f:schedulerName": {},
                    "f:securityContext": {}, "f:terminationGracePeriodSeconds": {},
                },
            },
        },
    }


async def test_the_manager_defaults_to_the_user_agent_prefix(api: FakeApiServer,
                                                             client: Http) -> None:
    created = await client.post(CMS, configmap("ua", data={"a": "1"}))
    # apiserver_http sends "kcs-tests" (no "/"): the whole User-Agent is the manager.
    assert entries(created.body) == [("kcs-tests", "Update", "")]
    assert entry(created.body, "kcs-tests")["fieldsV1"] == {"f:data": {".": {}, "f:a": {}}}
    too_long = await client.post(CMS, configmap("long"), fieldManager="x" * 129)
    assert too_long.status == 422 and too_long.body["message"] == (
        'CreateOptions.meta.k8s.io "" is invalid: fieldManager: Too long: may not be more than '
        "128 bytes")


async def test_updates_move_ownership_and_keep_times_of_untouched_entries(
        client: Http) -> None:
    await client.post(CMS, configmap("own", data={"a": "1", "b": "2"}), fieldManager="one")
    second = await client.patch(f"{CMS}/own", {"data": {"b": "3", "c": "4"}},
                                fieldManager="two")
    assert entry(second.body, "one")["fieldsV1"] == {"f:data": {".": {}, "f:a": {}}}
    assert entry(second.body, "two")["fieldsV1"] == {"f:data": {"f:b": {}, "f:c": {}}}
    removed = await client.patch(f"{CMS}/own", {"data": {"a": None}}, fieldManager="two")
    # Removing a field removes it from every manager; the entry of a manager whose fields
    # did not change keeps its time.
    assert entry(removed.body, "one")["fieldsV1"] == {"f:data": {}}
    assert entry(removed.body, "one")["time"] == entry(second.body, "one")["time"]
    unchanged = await client.patch(f"{CMS}/own", {"data": {"b": "3"}}, fieldManager="three")
    assert unchanged.rv == removed.rv and "three" not in [m for m, _, _ in
                                                         entries(unchanged.body)]


async def test_apply_creates_and_owns_exactly_what_it_applied(client: Http) -> None:
    created = await apply(client, f"{DEPLOYS}/web", deployment(), "alice")
    assert created.status == 201
    e = entry(created.body, "alice")
    assert e["operation"] == "Apply" and e["apiVersion"] == "apps/v1"
    # An applied map is not itself a member (only what is in it).
    assert e["fieldsV1"]["f:spec"]["f:template"]["f:metadata"] == {"f:labels": {"f:app": {}}}
    again = await apply(client, f"{DEPLOYS}/web", deployment(), "alice")
    assert again.status == 200 and again.rv == created.rv  # nothing changed: not a write


async def test_conflict_names_every_field_and_manager(client: Http) -> None:
    await apply(client, f"{DEPLOYS}/web", deployment(replicas=1), "alice")
    await client.patch(f"{DEPLOYS}/web", {"spec": {"replicas": 4}}, fieldManager="kubectl-scale")
    refused = await apply(client, f"{DEPLOYS}/web", deployment(replicas=2), "alice")
    assert refused.status == 409 and refused.reason == "Conflict"
    assert refused.body["message"] == (
        'Apply failed with 1 conflict: conflict with "kubectl-scale" using apps/v1: '
        ".spec.replicas")
    assert refused.body["details"] == {"causes": [{
        "reason": "FieldManagerConflict", "message": 'conflict with "kubectl-scale" using apps/v1',
        "field": ".spec.replicas"}]}
    two = deployment(replicas=3)
    two["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    await apply(client, f"{DEPLOYS}/web", deployment(replicas=None), "alice", force="true")
    refused2 = await apply(client, f"{DEPLOYS}/web", two, "bob")
    assert refused2.status == 409
    assert refused2.body["message"] == (
        'Apply failed with 2 conflicts: conflicts with "alice":\n'
        '- .spec.template.spec.containers[name="app"].image\n'
        'conflicts with "kubectl-scale" using apps/v1:\n- .spec.replicas')
    assert [c["field"] for c in refused2.body["details"]["causes"]] == [
        '.spec.template.spec.containers[name="app"].image', ".spec.replicas"]


async def test_force_takes_ownership(client: Http) -> None:
    await apply(client, f"{DEPLOYS}/web", deployment(replicas=1), "alice")
    forced = await apply(client, f"{DEPLOYS}/web", deployment(replicas=5), "bob", force="true")
    assert forced.status == 200 and forced.body["spec"]["replicas"] == 5
    assert "f:replicas" not in entry(forced.body, "alice")["fieldsV1"]["f:spec"]
    assert "f:replicas" in entry(forced.body, "bob")["fieldsV1"]["f:spec"]
    # Applying the same value as another manager is not a conflict: both own it.
    shared = await apply(client, f"{DEPLOYS}/web", deployment(replicas=5), "carol")
    assert shared.status == 200
    assert "f:replicas" in entry(shared.body, "carol")["fieldsV1"]["f:spec"]
    assert "f:replicas" in entry(shared.body, "bob")["fieldsV1"]["f:spec"]


async def test_fields_a_manager_stops_applying_are_removed_unless_owned(client: Http) -> None:
    body = deployment(paused=True)
    body["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "X", "value": "1"}]
    await apply(client, f"{DEPLOYS}/web", body, "alice")
    sidecar = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
               "spec": {"template": {"spec": {"containers": [
                   {"name": "app", "env": [{"name": "Y", "value": "2"}]},
                   {"name": "side", "image": "envoy:1"}]}}}}
    merged = await apply(client, f"{DEPLOYS}/web", sidecar, "bob")
    containers = merged.body["spec"]["template"]["spec"]["containers"]
    # Lists merge by key: containers by name, env by name.
    assert [c["name"] for c in containers] == ["app", "side"]
    assert containers[0]["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]
    later = deployment()  # alice no longer applies paused nor env X
    pruned = await apply(client, f"{DEPLOYS}/web", later, "alice")
    spec = pruned.body["spec"]
    assert "paused" not in spec
    assert spec["template"]["spec"]["containers"][0]["env"] == [{"name": "Y", "value": "2"}]
    assert [c["name"] for c in spec["template"]["spec"]["containers"]] == ["app", "side"]


async def test_ports_are_keyed_by_container_port_and_protocol(client: Http) -> None:
    body = deployment()
    body["spec"]["template"]["spec"]["containers"][0]["ports"] = [
        {"containerPort": 53, "protocol": "UDP"}, {"containerPort": 53}]
    made = await apply(client, f"{DEPLOYS}/web", body, "dns")
    ports = entry(made.body, "dns")["fieldsV1"]["f:spec"]["f:template"]["f:spec"][
        "f:containers"]['k:{"name":"app"}']["f:ports"]
    assert set(ports) == {'k:{"containerPort":53,"protocol":"UDP"}',
                          'k:{"containerPort":53,"protocol":"TCP"}'}


async def test_apply_option_errors(client: Http) -> None:
    missing = await apply(client, f"{CMS}/x", configmap("x"), None)
    assert missing.status == 422 and missing.reason == "Invalid"
    assert missing.body["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for '
        "apply patch")
    assert missing.body["details"] == {"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [{
        "reason": "FieldValueRequired", "message": "Required value: is required for apply patch",
        "field": "fieldManager"}]}
    await client.post(CMS, configmap("y"))
    forced_merge = await client.patch(f"{CMS}/y", {"data": {"a": "1"}}, force="true")
    assert forced_merge.status == 422 and forced_merge.body["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for '
        "non-apply patch")
    # Several problems print as kube's aggregate of field errors: in brackets; values as
    # Go quotes them.
    two = await client.patch(f"{CMS}/y", {"data": {"a": "1"}}, force="true", dryRun='S"')
    assert two.status == 422 and two.body["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: [force: Forbidden: may not be specified for '
        'non-apply patch, dryRun: Unsupported value: []string{"S\\""}: supported values: '
        '"All"]')
    with_managed = configmap("y")
    with_managed["metadata"]["managedFields"] = []
    bad = await apply(client, f"{CMS}/y", with_managed, "m")
    assert bad.status == 400 and bad.body["message"] == "metadata.managedFields must be nil"
    wrong_kind = await apply(client, f"{CMS}/y", {"apiVersion": "v1", "kind": "Secret",
                                                   "metadata": {"name": "y"}}, "m")
    assert wrong_kind.status == 400 and wrong_kind.body["message"] == (
        "invalid object type: /v1, Kind=Secret")
    dry = await apply(client, f"{CMS}/y", configmap("y"), "m", dryRun="Some")
    assert dry.status == 422 and "dryRun: Unsupported value" in dry.body["message"]


async def test_apply_to_an_object_nobody_tracked_conflicts_with_before_first_apply(
        api: FakeApiServer, client: Http) -> None:
    api.seed("configmaps", [configmap("legacy", data={"k": "v"})])  # no managedFields
    refused = await apply(client, f"{CMS}/legacy", configmap("legacy", data={"k": "w"}), "m")
    assert refused.status == 409 and refused.body["message"] == (
        'Apply failed with 1 conflict: conflict with "before-first-apply" using v1: .data.k')


async def test_managed_fields_can_be_reset_but_not_forged(client: Http) -> None:
    made = await client.post(CMS, configmap("r", data={"a": "1"}), fieldManager="one")
    obj = made.body
    obj["metadata"]["managedFields"] = [{}]
    reset = await client.put(f"{CMS}/r", obj)
    assert reset.status == 200 and "managedFields" not in reset.body["metadata"]
    obj = reset.body
    obj["metadata"]["managedFields"] = [{"manager": "x", "operation": "Bogus"}]
    obj["data"] = {"a": "2"}
    kept = await client.put(f"{CMS}/r", obj)
    # An undecodable managedFields is ignored: the server keeps tracking from the live state.
    assert entries(kept.body) == [("kcs-tests", "Update", "")]


async def test_status_is_owned_only_through_the_status_subresource(client: Http) -> None:
    pods = "/api/v1/namespaces/default/pods"
    await client.post(pods, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                             "spec": {"containers": [{"name": "c", "image": "i"}]}})
    status = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
              "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    applied = await apply(client, f"{pods}/p/status", status, "kubelet")
    assert applied.status == 200
    e = entry(applied.body, "kubelet")
    assert (e["operation"], e["subresource"]) == ("Apply", "status")
    assert e["fieldsV1"] == {"f:status": {"f:conditions": {'k:{"type":"Ready"}': {
        ".": {}, "f:status": {}, "f:type": {}}}}}
    via_main = await apply(client, f"{pods}/p", status, "sneaky")
    assert "sneaky" not in [m for m, _, _ in entries(via_main.body)]
    assert via_main.body["status"]["conditions"] == [{"type": "Ready", "status": "True"}]


async def test_custom_resources_take_list_types_from_their_schema(api: FakeApiServer,
                                                                  client: Http) -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "ports": {"type": "array", "x-kubernetes-list-type": "map",
                  "x-kubernetes-list-map-keys": ["name"],
                  "items": {"type": "object", "properties": {
                      "name": {"type": "string"}, "port": {"type": "integer"}}}},
        "tags": {"type": "array", "x-kubernetes-list-type": "set",
                 "items": {"type": "string"}},
        "args": {"type": "array", "items": {"type": "string"}},
    }}}}
    api.create("customresourcedefinitions.apiextensions.k8s.io", {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": schema}}]}})
    path = "/apis/example.com/v1/namespaces/default/widgets/w"

    def widget(**spec: Any) -> dict[str, Any]:
        return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
                "spec": spec}

    await apply(client, path, widget(ports=[{"name": "a", "port": 1}], tags=["x"],
                                     args=["--one"]), "first")
    merged = await apply(client, path, widget(ports=[{"name": "b", "port": 2}], tags=["y"],
                                              args=["--two"]), "second", force="true")
    spec = merged.body["spec"]
    assert spec["ports"] == [{"name": "a", "port": 1}, {"name": "b", "port": 2}]
    assert spec["tags"] == ["x", "y"]
    assert spec["args"] == ["--two"]  # atomic (the default): replaced, and taken over
    assert entry(merged.body, "second")["fieldsV1"] == {"f:spec": {
        "f:args": {}, "f:ports": {'k:{"name":"b"}': {".": {}, "f:name": {}, "f:port": {}}},
        "f:tags": {'v:"y"': {}}}}
    assert "f:args" not in entry(merged.body, "first")["fieldsV1"]["f:spec"]


async def test_at_most_ten_update_entries(client: Http) -> None:
    await client.post(CMS, configmap("many"), fieldManager="m0")
    for i in range(1, 13):
        r = await client.patch(f"{CMS}/many", {"data": {f"k{i}": "v"}}, fieldManager=f"m{i}")
        assert r.status == 200
    managers = [m for m, op, _ in entries(r.body) if op == "Update"]
    assert len(managers) == 10 and "ancient-changes" in managers


async def test_option_errors_in_process_are_worded_as_over_http(api: FakeApiServer) -> None:
    api.create("configmaps", configmap("p"), namespace="default")
    with pytest.raises(Invalid) as raised:
        api.patch("configmaps", "p", {"data": {"a": "1"}}, namespace="default", force=True,
                  field_manager="x" * 129)
    assert raised.value.message == (
        'PatchOptions.meta.k8s.io "" is invalid: [force: Forbidden: may not be specified for '
        "non-apply patch, fieldManager: Too long: may not be more than 128 bytes]")
