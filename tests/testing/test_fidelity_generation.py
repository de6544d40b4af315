"""Fidelity: metadata.generation, kind by kind, as kube-apiserver 1.36's strategies set it.

A kind with spec/status semantics has generation 1 at create, bumped when its desired state
changes (not its metadata or status) and when deletion starts; the others have none, so a
``GenerationChanged`` predicate never fires for them (KEP-5067 made pods track it, GA in
1.35). Every kind the fake serves must be listed here, so a new kind cannot slip through
unclassified.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from apiserver_http import Http

from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

POD_SPEC = {"containers": [{"name": "c", "image": "busybox:1"}]}
TEMPLATE = {"metadata": {"labels": {"app": "g"}}, "spec": POD_SPEC}
JOB_TEMPLATE = {"metadata": {"labels": {"app": "g"}},
                "spec": {**POD_SPEC, "restartPolicy": "Never"}}
WEBHOOK = {"name": "w.example.com", "clientConfig": {"url": "https://example.com/w"},
           "sideEffects": "None", "admissionReviewVersions": ["v1"]}
SELECTOR = {"matchLabels": {"app": "g"}}
REF = {"kind": "Pod", "name": "p", "namespace": "default", "apiVersion": "v1"}


def _set(path: str, value: Any) -> Any:
    def change(obj: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        cur = obj
        for p in parents:
            cur = cur.setdefault(p, {})
        cur[last] = value
    return change


# group-resource: (has generation, body (None: not tried here), change of the desired state
# (None: none tried), whether that change bumps it)
KINDS: dict[str, tuple[bool, dict[str, Any] | None, Any]] = {
    "namespaces": (False, {"metadata": {"name": "gen"}}, None),
    "nodes": (False, {"metadata": {"name": "gen"}, "spec": {}},
              _set("spec.unschedulable", True)),
    "pods": (True, {"metadata": {"name": "gen"}, "spec": POD_SPEC},
             lambda o: o["spec"]["containers"][0].update(image="busybox:2")),
    "configmaps": (False, {"metadata": {"name": "gen"}, "data": {"a": "1"}},
                   _set("data.a", "2")),
    "secrets": (False, {"metadata": {"name": "gen"}, "type": "Opaque", "data": {"a": "MQ=="}},
                _set("data.a", "Mg==")),
    "services": (False, {"metadata": {"name": "gen"},
                         "spec": {"ports": [{"port": 80}], "selector": {"app": "g"}}},
                 _set("spec.selector", {"app": "h"})),
    "serviceaccounts": (False, {"metadata": {"name": "gen"}},
                        _set("automountServiceAccountToken", False)),
    "endpoints": (False, {"metadata": {"name": "gen"}},
                  _set("subsets", [{"addresses": [{"ip": "10.0.0.1"}],
                                    "ports": [{"port": 80}]}])),
    "events": (False, {"metadata": {"name": "gen"}, "involvedObject": REF, "reason": "R",
                       "message": "m", "type": "Normal", "source": {"component": "c"}},
               _set("message", "n")),
    "events.events.k8s.io": (False, {
        "metadata": {"name": "gen2"}, "regarding": REF, "reason": "R", "note": "n",
        "type": "Normal", "action": "A", "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "example.com/c", "reportingInstance": "i"},
        _set("note", "m")),
    "deployments.apps": (True, {"metadata": {"name": "gen"},
                                "spec": {"selector": SELECTOR, "template": TEMPLATE}},
                         _set("spec.replicas", 3)),
    "replicasets.apps": (True, {"metadata": {"name": "gen"},
                                "spec": {"selector": SELECTOR, "template": TEMPLATE}},
                         _set("spec.replicas", 3)),
    "statefulsets.apps": (True, {"metadata": {"name": "gen"},
                                 "spec": {"selector": SELECTOR, "template": TEMPLATE,
                                          "serviceName": "g"}},
                          _set("spec.replicas", 3)),
    "daemonsets.apps": (True, {"metadata": {"name": "gen"},
                               "spec": {"selector": SELECTOR, "template": TEMPLATE}},
                        _set("spec.minReadySeconds", 5)),
    "leases.coordination.k8s.io": (False, {"metadata": {"name": "gen"},
                                           "spec": {"holderIdentity": "a"}},
                                   _set("spec.holderIdentity", "b")),
    "roles.rbac.authorization.k8s.io": (False, {"metadata": {"name": "gen"}, "rules": []},
                                        _set("rules", [{"apiGroups": [""], "resources": ["pods"],
                                                        "verbs": ["get"]}])),
    "rolebindings.rbac.authorization.k8s.io": (False, {
        "metadata": {"name": "gen"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "gen"}},
        _set("subjects", [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}])),
    "clusterroles.rbac.authorization.k8s.io": (False, {"metadata": {"name": "gen"},
                                                       "rules": []},
                                               _set("rules", [{"nonResourceURLs": ["/x"],
                                                               "verbs": ["get"]}])),
    "clusterrolebindings.rbac.authorization.k8s.io": (False, {
        "metadata": {"name": "gen"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "gen"}},
        _set("subjects", [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}])),
    "customresourcedefinitions.apiextensions.k8s.io": (True, {
        "metadata": {"name": "gens.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "gens", "kind": "Gen"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                     "openAPIV3Schema": {"type": "object",
                                         "x-kubernetes-preserve-unknown-fields": True}}}]}},
        _set("spec.names.shortNames", ["gn"])),
    # Kinds other parts of the fake may serve: checked when they are served.
    "jobs.batch": (True, {"metadata": {"name": "gen"}, "spec": {"template": JOB_TEMPLATE}},
                   _set("spec.activeDeadlineSeconds", 60)),
    "cronjobs.batch": (True, {"metadata": {"name": "gen"}, "spec": {
        "schedule": "* * * * *", "jobTemplate": {"spec": {"template": JOB_TEMPLATE}}}},
        _set("spec.schedule", "*/5 * * * *")),
    "poddisruptionbudgets.policy": (True, {"metadata": {"name": "gen"},
                                           "spec": {"minAvailable": 1, "selector": SELECTOR}},
                                    _set("spec.minAvailable", 2)),
    "ingresses.networking.k8s.io": (True, {"metadata": {"name": "gen"}, "spec": {
        "defaultBackend": {"service": {"name": "s", "port": {"number": 80}}}}},
        _set("spec.defaultBackend", {"service": {"name": "t", "port": {"number": 80}}})),
    "networkpolicies.networking.k8s.io": (True, {"metadata": {"name": "gen"},
                                                 "spec": {"podSelector": {}}},
                                          _set("spec.podSelector", SELECTOR)),
    "ingressclasses.networking.k8s.io": (True, {"metadata": {"name": "gen"}, "spec": {
        "controller": "example.com/ingress"}}, _set("spec.parameters", {
            "apiGroup": "k8s.example.com", "kind": "Params", "name": "p"})),
    "podtemplates": (True, {"metadata": {"name": "gen"}, "template": TEMPLATE},
                     lambda o: o["template"]["spec"]["containers"][0].update(image="busybox:2")),
    "endpointslices.discovery.k8s.io": (True, {
        "metadata": {"name": "gen"}, "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.1"]}]},
        _set("endpoints", [{"addresses": ["10.0.0.2"]}])),
    "mutatingwebhookconfigurations.admissionregistration.k8s.io": (
        True, {"metadata": {"name": "gen"}}, _set("webhooks", [WEBHOOK])),
    "validatingwebhookconfigurations.admissionregistration.k8s.io": (
        True, {"metadata": {"name": "gen"}}, _set("webhooks", [WEBHOOK])),
    "validatingadmissionpolicies.admissionregistration.k8s.io": (True, {
        "metadata": {"name": "gen"}, "spec": {
            "matchConstraints": {"resourceRules": [{
                "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                "resources": ["pods"]}]},
            "validations": [{"expression": "true"}]}},
        _set("spec.validations", [{"expression": "1 == 1"}])),
    "validatingadmissionpolicybindings.admissionregistration.k8s.io": (True, {
        "metadata": {"name": "gen"}, "spec": {"policyName": "p",
                                              "validationActions": ["Deny"]}},
        _set("spec.validationActions", ["Warn"])),
    "csidrivers.storage.k8s.io": (True, {"metadata": {"name": "gen.example.com"},
                                         "spec": {}}, None),
    "priorityclasses.scheduling.k8s.io": (True, {"metadata": {"name": "gen"}, "value": 1000},
                                          "never"),
    "limitranges": (False, {"metadata": {"name": "gen"}, "spec": {"limits": [
        {"type": "Container", "max": {"cpu": "1"}}]}},
        _set("spec.limits", [{"type": "Container", "max": {"cpu": "2"}}])),
    "resourcequotas": (False, {"metadata": {"name": "gen"}, "spec": {"hard": {"pods": "10"}}},
                       _set("spec.hard", {"pods": "20"})),
    "controllerrevisions.apps": (False, {"metadata": {"name": "gen"}, "revision": 1}, None),
    "storageclasses.storage.k8s.io": (False, {"metadata": {"name": "gen"},
                                              "provisioner": "example.com/p"},
                                      _set("allowVolumeExpansion", True)),
    "csinodes.storage.k8s.io": (False, {"metadata": {"name": "gen"}, "spec": {"drivers": []}},
                                None),
    "csistoragecapacities.storage.k8s.io": (False, {"metadata": {"name": "gen"},
                                                    "storageClassName": "sc",
                                                    "capacity": "1Gi"},
                                            _set("capacity", "2Gi")),
    "volumeattachments.storage.k8s.io": (False, {"metadata": {"name": "gen"}, "spec": {
        "attacher": "example.com/a", "nodeName": "n1",
        "source": {"persistentVolumeName": "pv"}}}, None),
    "runtimeclasses.node.k8s.io": (False, {"metadata": {"name": "gen"}, "handler": "runc"},
                                   None),
    # Creating one needs a signed certificate request: classified, not tried here.
    "certificatesigningrequests.certificates.k8s.io": (False, None, None),
    "persistentvolumeclaims": (False, {"metadata": {"name": "gen"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}},
        None),
    "persistentvolumes": (False, {"metadata": {"name": "gen"}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
        "hostPath": {"path": "/tmp/gen"}}},
        _set("spec.persistentVolumeReclaimPolicy", "Delete")),
    "horizontalpodautoscalers.autoscaling": (False, {"metadata": {"name": "gen"}, "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1, "maxReplicas": 3}}, _set("spec.maxReplicas", 4)),
    "replicationcontrollers": (True, {"metadata": {"name": "gen"}, "spec": {
        "selector": {"app": "g"}, "template": TEMPLATE}}, _set("spec.replicas", 3)),
}


def _served(api: FakeApiServer, gr: str) -> Any:
    for s in api.registry.all():
        if s.group_resource == gr and not s.custom:
            return s
    return None


# Create-only kinds: the server answers a review and stores nothing, so no generation.
REVIEWS: dict[str, dict[str, Any]] = {
    "selfsubjectaccessreviews.authorization.k8s.io": {
        "spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}}},
    "selfsubjectrulesreviews.authorization.k8s.io": {"spec": {"namespace": "default"}},
    "subjectaccessreviews.authorization.k8s.io": {
        "spec": {"user": "alice", "resourceAttributes": {"verb": "get", "resource": "pods"}}},
    "localsubjectaccessreviews.authorization.k8s.io": {
        "spec": {"user": "alice", "resourceAttributes": {
            "namespace": "default", "verb": "get", "resource": "pods"}}},
    "selfsubjectreviews.authentication.k8s.io": {},
    "tokenreviews.authentication.k8s.io": {"spec": {"token": "not-a-token"}},
}


def test_every_served_kind_is_classified() -> None:
    api = FakeApiServer()
    builtins = {s.group_resource for s in api.registry.all() if not s.custom}
    assert builtins - set(KINDS) - set(REVIEWS) == set(), \
        "classify the generation of the new kinds here"


@pytest.mark.parametrize("gr", sorted(REVIEWS))
async def test_reviews_answer_without_a_generation(api: FakeApiServer, client: Http,
                                                   gr: str) -> None:
    served = _served(api, gr)
    if served is None:
        pytest.skip(f"{gr} is not served")
    r = served.resource
    meta: dict[str, Any] = {"namespace": "default"} if r.namespaced else {}
    review = {"apiVersion": r.api_version, "kind": r.kind, "metadata": meta,
              **copy.deepcopy(REVIEWS[gr])}
    answer = await client.post(r.path("default"), review)
    assert answer.status == 201, answer
    assert "status" in answer.body
    assert "generation" not in answer.body.get("metadata", {})


async def _roundtrip(client: Http, path: str, obj: dict[str, Any]) -> dict[str, Any]:
    r = await client.put(path, obj)
    assert r.status == 200, r
    body: dict[str, Any] = r.body
    return body


@pytest.mark.parametrize("gr", sorted(KINDS))
async def test_generation(api: FakeApiServer, client: Http, gr: str) -> None:
    served = _served(api, gr)
    if served is None:
        pytest.skip(f"{gr} is not served")
    has_generation, body, change = KINDS[gr]
    if body is None:
        pytest.skip(f"{gr} is classified but not tried here")
    bumps = change != "never"
    if change == "never":
        change = _set("metadata.annotations", {"a": "b"})  # nothing bumps it
    r = served.resource
    obj = {"apiVersion": r.api_version, "kind": r.kind, **copy.deepcopy(body)}
    if r.namespaced:
        obj["metadata"]["namespace"] = "default"
    collection = r.path("default")
    created = await client.post(collection, obj)
    assert created.status == 201, created
    meta = created.body["metadata"]
    path = r.path("default", meta["name"])
    if has_generation:
        assert meta["generation"] == 1
    else:
        assert "generation" not in meta
    # metadata changes do not bump it (labels do for EndpointSlices, annotations for
    # Deployments: tested below)
    cur = created.body
    touched = "annotations" if gr == "endpointslices.discovery.k8s.io" else "labels"
    cur["metadata"][touched] = {"touched": "yes"}
    cur = await _roundtrip(client, path, cur)
    assert cur["metadata"].get("generation") == (1 if has_generation else None)
    if change is not None:
        change(cur)
        cur = await _roundtrip(client, path, cur)
        assert cur["metadata"].get("generation") == (
            (2 if bumps else 1) if has_generation else None)
    expected = cur["metadata"].get("generation")
    # a client cannot set it
    cur["metadata"]["generation"] = 42
    cur = await _roundtrip(client, path, cur)
    assert cur["metadata"].get("generation") == expected
    # starting deletion bumps it (held by a finalizer so we can look)
    cur["metadata"]["finalizers"] = ["example.com/hold"]
    cur = await _roundtrip(client, path, cur)
    deleting = await client.delete(path)
    assert deleting.status == 200, deleting
    after = deleting.body["metadata"]
    assert after["deletionTimestamp"]
    assert after.get("generation") == (expected + 1 if has_generation else None)


async def test_custom_resources_bump_on_everything_but_metadata_and_status(
        api: FakeApiServer, client: Http) -> None:
    api.create("customresourcedefinitions.apiextensions.k8s.io", {
        "metadata": {"name": "things.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "things", "kind": "Thing"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": {
                                   "type": "object",
                                   "x-kubernetes-preserve-unknown-fields": True}}}]}})
    path = "/apis/example.com/v1/namespaces/default/things"
    made = await client.post(path, {"apiVersion": "example.com/v1", "kind": "Thing",
                                    "metadata": {"name": "t"}, "spec": {"a": 1}})
    assert made.body["metadata"]["generation"] == 1
    top = await client.patch(f"{path}/t", {"extra": {"b": 2}})
    assert top.body["metadata"]["generation"] == 2  # not only spec: any desired state
    status = await client.patch(f"{path}/t/status", {"status": {"ready": True}})
    assert status.body["metadata"]["generation"] == 2
    labels = await client.patch(f"{path}/t", {"metadata": {"labels": {"x": "y"}}})
    assert labels.body["metadata"]["generation"] == 2


async def test_deployment_annotations_bump_it(client: Http) -> None:
    path = "/apis/apps/v1/namespaces/default/deployments"
    await client.post(path, {"apiVersion": "apps/v1", "kind": "Deployment",
                             "metadata": {"name": "d"},
                             "spec": {"selector": SELECTOR, "template": TEMPLATE}})
    r = await client.patch(f"{path}/d", {"metadata": {"annotations": {"a": "b"}}})
    assert r.body["metadata"]["generation"] == 2
    r = await client.patch(f"{path}/d", {"metadata": {"labels": {"a": "b"}}})
    assert r.body["metadata"]["generation"] == 2


async def test_endpointslice_labels_bump_it(client: Http) -> None:
    path = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
    made = await client.post(path, {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                                    "metadata": {"name": "s"}, "addressType": "IPv4",
                                    "endpoints": [{"addresses": ["10.0.0.1"]}]})
    assert made.body["metadata"]["generation"] == 1
    r = await client.patch(f"{path}/s", {"metadata": {"labels": {"a": "b"}}})
    assert r.body["metadata"]["generation"] == 2
