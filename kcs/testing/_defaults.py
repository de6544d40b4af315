"""Defaulting: the values kube-apiserver fills in when it decodes a built-in object.

These are the ``SetDefaults_*`` rules of kubernetes ``pkg/apis/*/v1/defaults.go`` and the
declarative ``+default`` markers of the API types, written from the API reference, plus
what Go's JSON encoding of the API types adds: non-pointer structs that are always printed
(``resources: {}`` in every container, ``status: {}`` of a Deployment, ``status.loadBalancer:
{}`` of a Service) and integer fields without ``omitempty`` (``status.replicas: 0`` of a
ReplicaSet). They run every time an object is decoded: on create, on update, on the result
of every patch, and again on the object as stored (so values set by a kind's strategy, such
as a Job's generated labels, are defaulted too), exactly where the real server runs them.

Custom resources get their CRD schema's ``default:`` values instead
(:func:`kcs.testing._crdschema.apply_schema_defaults`).

Guarantees: a rule only fills what is absent (or empty, where kube treats empty as unset);
it never changes a value that was given.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from kcs.testing._crdschema import apply_schema_defaults
from kcs.testing._registry import ServedResource

__all__ = ["apply_defaults", "image_pull_policy", "pod_spec_defaults"]

Obj = dict[str, Any]


def _dict(value: Any) -> Obj:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def _d(obj: Obj, key: str) -> Obj:
    """``obj[key]`` as a dict, created when absent (a non-pointer struct)."""
    value = obj.get(key)
    if not isinstance(value, dict):
        value = {}
        obj[key] = value
    return value


def _set(obj: Obj, key: str, value: Any) -> None:
    """Fill ``obj[key]`` when it is absent or empty (``""``), as a defaulter does."""
    if obj.get(key) in (None, ""):
        obj[key] = value


def _set_given(obj: Obj, key: str, **values: Any) -> None:
    """:func:`_set` each of ``values`` in ``obj[key]`` when that is an object: an optional
    (pointer) struct is defaulted only when it was given, never created."""
    struct = obj.get(key)
    if isinstance(struct, dict):
        for name, value in values.items():
            _set(struct, name, value)


def _default(obj: Obj, key: str, value: Any) -> None:
    """Fill ``obj[key]`` when it is absent or ``null`` (an empty value stays)."""
    if obj.get(key) is None:
        obj[key] = value


def _items(obj: Obj, key: str) -> list[Obj]:
    value = obj.get(key)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# --- pods and pod templates --------------------------------------------------------------------


def image_pull_policy(image: str) -> str:
    """``Always`` for a ``:latest`` or untagged image, ``IfNotPresent`` otherwise."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if "@" in image and ":" not in last:
        return "IfNotPresent"  # by digest only
    tag = last.rsplit(":", 1)[1] if ":" in last else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _probe(p: Obj) -> None:
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                       ("failureThreshold", 3)):
        if not p.get(key):
            p[key] = value
    _handler(p)


def _handler(h: Obj) -> None:
    _set_given(h, "httpGet", path="/", scheme="HTTP")


def _env(c: Obj) -> None:
    for e in _items(c, "env"):
        src = e.get("valueFrom")
        if isinstance(src, dict):
            _set_given(src, "fieldRef", apiVersion="v1")
            _set_given(src, "resourceFieldRef", divisor="0")


def _container(c: Obj) -> None:
    if c.get("image") and not c.get("imagePullPolicy"):
        c["imagePullPolicy"] = image_pull_policy(str(c["image"]))
    _set(c, "terminationMessagePath", "/dev/termination-log")
    _set(c, "terminationMessagePolicy", "File")
    _d(c, "resources")
    for port in _items(c, "ports"):
        _set(port, "protocol", "TCP")
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(c.get(key), dict):
            _probe(c[key])
    life = c.get("lifecycle")
    if isinstance(life, dict):
        for key in ("postStart", "preStop"):
            if isinstance(life.get(key), dict):
                _handler(life[key])
    _env(c)


def _volume(v: Obj) -> None:
    sources = [k for k in v if k != "name"]
    if not sources:
        v["emptyDir"] = {}
    for key in ("secret", "configMap", "downwardAPI", "projected"):
        src = v.get(key)
        if isinstance(src, dict) and src.get("defaultMode") is None:
            src["defaultMode"] = 420
    down = v.get("downwardAPI")
    if isinstance(down, dict):
        _file_refs(down)
    proj = v.get("projected")
    if isinstance(proj, dict):
        for s in _items(proj, "sources"):
            token = s.get("serviceAccountToken")
            if isinstance(token, dict) and token.get("expirationSeconds") is None:
                token["expirationSeconds"] = 3600
            if isinstance(s.get("downwardAPI"), dict):
                _file_refs(s["downwardAPI"])
    _set_given(v, "hostPath", type="")
    eph = v.get("ephemeral")
    if isinstance(eph, dict) and isinstance(eph.get("volumeClaimTemplate"), dict):
        tmpl = eph["volumeClaimTemplate"]
        _set(_d(tmpl, "spec"), "volumeMode", "Filesystem")
    _set_given(v, "iscsi", iscsiInterface="default")
    _set_given(v, "rbd", pool="rbd", user="admin", keyring="/etc/ceph/keyring")


def _file_refs(src: Obj) -> None:
    for item in _items(src, "items"):
        _set_given(item, "fieldRef", apiVersion="v1")


def pod_spec_defaults(spec: Obj) -> None:
    """``SetDefaults_PodSpec`` and what it implies for containers and volumes (pod templates
    get these; pods also get :func:`_pod`'s)."""
    _set(spec, "dnsPolicy", "ClusterFirst")
    _set(spec, "restartPolicy", "Always")
    _default(spec, "securityContext", {})
    _default(spec, "terminationGracePeriodSeconds", 30)
    _set(spec, "schedulerName", "default-scheduler")
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for c in _items(spec, key):
            _container(c)
    for v in _items(spec, "volumes"):
        _volume(v)


def _template(obj: Obj, *path: str) -> None:
    cur = obj
    for key in path:
        nxt = cur.get(key)
        if not isinstance(nxt, dict):
            return
        cur = nxt
    spec = cur.get("spec")
    if isinstance(spec, dict):
        pod_spec_defaults(spec)


def _pod(obj: Obj) -> None:
    spec = _d(obj, "spec")
    pod_spec_defaults(spec)
    for key in ("containers", "initContainers"):
        for c in _items(spec, key):
            res = _d(c, "resources")
            limits = res.get("limits")
            if isinstance(limits, dict) and limits:
                requests = res.get("requests")
                if not isinstance(requests, dict):
                    requests = {}
                    res["requests"] = requests
                for name, value in limits.items():
                    requests.setdefault(name, value)
    _default(spec, "enableServiceLinks", True)
    if spec.get("hostNetwork"):
        for key in ("containers", "initContainers"):
            for c in _items(spec, key):
                for port in _items(c, "ports"):
                    if not port.get("hostPort") and port.get("containerPort"):
                        port["hostPort"] = port["containerPort"]
    _d(obj, "status")


def _pod_template(obj: Obj) -> None:
    _template(obj, "template")


def _replication_controller(obj: Obj) -> None:
    spec = _d(obj, "spec")
    tmpl = spec.get("template")
    labels = ((tmpl or {}).get("metadata") or {}).get("labels") if isinstance(tmpl, dict) else None
    if labels:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = _d(obj, "metadata")
        if not meta.get("labels"):
            meta["labels"] = dict(labels)
    _replica_set(obj)  # the rest as its successor's: replicas, the pod template, status


# --- apps -------------------------------------------------------------------------------------


def _deployment(obj: Obj) -> None:
    spec = _d(obj, "spec")
    _default(spec, "replicas", 1)
    strategy = _d(spec, "strategy")
    _set(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = _d(strategy, "rollingUpdate")
        _default(ru, "maxUnavailable", "25%")
        _default(ru, "maxSurge", "25%")
    _default(spec, "revisionHistoryLimit", 10)
    _default(spec, "progressDeadlineSeconds", 600)
    _template(spec, "template")
    _d(obj, "status")


def _replica_set(obj: Obj) -> None:
    spec = _d(obj, "spec")
    _default(spec, "replicas", 1)
    _template(spec, "template")
    _d(obj, "status").setdefault("replicas", 0)


def _stateful_set(obj: Obj) -> None:
    spec = _d(obj, "spec")
    _set(spec, "podManagementPolicy", "OrderedReady")
    strategy = _d(spec, "updateStrategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        _d(strategy, "rollingUpdate")
    ru = strategy.get("rollingUpdate")
    if strategy["type"] == "RollingUpdate" and isinstance(ru, dict) and ru.get(
            "partition") is None:
        ru["partition"] = 0
    policy = _d(spec, "persistentVolumeClaimRetentionPolicy")
    _set(policy, "whenDeleted", "Retain")
    _set(policy, "whenScaled", "Retain")
    _default(spec, "replicas", 1)
    _default(spec, "revisionHistoryLimit", 10)
    for claim in _items(spec, "volumeClaimTemplates"):
        _set(claim, "apiVersion", "v1")
        _set(claim, "kind", "PersistentVolumeClaim")
        _pvc(claim)
    _template(spec, "template")
    status = _d(obj, "status")
    status.setdefault("availableReplicas", 0)
    status.setdefault("replicas", 0)


def _daemon_set(obj: Obj) -> None:
    spec = _d(obj, "spec")
    strategy = _d(spec, "updateStrategy")
    _set(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = _d(strategy, "rollingUpdate")
        _default(ru, "maxUnavailable", 1)
        _default(ru, "maxSurge", 0)
    _default(spec, "revisionHistoryLimit", 10)
    _template(spec, "template")
    status = _d(obj, "status")
    for key in ("currentNumberScheduled", "desiredNumberScheduled", "numberMisscheduled",
                "numberReady"):
        status.setdefault(key, 0)


# --- batch ------------------------------------------------------------------------------------


def _job_spec(spec: Obj) -> None:
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    _default(spec, "parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6
    _default(spec, "completionMode", "NonIndexed")
    _default(spec, "suspend", False)
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = (
            "Failed" if spec.get("podFailurePolicy") is not None else "TerminatingOrFailed")
    _template(spec, "template")


def _job(obj: Obj) -> None:
    spec = _d(obj, "spec")
    _job_spec(spec)
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    meta = _d(obj, "metadata")
    if labels and not meta.get("labels"):
        meta["labels"] = dict(labels)
    _d(obj, "status")


def _cron_job(obj: Obj) -> None:
    spec = _d(obj, "spec")
    _set(spec, "concurrencyPolicy", "Allow")
    _default(spec, "suspend", False)
    _default(spec, "successfulJobsHistoryLimit", 3)
    _default(spec, "failedJobsHistoryLimit", 1)
    tmpl = spec.get("jobTemplate")
    if isinstance(tmpl, dict) and isinstance(tmpl.get("spec"), dict):
        _job_spec(tmpl["spec"])
    _d(obj, "status")


# --- core -------------------------------------------------------------------------------------


def _service(obj: Obj) -> None:
    spec = _d(obj, "spec")
    _set(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        cfg = _d(_d(spec, "sessionAffinityConfig"), "clientIP")
        _default(cfg, "timeoutSeconds", 10800)
    _set(spec, "type", "ClusterIP")
    for port in _items(spec, "ports"):
        _set(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    stype = spec["type"]
    external = stype in ("NodePort", "LoadBalancer") or bool(spec.get("externalIPs"))
    if external:
        _set(spec, "externalTrafficPolicy", "Cluster")
    if spec.get("internalTrafficPolicy") is None and stype in (
            "ClusterIP", "NodePort", "LoadBalancer"):
        spec["internalTrafficPolicy"] = "Cluster"
    if stype == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True
    _d(_d(obj, "status"), "loadBalancer")


def _pvc_spec(spec: Obj) -> None:
    _set(spec, "volumeMode", "Filesystem")


def _pvc(obj: Obj) -> None:
    _pvc_spec(_d(obj, "spec"))
    _set(_d(obj, "status"), "phase", "Pending")


def _pv(obj: Obj) -> None:
    spec = _d(obj, "spec")
    _set(spec, "persistentVolumeReclaimPolicy", "Retain")
    _set(spec, "volumeMode", "Filesystem")
    _set_given(spec, "hostPath", type="")
    _set(_d(obj, "status"), "phase", "Pending")


def _namespace(obj: Obj) -> None:
    meta = _d(obj, "metadata")
    if meta.get("name"):
        labels = meta.get("labels")
        if not isinstance(labels, dict):
            labels = {}
            meta["labels"] = labels
        labels["kubernetes.io/metadata.name"] = meta["name"]
    _d(obj, "spec")
    _set(_d(obj, "status"), "phase", "Active")


def _node(obj: Obj) -> None:
    _d(obj, "spec")
    status = _d(obj, "status")
    if status.get("allocatable") is None and isinstance(status.get("capacity"), dict):
        status["allocatable"] = dict(status["capacity"])
    endpoint = _d(_d(status, "daemonEndpoints"), "kubeletEndpoint")
    endpoint.setdefault("Port", 0)
    info = _d(status, "nodeInfo")
    for key in ("architecture", "bootID", "containerRuntimeVersion", "kernelVersion",
                "kubeProxyVersion", "kubeletVersion", "machineID", "operatingSystem",
                "osImage", "systemUUID"):
        info.setdefault(key, "")


def _secret(obj: Obj) -> None:
    # The v1 -> internal conversion merges stringData into data (base64), overwriting; the
    # field is never stored nor read back.
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = dict(_dict(obj.get("data")))
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()
        obj["data"] = data
    _set(obj, "type", "Opaque")


def _endpoints(obj: Obj) -> None:
    for subset in _items(obj, "subsets"):
        for port in _items(subset, "ports"):
            _set(port, "protocol", "TCP")


def _endpoint_slice(obj: Obj) -> None:
    for port in _items(obj, "ports"):
        _set(port, "protocol", "TCP")


def _core_event(obj: Obj) -> None:
    _d(obj, "involvedObject")
    _d(obj, "source")
    for key in ("firstTimestamp", "lastTimestamp", "eventTime"):
        obj.setdefault(key, None)
    for key in ("reportingComponent", "reportingInstance"):
        obj.setdefault(key, "")


def _limit_range(obj: Obj) -> None:
    spec = _d(obj, "spec")
    for item in _items(spec, "limits"):
        if item.get("type") != "Container":
            continue
        default = _d(item, "default")
        default_request = _d(item, "defaultRequest")
        for source, target in ((item.get("max"), default), (default, default_request),
                               (item.get("min"), default_request)):
            if isinstance(source, dict):
                for name, value in source.items():
                    target.setdefault(name, value)


def _resource_quota(obj: Obj) -> None:
    _d(obj, "spec")
    _d(obj, "status")


def _lease(obj: Obj) -> None:
    _d(obj, "spec")


# --- other groups -------------------------------------------------------------------------------


def _pdb(obj: Obj) -> None:
    status = _d(obj, "status")
    for key in ("currentHealthy", "desiredHealthy", "disruptionsAllowed", "expectedPods"):
        status.setdefault(key, 0)


def _hpa(obj: Obj) -> None:
    spec = _d(obj, "spec")
    _default(spec, "minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        up = _dict(behavior.get("scaleUp"))
        down = _dict(behavior.get("scaleDown"))
        behavior["scaleUp"] = {
            "stabilizationWindowSeconds": 0, "selectPolicy": "Max",
            "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                         {"type": "Percent", "value": 100, "periodSeconds": 15}],
            **{k: v for k, v in up.items() if v is not None}}
        behavior["scaleDown"] = {
            "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
            **{k: v for k, v in down.items() if v is not None}}
    _d(obj, "status").setdefault("desiredReplicas", 0)


def _network_policy(obj: Obj) -> None:
    spec = _d(obj, "spec")
    _d(spec, "podSelector")
    for rule in (*_items(spec, "ingress"), *_items(spec, "egress")):
        for port in _items(rule, "ports"):
            _set(port, "protocol", "TCP")
    if not spec.get("policyTypes"):
        types = ["Ingress"]
        if spec.get("egress"):
            types.append("Egress")
        spec["policyTypes"] = types


def _ingress(obj: Obj) -> None:
    _d(_d(obj, "status"), "loadBalancer")


def _storage_class(obj: Obj) -> None:
    _set(obj, "reclaimPolicy", "Delete")
    _set(obj, "volumeBindingMode", "Immediate")


def _csi_driver(obj: Obj) -> None:
    spec = _d(obj, "spec")
    for key, value in (("attachRequired", True), ("podInfoOnMount", False),
                       ("requiresRepublish", False), ("storageCapacity", False),
                       ("seLinuxMount", False)):
        if spec.get(key) is None:
            spec[key] = value
    _default(spec, "fsGroupPolicy", "ReadWriteOnceWithFSType")
    _default(spec, "volumeLifecycleModes", ["Persistent"])


def _volume_attachment(obj: Obj) -> None:
    _d(obj, "status").setdefault("attached", False)


def _priority_class(obj: Obj) -> None:
    _set(obj, "preemptionPolicy", "PreemptLowerPriority")


def _rbac_binding(obj: Obj) -> None:
    ref = _d(obj, "roleRef")
    _set(ref, "apiGroup", "rbac.authorization.k8s.io")
    for subject in _items(obj, "subjects"):
        if subject.get("kind") == "ServiceAccount":
            subject.setdefault("apiGroup", "")
        elif subject.get("kind") in ("User", "Group"):
            _set(subject, "apiGroup", "rbac.authorization.k8s.io")


def _webhooks(obj: Obj) -> None:
    for hook in _items(obj, "webhooks"):
        _set(hook, "failurePolicy", "Fail")
        _set(hook, "matchPolicy", "Equivalent")
        _default(hook, "namespaceSelector", {})
        _default(hook, "objectSelector", {})
        _default(hook, "timeoutSeconds", 10)
        for rule in _items(hook, "rules"):
            _set(rule, "scope", "*")
        service = (hook.get("clientConfig") or {}).get("service")
        if isinstance(service, dict) and service.get("port") is None:
            service["port"] = 443


def _mutating_webhooks(obj: Obj) -> None:
    _webhooks(obj)
    for hook in _items(obj, "webhooks"):
        _set(hook, "reinvocationPolicy", "Never")


def _crd(obj: Obj) -> None:
    spec = _d(obj, "spec")
    names = _d(spec, "names")
    kind = names.get("kind")
    if kind:
        _set(names, "singular", str(kind).lower())
        _set(names, "listKind", f"{kind}List")
    conversion = _d(spec, "conversion")
    _set(conversion, "strategy", "None")
    webhook = conversion.get("webhook")
    if isinstance(webhook, dict):
        service = (webhook.get("clientConfig") or {}).get("service")
        if isinstance(service, dict) and service.get("port") is None:
            service["port"] = 443


def _controller_revision(obj: Obj) -> None:
    obj.setdefault("revision", 0)


_BY_RESOURCE: dict[str, Callable[[Obj], None]] = {
    "pods": _pod,
    "podtemplates": _pod_template,
    "replicationcontrollers": _replication_controller,
    "services": _service,
    "persistentvolumeclaims": _pvc,
    "persistentvolumes": _pv,
    "namespaces": _namespace,
    "nodes": _node,
    "secrets": _secret,
    "endpoints": _endpoints,
    "events": _core_event,
    "limitranges": _limit_range,
    "resourcequotas": _resource_quota,
    "deployments.apps": _deployment,
    "replicasets.apps": _replica_set,
    "statefulsets.apps": _stateful_set,
    "daemonsets.apps": _daemon_set,
    "controllerrevisions.apps": _controller_revision,
    "jobs.batch": _job,
    "cronjobs.batch": _cron_job,
    "poddisruptionbudgets.policy": _pdb,
    "horizontalpodautoscalers.autoscaling": _hpa,
    "networkpolicies.networking.k8s.io": _network_policy,
    "ingresses.networking.k8s.io": _ingress,
    "storageclasses.storage.k8s.io": _storage_class,
    "csidrivers.storage.k8s.io": _csi_driver,
    "volumeattachments.storage.k8s.io": _volume_attachment,
    "priorityclasses.scheduling.k8s.io": _priority_class,
    "rolebindings.rbac.authorization.k8s.io": _rbac_binding,
    "clusterrolebindings.rbac.authorization.k8s.io": _rbac_binding,
    "endpointslices.discovery.k8s.io": _endpoint_slice,
    "leases.coordination.k8s.io": _lease,
    "mutatingwebhookconfigurations.admissionregistration.k8s.io": _mutating_webhooks,
    "validatingwebhookconfigurations.admissionregistration.k8s.io": _webhooks,
    "customresourcedefinitions.apiextensions.k8s.io": _crd,
}

def apply_defaults(served: ServedResource, obj: Obj) -> Obj:
    """``obj`` with kube's defaults for ``served``'s kind filled in (in place; returned)."""
    if served.custom:
        return apply_schema_defaults(served.schema, obj)
    rule = _BY_RESOURCE.get(served.group_resource)
    if rule is not None:
        rule(obj)
    return obj
