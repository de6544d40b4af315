"""Fidelity: the objects the fake stores are the ones kube-apiserver 1.36 would store.

Each expected object is what the real server returns for the same request (defaulting,
admission, strategies and Go's encoding of the API types), written from the Kubernetes
API reference and the defaulting rules of ``pkg/apis/*/v1/defaults.go``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest
from apiserver_http import Http, pod

from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

PODS = "/api/v1/namespaces/default/pods"
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
TOKEN_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
     "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
     "tolerationSeconds": 300},
]
TEMPLATE_SPEC = {"dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                 "schedulerName": "default-scheduler", "securityContext": {},
                 "terminationGracePeriodSeconds": 30}


def container(name: str, image: str, pull: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": image, "imagePullPolicy": pull, "resources": {},
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File", **extra}


def token_volume(name: str) -> dict[str, Any]:
    return {"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt",
                       "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
            "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ]}}


def deployment(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app",
                                                           "image": "nginx:1.27"}]}},
                     **spec}}


async def test_a_minimal_pod_is_stored_as_the_real_server_stores_it(client: Http) -> None:
    r = await client.post(PODS, pod("p"))
    assert r.status == 201
    spec = r.body["spec"]
    volume = spec["volumes"][0]["name"]
    assert re.fullmatch(r"kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}", volume)
    assert spec == {
        "containers": [container("c", "busybox", "Always", volumeMounts=[
            {"name": volume, "readOnly": True, "mountPath": TOKEN_MOUNT}])],
        **TEMPLATE_SPEC,
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
        "priority": 0,
        "serviceAccount": "default",
        "serviceAccountName": "default",
        "tolerations": DEFAULT_TOLERATIONS,
        "volumes": [token_volume(volume)],
    }
    assert r.body["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert (await client.get(f"{PODS}/p")).body == r.body


@pytest.mark.parametrize(("image", "policy"), [
    ("busybox", "Always"), ("busybox:latest", "Always"), ("busybox:1.36", "IfNotPresent"),
    ("registry.example.com:5000/team/app", "Always"),
    ("registry.example.com:5000/team/app:v2", "IfNotPresent"),
    ("busybox@sha256:" + "a" * 64, "IfNotPresent"),
])
async def test_image_pull_policy_follows_the_tag(client: Http, image: str, policy: str) -> None:
    body = pod("p")
    body["spec"]["containers"][0]["image"] = image
    r = await client.post(PODS, body)
    assert r.body["spec"]["containers"][0]["imagePullPolicy"] == policy


async def test_pod_defaults_reach_probes_ports_volumes_and_resources(client: Http) -> None:
    body = pod("p")
    body["spec"]["containers"][0].update(
        ports=[{"containerPort": 8080}],
        livenessProbe={"httpGet": {"port": 8080}},
        resources={"limits": {"cpu": "500m", "memory": "128Mi"}},
        env=[{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
    )
    body["spec"]["volumes"] = [{"name": "cfg", "configMap": {"name": "c"}},
                               {"name": "scratch"}]
    body["spec"]["containers"][0]["volumeMounts"] = [{"name": "cfg", "mountPath": "/etc/c"}]
    r = await client.post(PODS, body)
    assert r.status == 201, r.body
    c = r.body["spec"]["containers"][0]
    assert c["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert c["livenessProbe"] == {"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"},
                                  "timeoutSeconds": 1, "periodSeconds": 10,
                                  "successThreshold": 1, "failureThreshold": 3}
    # Requests default to the limits (on pods only), so this pod is Guaranteed.
    assert c["resources"] == {"limits": {"cpu": "500m", "memory": "128Mi"},
                              "requests": {"cpu": "500m", "memory": "128Mi"}}
    assert r.body["status"]["qosClass"] == "Guaranteed"
    assert c["env"][0]["valueFrom"]["fieldRef"] == {"apiVersion": "v1",
                                                    "fieldPath": "spec.nodeName"}
    assert r.body["spec"]["volumes"][:2] == [
        {"name": "cfg", "configMap": {"name": "c", "defaultMode": 420}},
        {"name": "scratch", "emptyDir": {}}]


async def test_an_optional_struct_is_defaulted_only_when_given(client: Http) -> None:
    body = pod("p")
    body["spec"]["containers"][0]["env"] = [
        {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        {"name": "PLAIN", "value": "x"}]
    body["spec"]["volumes"] = [
        {"name": "host", "hostPath": {"path": "/data"}},
        {"name": "disk", "iscsi": {"targetPortal": "10.0.0.1:3260", "lun": 0,
                                   "iqn": "iqn.2001-04.com.example:storage"}},
        {"name": "ceph", "rbd": {"monitors": ["10.0.0.1:6789"], "image": "img",
                                 "pool": "mine"}}]
    r = await client.post(PODS, body)
    assert r.status == 201, r.body
    env = r.body["spec"]["containers"][0]["env"]
    assert env == [{"name": "CPU", "valueFrom": {"resourceFieldRef": {
        "resource": "limits.cpu", "divisor": "0"}}}, {"name": "PLAIN", "value": "x"}]
    assert r.body["spec"]["volumes"][:3] == [
        {"name": "host", "hostPath": {"path": "/data", "type": ""}},
        {"name": "disk", "iscsi": {"targetPortal": "10.0.0.1:3260", "lun": 0,
                                   "iqn": "iqn.2001-04.com.example:storage",
                                   "iscsiInterface": "default"}},
        {"name": "ceph", "rbd": {"monitors": ["10.0.0.1:6789"], "image": "img",
                                 "pool": "mine", "user": "admin",
                                 "keyring": "/etc/ceph/keyring"}}]


@pytest.mark.parametrize(("resources", "qos"), [
    ({}, "BestEffort"),
    ({"requests": {"cpu": "100m"}}, "Burstable"),
    ({"limits": {"cpu": "1", "memory": "1Gi"}}, "Guaranteed"),
    ({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "1Gi"}},
     "Burstable"),
])
async def test_qos_class(client: Http, resources: dict[str, Any], qos: str) -> None:
    body = pod("p")
    body["spec"]["containers"][0]["resources"] = resources
    assert (await client.post(PODS, body)).body["status"]["qosClass"] == qos


@pytest.mark.parametrize(("sent", "stored"), [
    ("1000m", "1"), ("0.5", "500m"), ("1.5", "1500m"), ("2048Mi", "2Gi"),
    ("1.5Gi", "1536Mi"), ("1e3", "1e3"), ("0.0001", "1m"), (2, "2"),
])
async def test_quantities_are_stored_canonical(client: Http, sent: Any, stored: str) -> None:
    body = pod("p")
    body["spec"]["containers"][0]["resources"] = {"requests": {"cpu": sent}}
    r = await client.post(PODS, body)
    assert r.body["spec"]["containers"][0]["resources"]["requests"]["cpu"] == stored


async def test_service_account_token_mount_respects_automount(client: Http) -> None:
    body = pod("p")
    body["spec"]["automountServiceAccountToken"] = False
    r = await client.post(PODS, body)
    assert "volumes" not in r.body["spec"]
    assert "volumeMounts" not in r.body["spec"]["containers"][0]
    sa = {"metadata": {"name": "quiet"}, "automountServiceAccountToken": False}
    await client.post("/api/v1/namespaces/default/serviceaccounts", sa)
    body = pod("q")
    body["spec"]["serviceAccountName"] = "quiet"
    r = await client.post(PODS, body)
    assert r.body["spec"]["serviceAccount"] == "quiet" and "volumes" not in r.body["spec"]


async def test_priority_comes_from_the_priority_class(client: Http) -> None:
    pcs = "/apis/scheduling.k8s.io/v1/priorityclasses"
    pc = await client.post(pcs, {"metadata": {"name": "high"}, "value": 1000})
    assert pc.body["preemptionPolicy"] == "PreemptLowerPriority"
    body = pod("p")
    body["spec"]["priorityClassName"] = "high"
    assert (await client.post(PODS, body)).body["spec"]["priority"] == 1000
    critical = pod("q")
    critical["spec"]["priorityClassName"] = "system-node-critical"
    assert (await client.post(PODS, critical)).body["spec"]["priority"] == 2000001000
    missing = pod("r")
    missing["spec"]["priorityClassName"] = "nope"
    r = await client.post(PODS, missing)
    assert r.status == 403 and r.reason == "Forbidden"
    assert r.body["message"] == ('pods "r" is forbidden: no PriorityClass with name nope was '
                                 "found")


async def test_a_deployment_is_stored_with_its_defaults(client: Http) -> None:
    r = await client.post(DEPLOYMENTS, deployment("web"))
    assert r.status == 201
    spec = r.body["spec"]
    assert {k: v for k, v in spec.items() if k != "template"} == {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"type": "RollingUpdate",
                     "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
    }
    # Templates get the pod spec defaults, not the pod-only ones (no enableServiceLinks,
    # no token volume, no tolerations: those are added to pods).
    assert spec["template"]["spec"] == {
        "containers": [container("app", "nginx:1.27", "IfNotPresent")], **TEMPLATE_SPEC}
    assert r.body["status"] == {}


async def test_defaults_are_applied_on_update_patch_and_apply(client: Http) -> None:
    created = (await client.post(DEPLOYMENTS, deployment("web"))).body
    # A PUT that leaves out defaulted fields gets them back: no spurious change.
    sent = deployment("web")
    put = await client.put(f"{DEPLOYMENTS}/web", sent)
    assert put.status == 200 and put.rv == created["metadata"]["resourceVersion"]
    # A patch that removes a defaulted field gets the default again.
    patched = await client.patch(f"{DEPLOYMENTS}/web", {"spec": {"revisionHistoryLimit": None}})
    assert patched.body["spec"]["revisionHistoryLimit"] == 10
    assert patched.rv == created["metadata"]["resourceVersion"]
    # The creator owns spec.replicas: the applier takes it over (force), as on a cluster.
    applied = await client.patch(f"{DEPLOYMENTS}/web", deployment("web", replicas=3), "apply",
                                 fieldManager="test", force="true")
    assert applied.body["spec"]["replicas"] == 3
    assert applied.body["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == "25%"


async def test_workload_defaults_and_their_zero_status(client: Http) -> None:
    apps = "/apis/apps/v1/namespaces/default"
    sts = deployment("db")
    sts.update(kind="StatefulSet")
    sts["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
    r = await client.post(f"{apps}/statefulsets", sts)
    assert r.status == 201, r.body
    spec = r.body["spec"]
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain",
                                                            "whenScaled": "Retain"}
    assert spec["replicas"] == 1 and spec["revisionHistoryLimit"] == 10
    assert spec["volumeClaimTemplates"][0] == {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                 "volumeMode": "Filesystem"},
        "status": {"phase": "Pending"}}
    assert r.body["status"] == {"availableReplicas": 0, "replicas": 0}
    ds = deployment("agent")
    ds.update(kind="DaemonSet")
    r = await client.post(f"{apps}/daemonsets", ds)
    assert r.body["spec"]["updateStrategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert r.body["status"] == {"currentNumberScheduled": 0, "desiredNumberScheduled": 0,
                                "numberMisscheduled": 0, "numberReady": 0}
    rs = deployment("rs")
    rs.update(kind="ReplicaSet")
    r = await client.post(f"{apps}/replicasets", rs)
    assert r.body["spec"]["replicas"] == 1 and r.body["status"] == {"replicas": 0}


async def test_a_service_gets_a_cluster_ip_and_its_defaults(client: Http) -> None:
    svcs = "/api/v1/namespaces/default/services"
    r = await client.post(svcs, {"metadata": {"name": "web"}, "spec": {
        "selector": {"app": "web"}, "ports": [{"port": 80}]}})
    assert r.status == 201, r.body
    spec = r.body["spec"]
    ip = spec["clusterIP"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.96.0.0/12")
    assert spec == {"selector": {"app": "web"},
                    "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
                    "clusterIP": ip, "clusterIPs": [ip], "type": "ClusterIP",
                    "sessionAffinity": "None", "ipFamilies": ["IPv4"],
                    "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"}
    assert r.body["status"] == {"loadBalancer": {}}
    # An update that leaves the allocated IP out keeps it.
    again = await client.put(f"{svcs}/web", {"metadata": {"name": "web"}, "spec": {
        "selector": {"app": "web"}, "ports": [{"port": 80}]}})
    assert again.status == 200 and again.body["spec"]["clusterIP"] == ip
    node_port = await client.post(svcs, {"metadata": {"name": "np"}, "spec": {
        "type": "NodePort", "ports": [{"port": 80, "targetPort": "http"}]}})
    port = node_port.body["spec"]["ports"][0]
    assert 30000 <= port["nodePort"] <= 32767 and port["targetPort"] == "http"
    assert node_port.body["spec"]["externalTrafficPolicy"] == "Cluster"
    headless = await client.post(svcs, {"metadata": {"name": "h"}, "spec": {
        "clusterIP": "None", "selector": {"app": "h"}, "ports": [{"port": 5432}]}})
    assert headless.body["spec"]["clusterIPs"] == ["None"]
    taken = await client.post(svcs, {"metadata": {"name": "dup"}, "spec": {
        "clusterIP": ip, "ports": [{"port": 80}]}})
    assert taken.status == 422
    assert taken.body["details"]["causes"] == [{
        "reason": "FieldValueInvalid", "field": "spec.clusterIPs",
        "message": f'Invalid value: []string{{"{ip}"}}: failed to allocate IP {ip}: provided '
                   "IP is already allocated"}]


async def test_jobs_and_cronjobs(api: FakeApiServer, client: Http) -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
           "spec": {"template": {"spec": {"restartPolicy": "Never",
                                          "containers": [{"name": "c", "image": "busybox"}]}}}}
    r = await client.post("/apis/batch/v1/namespaces/default/jobs", job)
    assert r.status == 201, r.body
    uid = r.body["metadata"]["uid"]
    labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": "once",
              "controller-uid": uid, "job-name": "once"}
    spec = r.body["spec"]
    assert {k: v for k, v in spec.items() if k != "template"} == {
        "parallelism": 1, "completions": 1, "backoffLimit": 6, "completionMode": "NonIndexed",
        "suspend": False, "podReplacementPolicy": "TerminatingOrFailed",
        "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}}
    assert spec["template"]["metadata"]["labels"] == labels
    assert r.body["metadata"]["labels"] == labels  # defaulted from the template, once stored
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": job["spec"]}}}
    r = await client.post("/apis/batch/v1/namespaces/default/cronjobs", cron)
    assert r.status == 201, r.body
    spec = r.body["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"], spec["successfulJobsHistoryLimit"],
            spec["failedJobsHistoryLimit"]) == ("Allow", False, 3, 1)
    assert spec["jobTemplate"]["spec"]["backoffLimit"] == 6


async def test_storage_defaults_and_the_default_storage_class(client: Http) -> None:
    sc = await client.post("/apis/storage.k8s.io/v1/storageclasses", {
        "metadata": {"name": "fast", "annotations": {
            "storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "example.com/csi"})
    assert (sc.body["reclaimPolicy"], sc.body["volumeBindingMode"]) == ("Delete", "Immediate")
    pvc = await client.post("/api/v1/namespaces/default/persistentvolumeclaims", {
        "metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    assert pvc.status == 201, pvc.body
    assert pvc.body["spec"]["storageClassName"] == "fast"
    assert pvc.body["spec"]["volumeMode"] == "Filesystem"
    assert pvc.body["status"] == {"phase": "Pending"}
    pv = await client.post("/api/v1/persistentvolumes", {"metadata": {"name": "pv1"}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
        "hostPath": {"path": "/data"}}})
    assert pv.status == 201, pv.body
    assert pv.body["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert pv.body["spec"]["hostPath"] == {"path": "/data", "type": ""}
    assert pv.body["status"]["phase"] == "Pending"


async def test_more_kinds_defaults(client: Http) -> None:
    ns = await client.post("/api/v1/namespaces", {"metadata": {"name": "team-a"}})
    assert ns.body["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team-a"}
    assert ns.body["spec"] == {"finalizers": ["kubernetes"]}
    assert ns.body["status"] == {"phase": "Active"}
    secret = await client.post("/api/v1/namespaces/default/secrets",
                               {"metadata": {"name": "s"}, "data": {"k": "dmFsdWU="}})
    assert secret.body["type"] == "Opaque"
    merged = await client.post("/api/v1/namespaces/default/secrets", {
        "metadata": {"name": "t"}, "data": {"a": "b2xk", "b": "Yg=="},
        "stringData": {"a": "new", "c": "c"}})
    assert merged.body["data"] == {"a": "bmV3", "b": "Yg==", "c": "Yw=="}  # base64 of each
    assert "stringData" not in merged.body
    hpa = await client.post("/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers", {
        "metadata": {"name": "web"}, "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "maxReplicas": 5}})
    assert hpa.status == 201, hpa.body
    assert hpa.body["spec"]["minReplicas"] == 1
    assert hpa.body["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    netpol = await client.post(
        "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies",
        {"metadata": {"name": "deny"}, "spec": {"podSelector": {}, "egress": [{}]}})
    assert netpol.body["spec"]["policyTypes"] == ["Ingress", "Egress"]
    pdb = await client.post("/apis/policy/v1/namespaces/default/poddisruptionbudgets", {
        "metadata": {"name": "web"}, "spec": {"minAvailable": 1,
                                              "selector": {"matchLabels": {"app": "web"}}}})
    assert pdb.body["status"] == {"currentHealthy": 0, "desiredHealthy": 0,
                                  "disruptionsAllowed": 0, "expectedPods": 0}
    ready = {"conditions": [{"type": "Ready", "status": "True"}]}
    node = await client.post("/api/v1/nodes", {"metadata": {"name": "n1"}, "status": ready})
    # Tainted at creation whatever its conditions say: the node lifecycle controller (not
    # the fake's business) removes the taint once the node is ready.
    assert node.body["spec"]["taints"] == [{"key": "node.kubernetes.io/not-ready",
                                            "effect": "NoSchedule"}]
    assert node.body["status"]["conditions"] == ready["conditions"]


async def test_seeded_objects_compare_as_read_back_from_storage(api: FakeApiServer,
                                                                client: Http) -> None:
    # Bulk-seeded objects skip defaulting; an update compares with the stored object as the
    # real server reads it back (decoded, so defaulted), so a label change is allowed.
    api.seed("pods", [pod("seeded")])
    r = await client.patch(f"{PODS}/seeded", {"metadata": {"labels": {"x": "1"}}})
    assert r.status == 200, r.body
    assert r.body["spec"]["dnsPolicy"] == "ClusterFirst"
