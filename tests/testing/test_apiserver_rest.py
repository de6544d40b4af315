"""REST semantics of the fake apiserver over raw HTTP: metadata, concurrency, status,
finalizers, patches, namespaces, CRDs, discovery."""

from __future__ import annotations

import pytest
from apiserver_http import CM, POD, Http, configmap, pod

from kcs.core import Resource
from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

PODS = POD.format(ns="default")
CMS = CM.format(ns="default")


async def test_create_sets_server_metadata_and_bumps_the_revision(
    api: FakeApiServer, client: Http
) -> None:
    before = api.revision
    r = await client.post(PODS, pod("a"))
    assert r.status == 201
    meta = r.body["metadata"]
    assert meta["resourceVersion"] == str(before + 1) == str(api.revision)
    assert meta["generation"] == 1
    assert len(meta["uid"]) == 36 and meta["creationTimestamp"].endswith("Z")
    assert r.body["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    got = await client.get(f"{PODS}/a")
    assert got.status == 200 and got.body == r.body
    r2 = await client.post(PODS, pod("b"))
    assert int(r2.rv) == before + 2
    assert r2.body["metadata"]["uid"] != meta["uid"]


async def test_generate_name(client: Http) -> None:
    body = configmap("")
    del body["metadata"]["name"]
    body["metadata"]["generateName"] = "gen-"
    names = {(await client.post(CMS, body)).body["metadata"]["name"] for _ in range(5)}
    assert len(names) == 5
    assert all(n.startswith("gen-") and len(n) == 9 for n in names)


async def test_update_conflicts_and_unconditional_update(client: Http) -> None:
    created = await client.post(CMS, configmap("c", data={"a": "1"}))
    first = created.body
    first["data"] = {"a": "2"}
    ok = await client.put(f"{CMS}/c", first)
    assert ok.status == 200 and int(ok.rv) > int(created.rv)
    first["data"] = {"a": "3"}  # still carries the old resourceVersion
    stale = await client.put(f"{CMS}/c", first)
    assert stale.status == 409 and stale.reason == "Conflict"
    assert "the object has been modified" in stale.body["message"]
    assert (await client.get(f"{CMS}/c")).body["data"] == {"a": "2"}
    del first["metadata"]["resourceVersion"]
    forced = await client.put(f"{CMS}/c", first)
    assert forced.status == 200 and forced.body["data"] == {"a": "3"}


async def test_noop_update_does_not_write(api: FakeApiServer, client: Http) -> None:
    created = await client.post(CMS, configmap("same", data={"a": "1"}))
    rev = api.revision
    again = await client.put(f"{CMS}/same", created.body)
    assert again.status == 200 and again.rv == created.rv
    assert api.revision == rev


async def test_generation_follows_spec_changes_only(client: Http) -> None:
    dep = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "d", "labels": {"x": "1"}},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}},
                    "template": {"metadata": {"labels": {"a": "b"}},
                                 "spec": {"containers": [{"name": "c", "image": "i:1"}]}}},
           "status": {"replicas": 7}}
    path = "/apis/apps/v1/namespaces/default/deployments"
    r = await client.post(path, dep)
    assert r.body["metadata"]["generation"] == 1
    assert r.body["status"] == {}  # status is reset at create for kinds with /status
    r = await client.patch(f"{path}/d", {"metadata": {"labels": {"x": "2"}}})
    assert r.body["metadata"]["generation"] == 1
    r = await client.patch(f"{path}/d", {"spec": {"replicas": 3}})
    assert r.body["metadata"]["generation"] == 2
    r = await client.patch(f"{path}/d/status", {"status": {"replicas": 3}})
    assert r.body["metadata"]["generation"] == 2 and r.body["status"] == {"replicas": 3}


async def test_status_subresource_separates_spec_and_status(client: Http) -> None:
    created = (await client.post(PODS, pod("s"))).body
    # The main resource ignores status...
    created["status"] = {"phase": "Running"}
    created["spec"]["containers"][0]["image"] = "busybox:2"
    main = await client.put(f"{PODS}/s", created)
    assert main.body["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert main.body["spec"]["containers"][0]["image"] == "busybox:2"
    # ...and /status changes only status (and not labels either).
    body = main.body
    body["status"] = {"phase": "Running"}
    body["spec"]["containers"][0]["image"] = "busybox:3"
    body["metadata"]["labels"] = {"sneaky": "yes"}
    status = await client.put(f"{PODS}/s/status", body)
    assert status.status == 200
    assert status.body["status"] == {"phase": "Running"}
    assert status.body["spec"]["containers"][0]["image"] == "busybox:2"
    assert status.body["metadata"].get("labels") in (None, {})
    # Kinds without a status subresource have no /status.
    await client.post(CMS, configmap("nostatus"))
    r = await client.put(f"{CMS}/nostatus/status", configmap("nostatus"))
    assert r.status == 404


async def test_finalizers_hold_deletion_until_removed(api: FakeApiServer, client: Http) -> None:
    body = configmap("fin")
    body["metadata"]["finalizers"] = ["example.com/a", "example.com/b"]
    created = await client.post(CMS, body)
    deleted = await client.delete(f"{CMS}/fin")
    assert deleted.status == 200
    meta = deleted.body["metadata"]
    assert meta["deletionTimestamp"] and meta["deletionGracePeriodSeconds"] == 0
    assert "generation" not in meta  # ConfigMaps have none, deleting or not
    assert (await client.get(f"{CMS}/fin")).status == 200
    again = await client.delete(f"{CMS}/fin")  # a second delete changes nothing
    assert again.rv == deleted.rv
    obj = again.body
    obj["metadata"]["finalizers"] = ["example.com/a", "example.com/new"]
    refused = await client.put(f"{CMS}/fin", obj)
    assert refused.status == 422 and refused.reason == "Invalid"
    obj["metadata"]["finalizers"] = ["example.com/a"]
    one_left = await client.put(f"{CMS}/fin", obj)
    assert one_left.status == 200 and one_left.body["metadata"]["finalizers"] == ["example.com/a"]
    gone = await client.patch(f"{CMS}/fin", {"metadata": {"finalizers": None}})
    assert gone.status == 200
    assert (await client.get(f"{CMS}/fin")).status == 404
    # The answer is the object as updated, never stored: it keeps its last resourceVersion.
    assert gone.rv == one_left.rv and int(created.rv) < int(gone.rv) < api.revision


async def test_delete_preconditions(client: Http) -> None:
    created = (await client.post(CMS, configmap("pre"))).body
    uid, rv = created["metadata"]["uid"], created["metadata"]["resourceVersion"]
    bad_uid = await client.delete(f"{CMS}/pre", {"preconditions": {"uid": "nope"}})
    assert bad_uid.status == 409 and bad_uid.body["message"] == (
        'Operation cannot be fulfilled on ConfigMap "pre": the UID in the precondition (nope) '
        f"does not match the UID in record ({uid}). The object might have been deleted and "
        "then recreated")
    assert bad_uid.body["details"] == {"name": "pre", "kind": "ConfigMap"}
    bad_rv = await client.delete(f"{CMS}/pre", {"preconditions": {"resourceVersion": "1"}})
    assert bad_rv.status == 409 and bad_rv.body["message"] == (
        'Operation cannot be fulfilled on ConfigMap "pre": the ResourceVersion in the '
        f"precondition (1) does not match the ResourceVersion in record ({rv}). The object "
        "might have been modified")
    assert (await client.get(f"{CMS}/pre")).status == 200
    ok = await client.delete(f"{CMS}/pre", {"preconditions": {"uid": uid, "resourceVersion": rv}})
    assert ok.status == 200 and ok.body["kind"] == "Status" and ok.body["status"] == "Success"
    assert ok.body["details"]["uid"] == uid
    missing = await client.delete(f"{CMS}/pre")
    assert missing.status == 404 and missing.reason == "NotFound"
    assert missing.body["details"] == {"name": "pre", "kind": "configmaps"}


async def test_pods_return_the_deleted_object(client: Http) -> None:
    await client.post(PODS, pod("gone"))
    r = await client.delete(f"{PODS}/gone")
    assert r.body["kind"] == "Pod" and r.body["metadata"]["name"] == "gone"


async def test_patch_types(client: Http) -> None:
    # A Deployment's pod template: a pod's own containers cannot be added or removed.
    deps = "/apis/apps/v1/namespaces/default/deployments"
    path = f"{deps}/p"
    base = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "p"},
            "spec": {"selector": {"matchLabels": {"app": "p"}}, "template": {
                "metadata": {"labels": {"app": "p"}}, "spec": {"containers": [
                    {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
                    {"name": "b", "image": "b:1"},
                ]}}}}
    await client.post(deps, base)
    smp = await client.patch(path, {"spec": {"template": {"spec": {"containers": [
        {"name": "a", "env": [{"name": "Y", "value": "2"}]},
        {"name": "b", "$patch": "delete"},
        {"name": "c", "image": "c:1"},
    ]}}}}, "strategic")
    cs = smp.body["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in cs] == ["a", "c"]
    assert cs[0]["image"] == "a:1"
    assert cs[0]["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]
    merge = await client.patch(path, {"spec": {"template": {"spec": {
        "containers": [{"name": "z", "image": "z"}]}}}})
    assert merge.body["spec"]["template"]["spec"]["containers"] == [{
        "name": "z", "image": "z", "imagePullPolicy": "Always", "resources": {},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}]
    jp = await client.patch(path, [
        {"op": "add", "path": "/metadata/labels", "value": {"k": "v"}},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "z:2"},
        {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "z"},
    ], "json")
    assert jp.body["metadata"]["labels"]["k"] == "v"
    assert jp.body["spec"]["template"]["spec"]["containers"][0]["image"] == "z:2"
    failed_test = await client.patch(path, [{"op": "test", "path": "/spec/x", "value": 1}], "json")
    assert failed_test.status == 422
    stale = await client.patch(path, {"metadata": {"resourceVersion": "1"}})
    assert stale.status == 409 and stale.reason == "Conflict"
    missing = await client.patch(f"{deps}/nope", {"metadata": {"labels": {"a": "b"}}})
    assert missing.status == 404


async def test_apply_patch_creates_then_merges(client: Http) -> None:
    path = f"{CMS}/applied"
    body = configmap("applied", data={"a": "1"})
    no_manager = await client.patch(path, body, "apply")
    assert no_manager.status == 422 and no_manager.body["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required '
        "for apply patch")
    created = await client.patch(path, body, "apply", fieldManager="test")
    assert created.status == 201 and created.body["data"] == {"a": "1"}
    # Another manager's apply merges; the same manager's apply also drops what it no
    # longer applies.
    other = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  c: '3'\n"
    merged = await client.req("PATCH", path, raw=other,
                              content_type="application/apply-patch+yaml",
                              params={"fieldManager": "other"})
    assert merged.status == 200 and merged.body["data"] == {"a": "1", "c": "3"}
    yaml_body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  b: '2'\n"
    replaced = await client.req("PATCH", path, raw=yaml_body,
                                content_type="application/apply-patch+yaml",
                                params={"fieldManager": "test"})
    assert replaced.status == 200 and replaced.body["data"] == {"b": "2", "c": "3"}


async def test_namespaces_must_exist_and_terminate(api: FakeApiServer, client: Http) -> None:
    r = await client.post(CM.format(ns="nowhere"), configmap("x", ns="nowhere"))
    assert r.status == 404 and r.body["details"]["kind"] == "namespaces"
    for ns in ("default", "kube-system", "kube-public"):
        assert (await client.get(f"/api/v1/namespaces/{ns}")).status == 200
        refused = await client.delete(f"/api/v1/namespaces/{ns}")
        assert refused.status == 403 and "may not be deleted" in refused.body["message"]
    await client.post("/api/v1/namespaces", {"metadata": {"name": "team"}})
    plain = await client.post(CM.format(ns="team"), configmap("plain", ns="team"))
    held = configmap("held", ns="team")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    await client.post(CM.format(ns="team"), held)
    assert plain.status == 201
    terminating = await client.delete("/api/v1/namespaces/team")
    assert terminating.body["status"]["phase"] == "Terminating"
    refused = await client.post(CM.format(ns="team"), configmap("late", ns="team"))
    assert refused.status == 403 and "being terminated" in refused.body["message"]
    await api.controllers.wait_idle()  # the namespace controller empties the namespace
    assert (await client.get(f"{CM.format(ns='team')}/plain")).status == 404
    assert (await client.get("/api/v1/namespaces/team")).status == 200
    await client.patch(f"{CM.format(ns='team')}/held", {"metadata": {"finalizers": None}})
    await api.controllers.wait_idle()
    assert (await client.get("/api/v1/namespaces/team")).status == 404
    assert [o["metadata"]["name"] for o in api.list("configmaps", "team")] == []


async def test_cluster_scoped_kinds(client: Http) -> None:
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "n1", "namespace": "ignored"}, "spec": {}}
    r = await client.post("/api/v1/nodes", node)
    assert r.status == 201 and "namespace" not in r.body["metadata"]
    assert (await client.get("/api/v1/nodes/n1")).status == 200
    assert (await client.get("/api/v1/namespaces/default/nodes/n1")).status == 404


SCHEMA = {"type": "object", "properties": {
    "spec": {"type": "object", "properties": {"color": {"type": "string"}}},
    "status": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
}}


async def test_crd_serves_a_custom_resource(api: FakeApiServer, client: Http) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {"group": "example.com", "scope": "Cluster",
                 "names": {"plural": "gadgets", "kind": "Gadget", "singular": "gadget"},
                 "versions": [
                     {"name": "v1", "served": True, "storage": True,
                      "schema": {"openAPIV3Schema": SCHEMA},
                      "subresources": {"status": {}},
                      "selectableFields": [{"jsonPath": ".spec.color"}]},
                     {"name": "v1beta1", "served": True, "storage": False,
                      "schema": {"openAPIV3Schema": SCHEMA}},
                 ]},
    }
    r = await client.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert r.status == 201
    conds = {c["type"]: c["status"] for c in r.body["status"]["conditions"]}
    assert conds == {"NamesAccepted": "True", "Established": "True"}
    group = await client.get("/apis/example.com")
    assert group.body["preferredVersion"]["version"] == "v1"
    rl = await client.get("/apis/example.com/v1")
    assert {x["name"] for x in rl.body["resources"]} == {"gadgets", "gadgets/status"}
    g = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g1"},
         "spec": {"color": "red"}, "status": {"ok": True}}
    made = await client.post("/apis/example.com/v1/gadgets", g)
    assert made.status == 201 and "status" not in made.body
    old = await client.get("/apis/example.com/v1beta1/gadgets/g1")
    assert old.body["apiVersion"] == "example.com/v1beta1" and old.body["spec"] == g["spec"]
    red = await client.get("/apis/example.com/v1/gadgets", fieldSelector="spec.color=red")
    assert red.names() == ["g1"]
    smp = await client.patch("/apis/example.com/v1/gadgets/g1", {"spec": {}}, "strategic")
    assert smp.status == 415
    bad = await client.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                            {**crd, "metadata": {"name": "wrong.example.com"}})
    assert bad.status == 422
    gone = await client.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                               "gadgets.example.com")
    assert gone.status == 200
    assert (await client.get("/apis/example.com/v1/gadgets")).status == 404
    assert api.store.resource("gadgets.example.com").objects == {}


async def test_registered_resource(api: FakeApiServer, client: Http) -> None:
    api.register(Resource("example.com", "v1alpha1", "things", "Thing", True))
    t = {"apiVersion": "example.com/v1alpha1", "kind": "Thing", "metadata": {"name": "t"}}
    r = await client.post("/apis/example.com/v1alpha1/namespaces/default/things", t)
    assert r.status == 201 and api.get("things", "t", "default")["kind"] == "Thing"


async def test_discovery(client: Http) -> None:
    version = await client.get("/version")
    assert version.body["major"] == "1" and version.body["gitVersion"].startswith("v1.")
    core = await client.get("/api")
    assert core.body["versions"] == ["v1"]
    v1 = await client.get("/api/v1")
    by_name = {x["name"]: x for x in v1.body["resources"]}
    assert by_name["pods"]["namespaced"] and not by_name["nodes"]["namespaced"]
    assert "pods/status" in by_name and "configmaps/status" not in by_name
    assert "watch" in by_name["pods"]["verbs"]
    groups = await client.get("/apis")
    names = {g["name"] for g in groups.body["groups"]}
    assert {"apps", "coordination.k8s.io", "events.k8s.io", "rbac.authorization.k8s.io",
            "apiextensions.k8s.io", "batch", "policy", "networking.k8s.io", "storage.k8s.io",
            "autoscaling"} <= names
    aggregated = await client.req(
        "GET", "/apis",
        headers={"Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"},
    )
    assert aggregated.headers["Content-Type"].startswith("application/json")
    assert aggregated.body["kind"] == "APIGroupList"
    for path in ("/openapi/v3/apis/nope.io/v1", "/apis/nope.io/v1", "/api/v1/widgets"):
        assert (await client.get(path)).status == 404


async def test_table_output(client: Http) -> None:
    await client.post(CMS, configmap("t1"))
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    r = await client.req("GET", CMS, headers={"Accept": accept})
    assert r.body["kind"] == "Table"
    assert [c["name"] for c in r.body["columnDefinitions"]] == ["Name", "Data", "Age"]  # kube's
    assert [row["cells"][:2] for row in r.body["rows"]] == [["t1", 0]]
    assert r.body["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


async def test_dry_run_changes_nothing(api: FakeApiServer, client: Http) -> None:
    rev = api.revision
    r = await client.post(CMS, configmap("dry"), dryRun="All")
    assert r.status == 201 and r.body["metadata"]["name"] == "dry"
    assert api.revision == rev and (await client.get(f"{CMS}/dry")).status == 404
