"""Fidelity: what kube-apiserver 1.36 refuses, the fake refuses, with the same Status.

Status code, reason, ``details`` (kind, group, name, causes) and the message are pinned to
the real server's answers, written from the facts measured against it and from
kubernetes ``pkg/apis/*/validation``.
"""

from __future__ import annotations

from typing import Any

import pytest
from apiserver_http import CM, Http, Response, configmap, pod

from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

PODS = "/api/v1/namespaces/default/pods"
CMS = CM.format(ns="default")
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
             "characters, '-' or '.', and must start and end with an alphanumeric character "
             "(e.g. 'example.com', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_VALUE = ("a valid label must be an empty string or consist of alphanumeric characters, "
               "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
               "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
               "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")


def causes(r: Response) -> list[tuple[str, str, str]]:
    assert r.status == 422 and r.reason == "Invalid", r.body
    return [(c["reason"], c.get("field", ""), c["message"]) for c in r.body["details"]["causes"]]


def deployment(name: str, labels: dict[str, str] | None = None,
               selector: dict[str, str] | None = None) -> dict[str, Any]:
    labels = labels or {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": selector or labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "containers": [{"name": "app", "image": "nginx"}]}}}}


async def test_an_invalid_name_is_the_real_servers_422(client: Http) -> None:
    r = await client.post(CMS, configmap("Bad_Name"))
    assert r.body == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: '
                   f'"Bad_Name": {SUBDOMAIN}',
        "reason": "Invalid",
        "details": {"name": "Bad_Name", "kind": "ConfigMap", "causes": [
            {"reason": "FieldValueInvalid", "message": f'Invalid value: "Bad_Name": {SUBDOMAIN}',
             "field": "metadata.name"}]},
        "code": 422,
    }
    svc = await client.post("/api/v1/namespaces/default/services",
                            {"metadata": {"name": "1web"}, "spec": {"ports": [{"port": 80}]}})
    assert causes(svc) == [("FieldValueInvalid", "metadata.name", (
        'Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric '
        "characters or '-', start with an alphabetic character, and end with an alphanumeric "
        "character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
        "'[a-z]([-a-z0-9]*[a-z0-9])?')"))]
    generated = await client.post(CMS, {"metadata": {"generateName": "Gen-"}})
    assert causes(generated)[0][1] == "metadata.generateName"


async def test_labels_and_annotations(client: Http) -> None:
    r = await client.post(CMS, configmap("c", env="has space"))
    assert causes(r) == [("FieldValueInvalid", "metadata.labels",
                          f'Invalid value: "has space": {LABEL_VALUE}')]
    bad_key = configmap("c")
    bad_key["metadata"]["labels"] = {"bad/key/x": "v"}
    r = await client.post(CMS, bad_key)
    assert causes(r)[0][2].startswith('Invalid value: "bad/key/x": a qualified name must '
                                      "consist of alphanumeric characters")
    long_value = await client.post(CMS, configmap("c", k="v" * 64))
    assert causes(long_value) == [("FieldValueInvalid", "metadata.labels",
                                   f'Invalid value: "{"v" * 64}": must be no more than 63 '
                                   "characters")]
    big = configmap("c")
    big["metadata"]["annotations"] = {"a": "x" * (256 * 1024)}
    r = await client.post(CMS, big)
    assert causes(r) == [("FieldValueTooLong", "metadata.annotations",
                          "Too long: may not be more than 262144 bytes")]
    assert r.body["message"] == ('ConfigMap "c" is invalid: metadata.annotations: Too long: may '
                                 "not be more than 262144 bytes")


async def test_several_errors_are_one_status_with_a_bracketed_message(client: Http) -> None:
    r = await client.post(PODS, {"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "Web", "image": "nginx"}, {"name": "db"}]}})
    assert r.body["details"]["kind"] == "Pod" and "group" not in r.body["details"]
    assert [c[:2] for c in causes(r)] == [("FieldValueInvalid", "spec.containers[0].name"),
                                          ("FieldValueRequired", "spec.containers[1].image")]
    assert r.body["message"].startswith('Pod "p" is invalid: [spec.containers[0].name: Invalid '
                                        'value: "Web": a lowercase RFC 1123 label')
    assert r.body["message"].endswith(", spec.containers[1].image: Required value]")


async def test_a_pod_without_containers(client: Http) -> None:
    r = await client.post(PODS, {"metadata": {"name": "p"}, "spec": {"containers": []}})
    assert causes(r) == [("FieldValueRequired", "spec.containers", "Required value")]
    assert r.body["message"] == 'Pod "p" is invalid: spec.containers: Required value'


async def test_pod_spec_rules(client: Http) -> None:
    body = pod("p")
    body["spec"]["containers"].append({"name": "c", "image": "x"})
    body["spec"]["containers"][0]["ports"] = [{"containerPort": 70000, "name": "Http"}]
    body["spec"]["containers"][0]["volumeMounts"] = [{"name": "nope", "mountPath": "/x"}]
    body["spec"]["restartPolicy"] = "Sometimes"
    got = causes(await client.post(PODS, body))
    assert ("FieldValueDuplicate", "spec.containers[1].name", 'Duplicate value: "c"') in got
    assert ("FieldValueInvalid", "spec.containers[0].ports[0].containerPort",
            "Invalid value: 70000: must be between 1 and 65535, inclusive") in got
    assert ("FieldValueInvalid", "spec.containers[0].ports[0].name",
            'Invalid value: "Http": must contain only alpha-numeric characters (a-z, 0-9), '
            "and hyphens (-)") in got
    assert ("FieldValueNotFound", "spec.containers[0].volumeMounts[0].name",
            'Not found: "nope"') in got
    assert ("FieldValueNotSupported", "spec.restartPolicy",
            'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'
            ) in got


async def test_port_names_follow_their_kind(client: Http) -> None:
    """A Service port's name is a DNS-1123 label ("80-8080" is what `kubectl create
    service --tcp=80:8080` sends); a container port's is an IANA service name."""
    svc = {"metadata": {"name": "svc"}, "spec": {"ports": [
        {"name": "80-8080", "port": 80, "targetPort": 8080}]}}
    assert (await client.post("/api/v1/namespaces/default/services", svc)).status == 201
    body = pod("p")
    body["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "name": "80-8080"}]
    assert ("FieldValueInvalid", "spec.containers[0].ports[0].name",
            'Invalid value: "80-8080": must contain at least one letter (a-z)'
            ) in causes(await client.post(PODS, body))


async def test_configmap_and_secret_sizes(api: FakeApiServer, client: Http) -> None:
    two_mib = configmap("big", data={"blob": "x" * (2 * 1024 * 1024)})
    r = await client.post(CMS, two_mib)
    assert causes(r) == [("FieldValueTooLong", "[]",
                          "Too long: may not be more than 1048576 bytes")]
    assert r.body["message"] == ('ConfigMap "big" is invalid: []: Too long: may not be more '
                                 "than 1048576 bytes")
    just_fits = configmap("fits", data={"blob": "x" * (1024 * 1024 - 4)})
    assert (await client.post(CMS, just_fits)).status == 201
    huge = configmap("huge", data={"blob": "x" * (3 * 1024 * 1024 + 1)})
    r = await client.post(CMS, huge)
    assert r.status == 413 and r.reason == "RequestEntityTooLarge"
    bad_key = await client.post(CMS, configmap("k", data={"a b": "1"}))
    assert causes(bad_key)[0][:2] == ("FieldValueInvalid", "data[a b]")


async def test_pod_updates_may_change_only_the_mutable_fields(client: Http) -> None:
    created = (await client.post(PODS, pod("p"))).body
    changed = dict(created)
    changed["spec"] = {**created["spec"], "restartPolicy": "Never"}
    r = await client.put(f"{PODS}/p", changed)
    assert causes(r) == [("FieldValueForbidden", "spec", (
        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
        "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to "
        "be set to 1 if it was previously negative)"))]
    image = await client.patch(f"{PODS}/p", {"spec": {"containers": [
        {"name": "c", "image": "busybox:1.37"}]}}, "strategic")
    assert image.status == 200
    assert image.body["spec"]["containers"][0]["image"] == "busybox:1.37"
    toleration = await client.patch(f"{PODS}/p", {"spec": {"tolerations": [
        *created["spec"]["tolerations"], {"key": "k", "operator": "Exists"}]}})
    assert toleration.status == 200
    labels = await client.patch(f"{PODS}/p", {"metadata": {"labels": {"a": "b"}}})
    assert labels.status == 200


async def test_immutable_fields(client: Http) -> None:
    await client.post(DEPLOYMENTS, deployment("web"))
    moved = deployment("web", labels={"app": "web", "v": "2"},
                       selector={"app": "web", "v": "2"})
    r = await client.put(f"{DEPLOYMENTS}/web", moved)
    assert causes(r) == [("FieldValueInvalid", "spec.selector", (
        'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "v":"2"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"))]
    svcs = "/api/v1/namespaces/default/services"
    svc = (await client.post(svcs, {"metadata": {"name": "s"},
                                    "spec": {"ports": [{"port": 80}]}})).body
    svc["spec"]["clusterIP"] = "10.96.0.99"
    svc["spec"]["clusterIPs"] = ["10.96.0.99"]
    r = await client.put(f"{svcs}/s", svc)
    assert causes(r) == [("FieldValueInvalid", "spec.clusterIPs[0]",
                          'Invalid value: []string{"10.96.0.99"}: may not change once set')]
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {
        "template": {"spec": {"restartPolicy": "Never",
                              "containers": [{"name": "c", "image": "busybox"}]}}}}
    jobs = "/apis/batch/v1/namespaces/default/jobs"
    await client.post(jobs, job)
    r = await client.patch(f"{jobs}/j", {"spec": {"template": {"spec": {
        "containers": [{"name": "c", "image": "busybox:2"}]}}}}, "strategic")
    assert [c[:2] for c in causes(r)] == [("FieldValueInvalid", "spec.template")]
    assert causes(r)[0][2].endswith(": field is immutable")
    frozen = configmap("frozen", data={"a": "1"})
    frozen["immutable"] = True
    await client.post(CMS, frozen)
    r = await client.patch(f"{CMS}/frozen", {"data": {"a": "2"}})
    assert causes(r) == [("FieldValueForbidden", "data",
                          "Forbidden: field is immutable when `immutable` is set")]
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "b"}, "roleRef": {"kind": "Role", "name": "r1"},
               "subjects": [{"kind": "User", "name": "alice"}]}
    rbs = "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings"
    made = await client.post(rbs, binding)
    assert made.body["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
    r = await client.patch(f"{rbs}/b", {"roleRef": {"name": "r2"}})
    assert causes(r) == [("FieldValueInvalid", "roleRef", (
        'Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"Role", '
        'Name:"r2"}: cannot change roleRef'))]


@pytest.mark.parametrize(("schedule", "problem"), [
    ("*/5 * * * *", None), ("@hourly", None), ("@every 90s", None),
    (None, ("FieldValueRequired", "spec.schedule", "Required value")),
    ("", ("FieldValueRequired", "spec.schedule", "Required value")),
    ("TZ=UTC 0 * * * *", ("FieldValueInvalid", "spec.schedule", 'Invalid value: "TZ=UTC 0 * * '
                          '* *": cannot use TZ or CRON_TZ in schedule, use timeZone field instead')),
    ("CRON_TZ=Europe/Paris @daily", ("FieldValueInvalid", "spec.schedule", 'Invalid value: '
                                     '"CRON_TZ=Europe/Paris @daily": cannot use TZ or CRON_TZ in '
                                     "schedule, use timeZone field instead")),
])
async def test_a_cron_schedule_is_five_fields_a_macro_or_every(
        client: Http, schedule: str | None, problem: tuple[str, str, str] | None) -> None:
    spec: dict[str, Any] = {"jobTemplate": {"spec": {"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}}
    if schedule is not None:
        spec["schedule"] = schedule
    r = await client.post("/apis/batch/v1/namespaces/default/cronjobs", {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"}, "spec": spec})
    if problem is None:
        assert r.status == 201, r.body
    else:
        assert causes(r) == [problem]


async def test_workload_required_fields(client: Http) -> None:
    r = await client.post(DEPLOYMENTS, deployment("web", selector={"app": "other"}))
    assert causes(r) == [("FieldValueInvalid", "spec.template.metadata.labels", (
        'Invalid value: map[string]string{"app":"web"}: `selector` does not match template '
        "`labels`"))]
    no_selector = deployment("web")
    del no_selector["spec"]["selector"]
    assert causes(await client.post(DEPLOYMENTS, no_selector)) == [
        ("FieldValueRequired", "spec.selector", "Required value")]
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {
        "template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    r = await client.post("/apis/batch/v1/namespaces/default/jobs", job)
    assert causes(r) == [("FieldValueNotSupported", "spec.template.spec.restartPolicy",
                          'Unsupported value: "Always": supported values: "OnFailure", "Never"')]
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
            "spec": {"schedule": "every day", "jobTemplate": {"spec": job["spec"]}}}
    got = causes(await client.post("/apis/batch/v1/namespaces/default/cronjobs", cron))
    assert ("FieldValueInvalid", "spec.schedule",
            'Invalid value: "every day": expected exactly 5 fields, found 2: every day') in got
    pvc = await client.post("/api/v1/namespaces/default/persistentvolumeclaims",
                            {"metadata": {"name": "d"}, "spec": {}})
    assert causes(pvc) == [
        ("FieldValueRequired", "spec.accessModes",
         "Required value: at least 1 access mode is required"),
        ("FieldValueRequired", "spec.resources[storage]", "Required value")]
    ing = await client.post("/apis/networking.k8s.io/v1/namespaces/default/ingresses", {
        "metadata": {"name": "i"}, "spec": {"rules": [{"http": {"paths": [
            {"path": "/", "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}}]}})
    assert causes(ing) == [("FieldValueRequired", "spec.rules[0].http.paths[0].pathType",
                            "Required value: pathType must be specified")]
    hpa = await client.post("/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers",
                            {"metadata": {"name": "h"}, "spec": {"maxReplicas": 0,
                                                                 "scaleTargetRef": {}}})
    assert [c[1] for c in causes(hpa)] == ["spec.maxReplicas", "spec.minReplicas",
                                           "spec.scaleTargetRef.kind",
                                           "spec.scaleTargetRef.name"]


async def test_field_validation_strict_warn_and_ignore(client: Http) -> None:
    body = pod("p")
    body["spec"]["containers"][0]["imagePullPolice"] = "Always"
    body["spec"]["bogus"] = 1
    strict = await client.post(PODS, body, fieldValidation="Strict")
    assert strict.status == 400 and strict.reason == "BadRequest"
    assert strict.body["message"] == (
        'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field '
        '"spec.bogus", unknown field "spec.containers[0].imagePullPolice"')
    warn = await client.post(PODS, body)  # Warn is the default
    assert warn.status == 201
    assert warn.headers.getall("Warning") == [
        '299 - "unknown field \\"spec.bogus\\""',
        '299 - "unknown field \\"spec.containers[0].imagePullPolice\\""']
    assert "bogus" not in warn.body["spec"]  # dropped, as the real decoder drops it
    ignore = await client.post(PODS, {**body, "metadata": {"name": "q"}},
                               fieldValidation="Ignore")
    assert ignore.status == 201 and "Warning" not in ignore.headers
    patch = await client.patch(f"{CMS}/x", {"spec": {"y": 1}}, fieldValidation="Strict")
    assert patch.status == 404
    await client.post(CMS, configmap("x"))
    patch = await client.patch(f"{CMS}/x", {"spec": {"y": 1}}, fieldValidation="Strict")
    assert causes(patch)[0][:2] == ("FieldValueInvalid", "patch")
    assert patch.body["message"].startswith(' "" is invalid: patch: Invalid value: "{')
    assert patch.body["message"].endswith('": strict decoding error: unknown field "spec"')
    bad = await client.post(CMS, configmap("y"), fieldValidation="Sometimes")
    assert bad.body["message"] == (
        'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: '
        '"Sometimes": supported values: "Ignore", "Warn", "Strict"')
    assert bad.body["details"] == {"group": "meta.k8s.io", "kind": "CreateOptions", "causes": [
        {"reason": "FieldValueNotSupported", "field": "fieldValidation",
         "message": 'Unsupported value: "Sometimes": supported values: "Ignore", "Warn", '
                    '"Strict"'}]}


async def test_wrong_json_types_are_refused_when_decoding(client: Http) -> None:
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
           "spec": {"replicas": "three"}}
    r = await client.post(DEPLOYMENTS, bad)
    assert r.status == 400
    assert r.body["message"] == (
        'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal '
        "string into Go struct field DeploymentSpec.spec.replicas of type int32")
    secret = await client.post("/api/v1/namespaces/default/secrets",
                               {"metadata": {"name": "s"}, "data": {"k": "not base64!"}})
    assert secret.status == 400 and "illegal base64 data at input byte 3" in secret.body["message"]


async def test_finalizer_names(client: Http) -> None:
    body = configmap("f")
    body["metadata"]["finalizers"] = ["plain"]
    r = await client.post(CMS, body)
    assert r.status == 201
    assert r.headers.getall("Warning") == [
        '299 - "metadata.finalizers: \\"plain\\": prefer a domain-qualified finalizer name '
        'including a path (/) to avoid accidental conflicts with other finalizer writers"']
    body = configmap("g")
    body["metadata"]["finalizers"] = ["example.com/bad name"]
    assert causes(await client.post(CMS, body))[0][1] == "metadata.finalizers"
