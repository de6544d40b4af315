"""Protobuf request bodies: what kubectl's imperative commands send.

kubectl's typed clients (``kubectl create namespace|configmap|secret|deployment|job|
cronjob|role|rolebinding|clusterrole|clusterrolebinding|serviceaccount|service|token``,
``kubectl run``, ``kubectl auth can-i|whoami``, ``kubectl drain``'s evictions) send
``application/vnd.kubernetes.protobuf``: the 4-byte magic ``k8s\\x00``, then a
``runtime.Unknown`` (``typeMeta`` = 1 with ``apiVersion`` = 1 and ``kind`` = 2, ``raw`` = 2,
``contentEncoding`` = 3, ``contentType`` = 4) whose ``raw`` is the object's generated message.

This module decodes the wire format itself (varints, length-delimited fields) driven by a
table of the field numbers of the messages those commands use, and builds the JSON object
Go's encoder would write for the same value: non-pointer scalars at their zero value are
left out (``omitempty``) unless the JSON field has no ``omitempty``; pointer fields keep any
value they were sent with; embedded structs are always written (an empty one as ``{}``);
an empty ``metav1.Time`` is ``null``; ``bytes`` are base64; IntOrString and Quantity become
their JSON forms.

Source of the numbers: the ``generated.proto`` files of the Kubernetes API
(``k8s.io/api``: core/v1, apps/v1, batch/v1, rbac/v1, authorization/v1, authentication/v1,
policy/v1; ``k8s.io/apimachinery``: meta/v1, runtime, util/intstr, api/resource), and for
the pointer/``omitempty`` marks the Go types' JSON tags. Nothing here is generated from them.

A field or kind outside the table is refused with a clear message (415: send JSON) rather
than dropped: nothing a client sent is lost silently.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

__all__ = ["KINDS", "PROTOBUF", "ProtobufError", "decode_message", "decode_protobuf"]

PROTOBUF = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    """A protobuf body the fake cannot decode (the handler answers 415)."""


# A field: (JSON name, type, flags). Types: "s" string, "b" bool, "i" integer, "y" bytes,
# "t" metav1.Time, "q" Quantity, "ios" IntOrString, "m:s" / "m:y" / "m:q" maps of string
# to string / bytes / Quantity, or the name of a message. Flags: "r" repeated, "p" a Go
# pointer (keep any value), "k" JSON without omitempty (keep the zero value).
Field = tuple[str, str, str]

_MESSAGES: dict[str, dict[int, Field]] = {
    "TypeMeta": {1: ("apiVersion", "s", ""), 2: ("kind", "s", "")},
    "Unknown": {1: ("typeMeta", "TypeMeta", ""), 2: ("raw", "y", ""),
                3: ("contentEncoding", "s", ""), 4: ("contentType", "s", "")},
    "ObjectMeta": {
        1: ("name", "s", ""), 2: ("generateName", "s", ""), 3: ("namespace", "s", ""),
        4: ("selfLink", "s", ""), 5: ("uid", "s", ""), 6: ("resourceVersion", "s", ""),
        7: ("generation", "i", ""), 8: ("creationTimestamp", "t", "k"),
        9: ("deletionTimestamp", "t", "p"), 10: ("deletionGracePeriodSeconds", "i", "p"),
        11: ("labels", "m:s", ""), 12: ("annotations", "m:s", ""),
        13: ("ownerReferences", "OwnerReference", "r"), 14: ("finalizers", "s", "r"),
    },
    "OwnerReference": {5: ("apiVersion", "s", "k"), 1: ("kind", "s", "k"),
                       3: ("name", "s", "k"), 4: ("uid", "s", "k"),
                       6: ("controller", "b", "p"), 7: ("blockOwnerDeletion", "b", "p")},
    "LabelSelector": {1: ("matchLabels", "m:s", ""),
                      2: ("matchExpressions", "LabelSelectorRequirement", "r")},
    "LabelSelectorRequirement": {1: ("key", "s", "k"), 2: ("operator", "s", "k"),
                                 3: ("values", "s", "r")},
    "DeleteOptions": {1: ("gracePeriodSeconds", "i", "p"),
                      2: ("preconditions", "Preconditions", ""),
                      3: ("orphanDependents", "b", "p"), 4: ("propagationPolicy", "s", "p"),
                      5: ("dryRun", "s", "r")},
    "Preconditions": {1: ("uid", "s", "p"), 2: ("resourceVersion", "s", "p")},
    "IntOrString": {},  # decoded specially
    # core/v1
    "Namespace": {1: ("metadata", "ObjectMeta", ""), 2: ("spec", "NamespaceSpec", ""),
                  3: ("status", "NamespaceStatus", "")},
    "NamespaceSpec": {1: ("finalizers", "s", "r")},
    "NamespaceStatus": {1: ("phase", "s", "")},
    "ConfigMap": {1: ("metadata", "ObjectMeta", ""), 4: ("immutable", "b", "p"),
                  2: ("data", "m:s", ""), 3: ("binaryData", "m:y", "")},
    "Secret": {1: ("metadata", "ObjectMeta", ""), 5: ("immutable", "b", "p"),
               2: ("data", "m:y", ""), 4: ("stringData", "m:s", ""), 3: ("type", "s", "")},
    "ServiceAccount": {1: ("metadata", "ObjectMeta", ""),
                       2: ("secrets", "ObjectReference", "r"),
                       3: ("imagePullSecrets", "LocalObjectReference", "r"),
                       4: ("automountServiceAccountToken", "b", "p")},
    "ObjectReference": {1: ("kind", "s", ""), 2: ("namespace", "s", ""), 3: ("name", "s", ""),
                        4: ("uid", "s", ""), 5: ("apiVersion", "s", ""),
                        6: ("resourceVersion", "s", ""), 7: ("fieldPath", "s", "")},
    "LocalObjectReference": {1: ("name", "s", "")},
    "Binding": {1: ("metadata", "ObjectMeta", ""), 2: ("target", "ObjectReference", "")},
    "Pod": {1: ("metadata", "ObjectMeta", ""), 2: ("spec", "PodSpec", ""),
            3: ("status", "PodStatus", "")},
    "PodStatus": {1: ("phase", "s", "")},
    "PodTemplateSpec": {1: ("metadata", "ObjectMeta", ""), 2: ("spec", "PodSpec", "")},
    "PodSpec": {
        2: ("containers", "Container", "r"), 20: ("initContainers", "Container", "r"),
        3: ("restartPolicy", "s", ""), 4: ("terminationGracePeriodSeconds", "i", "p"),
        5: ("activeDeadlineSeconds", "i", "p"), 6: ("dnsPolicy", "s", ""),
        7: ("nodeSelector", "m:s", ""), 8: ("serviceAccountName", "s", ""),
        9: ("serviceAccount", "s", ""), 21: ("automountServiceAccountToken", "b", "p"),
        10: ("nodeName", "s", ""), 11: ("hostNetwork", "b", ""), 12: ("hostPID", "b", ""),
        13: ("hostIPC", "b", ""), 27: ("shareProcessNamespace", "b", "p"),
        14: ("securityContext", "PodSecurityContext", ""),
        15: ("imagePullSecrets", "LocalObjectReference", "r"), 16: ("hostname", "s", ""),
        17: ("subdomain", "s", ""), 19: ("schedulerName", "s", ""),
        24: ("priorityClassName", "s", ""), 25: ("priority", "i", "p"),
        29: ("runtimeClassName", "s", "p"), 30: ("enableServiceLinks", "b", "p"),
        31: ("preemptionPolicy", "s", "p"), 35: ("setHostnameAsFQDN", "b", "p"),
        37: ("hostUsers", "b", "p"),
    },
    "PodSecurityContext": {2: ("runAsUser", "i", "p"), 6: ("runAsGroup", "i", "p"),
                           3: ("runAsNonRoot", "b", "p"), 4: ("supplementalGroups", "i", "r"),
                           5: ("fsGroup", "i", "p"), 9: ("fsGroupChangePolicy", "s", "p")},
    "Container": {
        1: ("name", "s", "k"), 2: ("image", "s", ""), 3: ("command", "s", "r"),
        4: ("args", "s", "r"), 5: ("workingDir", "s", ""), 6: ("ports", "ContainerPort", "r"),
        7: ("env", "EnvVar", "r"), 8: ("resources", "ResourceRequirements", ""),
        24: ("restartPolicy", "s", "p"), 13: ("terminationMessagePath", "s", ""),
        20: ("terminationMessagePolicy", "s", ""), 14: ("imagePullPolicy", "s", ""),
        16: ("stdin", "b", ""), 17: ("stdinOnce", "b", ""), 18: ("tty", "b", ""),
    },
    "ContainerPort": {1: ("name", "s", ""), 2: ("hostPort", "i", ""),
                      3: ("containerPort", "i", "k"), 4: ("protocol", "s", ""),
                      5: ("hostIP", "s", "")},
    "EnvVar": {1: ("name", "s", "k"), 2: ("value", "s", "")},
    "ResourceRequirements": {1: ("limits", "m:q", ""), 2: ("requests", "m:q", "")},
    "Service": {1: ("metadata", "ObjectMeta", ""), 2: ("spec", "ServiceSpec", ""),
                3: ("status", "ServiceStatus", "")},
    "ServiceSpec": {
        1: ("ports", "ServicePort", "r"), 2: ("selector", "m:s", ""), 3: ("clusterIP", "s", ""),
        18: ("clusterIPs", "s", "r"), 4: ("type", "s", ""), 5: ("externalIPs", "s", "r"),
        7: ("sessionAffinity", "s", ""), 8: ("loadBalancerIP", "s", ""),
        10: ("externalName", "s", ""), 11: ("externalTrafficPolicy", "s", ""),
        12: ("healthCheckNodePort", "i", ""), 13: ("publishNotReadyAddresses", "b", ""),
        19: ("ipFamilies", "s", "r"), 17: ("ipFamilyPolicy", "s", "p"),
        20: ("allocateLoadBalancerNodePorts", "b", "p"), 21: ("loadBalancerClass", "s", "p"),
        22: ("internalTrafficPolicy", "s", "p"),
    },
    "ServicePort": {1: ("name", "s", ""), 2: ("protocol", "s", ""),
                    6: ("appProtocol", "s", "p"), 3: ("port", "i", "k"),
                    4: ("targetPort", "ios", ""), 5: ("nodePort", "i", "")},
    "ServiceStatus": {1: ("loadBalancer", "LoadBalancerStatus", "")},
    "LoadBalancerStatus": {},
    # apps/v1
    "Deployment": {1: ("metadata", "ObjectMeta", ""), 2: ("spec", "DeploymentSpec", ""),
                   3: ("status", "DeploymentStatus", "")},
    "DeploymentSpec": {1: ("replicas", "i", "p"), 2: ("selector", "LabelSelector", ""),
                       3: ("template", "PodTemplateSpec", ""),
                       4: ("strategy", "DeploymentStrategy", ""),
                       5: ("minReadySeconds", "i", ""), 6: ("revisionHistoryLimit", "i", "p"),
                       7: ("paused", "b", ""), 9: ("progressDeadlineSeconds", "i", "p")},
    "DeploymentStrategy": {1: ("type", "s", ""),
                           2: ("rollingUpdate", "RollingUpdateDeployment", "")},
    "RollingUpdateDeployment": {1: ("maxUnavailable", "ios", "p"), 2: ("maxSurge", "ios", "p")},
    "DeploymentStatus": {1: ("observedGeneration", "i", ""), 2: ("replicas", "i", ""),
                         3: ("updatedReplicas", "i", ""), 7: ("readyReplicas", "i", ""),
                         4: ("availableReplicas", "i", ""), 5: ("unavailableReplicas", "i", "")},
    # batch/v1
    "Job": {1: ("metadata", "ObjectMeta", ""), 2: ("spec", "JobSpec", ""),
            3: ("status", "JobStatus", "")},
    "JobSpec": {1: ("parallelism", "i", "p"), 2: ("completions", "i", "p"),
                3: ("activeDeadlineSeconds", "i", "p"), 7: ("backoffLimit", "i", "p"),
                4: ("selector", "LabelSelector", ""), 5: ("manualSelector", "b", "p"),
                6: ("template", "PodTemplateSpec", ""),
                8: ("ttlSecondsAfterFinished", "i", "p"), 9: ("completionMode", "s", "p"),
                10: ("suspend", "b", "p"), 14: ("podReplacementPolicy", "s", "p"),
                15: ("managedBy", "s", "p")},
    "JobStatus": {},
    "CronJob": {1: ("metadata", "ObjectMeta", ""), 2: ("spec", "CronJobSpec", ""),
                3: ("status", "CronJobStatus", "")},
    "CronJobSpec": {1: ("schedule", "s", "k"), 8: ("timeZone", "s", "p"),
                    2: ("startingDeadlineSeconds", "i", "p"), 3: ("concurrencyPolicy", "s", ""),
                    4: ("suspend", "b", "p"), 5: ("jobTemplate", "JobTemplateSpec", ""),
                    6: ("successfulJobsHistoryLimit", "i", "p"),
                    7: ("failedJobsHistoryLimit", "i", "p")},
    "JobTemplateSpec": {1: ("metadata", "ObjectMeta", ""), 2: ("spec", "JobSpec", "")},
    "CronJobStatus": {},
    # rbac.authorization.k8s.io/v1
    "Role": {1: ("metadata", "ObjectMeta", ""), 2: ("rules", "PolicyRule", "r")},
    "ClusterRole": {1: ("metadata", "ObjectMeta", ""), 2: ("rules", "PolicyRule", "r"),
                    3: ("aggregationRule", "AggregationRule", "")},
    "AggregationRule": {1: ("clusterRoleSelectors", "LabelSelector", "r")},
    "PolicyRule": {1: ("verbs", "s", "r"), 2: ("apiGroups", "s", "r"),
                   3: ("resources", "s", "r"), 4: ("resourceNames", "s", "r"),
                   5: ("nonResourceURLs", "s", "r")},
    "RoleBinding": {1: ("metadata", "ObjectMeta", ""), 2: ("subjects", "Subject", "r"),
                    3: ("roleRef", "RoleRef", "")},
    "ClusterRoleBinding": {1: ("metadata", "ObjectMeta", ""), 2: ("subjects", "Subject", "r"),
                           3: ("roleRef", "RoleRef", "")},
    "RoleRef": {1: ("apiGroup", "s", "k"), 2: ("kind", "s", "k"), 3: ("name", "s", "k")},
    "Subject": {1: ("kind", "s", "k"), 2: ("apiGroup", "s", ""), 3: ("name", "s", "k"),
                4: ("namespace", "s", "")},
    # authorization.k8s.io/v1
    "SelfSubjectAccessReview": {1: ("metadata", "ObjectMeta", ""),
                                2: ("spec", "SelfSubjectAccessReviewSpec", ""),
                                3: ("status", "SubjectAccessReviewStatus", "")},
    "SelfSubjectAccessReviewSpec": {1: ("resourceAttributes", "ResourceAttributes", ""),
                                    2: ("nonResourceAttributes", "NonResourceAttributes", "")},
    "ResourceAttributes": {1: ("namespace", "s", ""), 2: ("verb", "s", ""), 3: ("group", "s", ""),
                           4: ("version", "s", ""), 5: ("resource", "s", ""),
                           6: ("subresource", "s", ""), 7: ("name", "s", "")},
    "NonResourceAttributes": {1: ("path", "s", ""), 2: ("verb", "s", "")},
    "SubjectAccessReviewStatus": {1: ("allowed", "b", "k"), 4: ("denied", "b", ""),
                                  2: ("reason", "s", ""), 3: ("evaluationError", "s", "")},
    "SelfSubjectRulesReview": {1: ("metadata", "ObjectMeta", ""),
                               2: ("spec", "SelfSubjectRulesReviewSpec", ""),
                               3: ("status", "SubjectRulesReviewStatus", "")},
    "SelfSubjectRulesReviewSpec": {1: ("namespace", "s", "")},
    "SubjectRulesReviewStatus": {3: ("incomplete", "b", "k")},
    # authentication.k8s.io/v1
    "TokenRequest": {1: ("metadata", "ObjectMeta", ""), 2: ("spec", "TokenRequestSpec", ""),
                     3: ("status", "TokenRequestStatus", "")},
    "TokenRequestSpec": {1: ("audiences", "s", "r"), 4: ("expirationSeconds", "i", "p"),
                         3: ("boundObjectRef", "BoundObjectReference", "")},
    "BoundObjectReference": {1: ("kind", "s", ""), 2: ("apiVersion", "s", ""),
                             3: ("name", "s", ""), 4: ("uid", "s", "")},
    "TokenRequestStatus": {1: ("token", "s", "k"), 2: ("expirationTimestamp", "t", "k")},
    "SelfSubjectReview": {1: ("metadata", "ObjectMeta", ""),
                          2: ("status", "SelfSubjectReviewStatus", "")},
    "SelfSubjectReviewStatus": {1: ("userInfo", "UserInfo", "")},
    "UserInfo": {1: ("username", "s", ""), 2: ("uid", "s", ""), 3: ("groups", "s", "r")},
    # policy/v1
    "Eviction": {1: ("metadata", "ObjectMeta", ""), 2: ("deleteOptions", "DeleteOptions", "")},
}

KINDS: dict[tuple[str, str], str] = {
    ("v1", k): k for k in ("Namespace", "ConfigMap", "Secret", "ServiceAccount", "Pod",
                           "Service", "Binding")
} | {
    ("v1", "DeleteOptions"): "DeleteOptions",
    ("meta.k8s.io/v1", "DeleteOptions"): "DeleteOptions",
    ("apps/v1", "Deployment"): "Deployment",
    ("batch/v1", "Job"): "Job",
    ("batch/v1", "CronJob"): "CronJob",
    **{("rbac.authorization.k8s.io/v1", k): k
       for k in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")},
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): "SelfSubjectAccessReview",
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): "SelfSubjectRulesReview",
    ("authentication.k8s.io/v1", "TokenRequest"): "TokenRequest",
    ("authentication.k8s.io/v1", "SelfSubjectReview"): "SelfSubjectReview",
    ("policy/v1", "Eviction"): "Eviction",
}
"""The (apiVersion, kind) pairs whose protobuf bodies the fake decodes."""


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(data):
            raise ProtobufError("truncated protobuf varint")
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ProtobufError("protobuf varint too long")


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) of every field of one message, in order."""
    out: list[tuple[int, int, Any]] = []
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        num, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:
            n, i = _varint(data, i)
            if i + n > len(data):
                raise ProtobufError("truncated protobuf field")
            value, i = data[i:i + n], i + n
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ProtobufError(f"unsupported protobuf wire type {wire}")
        out.append((num, wire, value))
    return out


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _string(v: Any) -> str:
    if not isinstance(v, bytes):
        raise ProtobufError("expected a length-delimited protobuf field")
    try:
        return v.decode()
    except UnicodeDecodeError:
        raise ProtobufError("a protobuf string is not UTF-8") from None


def _time(v: bytes) -> str | None:
    if not v:
        return None
    seconds = 0
    for num, _, value in _fields(v):
        if num == 1:
            seconds = _signed(value)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _int_or_string(v: bytes) -> int | str:
    kind, ival, sval = 0, 0, ""
    for num, _, value in _fields(v):
        if num == 1:
            kind = int(value)
        elif num == 2:
            ival = _signed(int(value))
        elif num == 3:
            sval = _string(value)
    return sval if kind == 1 else ival


def _scalar(typ: str, wire: int, v: Any, where: str) -> Any:
    if typ == "s":
        return _string(v)
    if typ in ("i", "b"):
        if wire != 0:
            raise ProtobufError(f"{where}: expected a varint")
        return bool(v) if typ == "b" else _signed(v)
    if typ == "y":
        return base64.b64encode(v).decode()
    if typ == "t":
        return _time(v)
    if typ == "q":
        return next((_string(x) for n, _, x in _fields(v) if n == 1), "0")
    if typ == "ios":
        return _int_or_string(v)
    return decode_message(typ, v)


def _zero(value: Any) -> bool:
    return value in ("", 0, False) and value is not None


def decode_message(name: str, data: bytes) -> dict[str, Any]:
    """Decode one message of the table as the JSON object Go would write for it."""
    schema = _MESSAGES.get(name)
    if schema is None:
        raise ProtobufError(f"the fake apiserver cannot decode protobuf {name}; send JSON")
    out: dict[str, Any] = {}
    for num, wire, value in _fields(data):
        spec = schema.get(num)
        if spec is None:
            raise ProtobufError(f"the fake apiserver cannot decode field {num} of protobuf "
                                f"{name}; send this object as JSON")
        key, typ, flags = spec
        where = f"{name}.{key}"
        if typ.startswith("m:"):
            entry = {n: v for n, _, v in _fields(value)}
            k = _string(entry.get(1, b""))
            raw = entry.get(2, b"")
            out.setdefault(key, {})[k] = _scalar(typ[2:], 2, raw, where)
            continue
        if "r" in flags and typ == "i" and wire == 2:  # packed repeated integers
            i, items = 0, []
            while i < len(value):
                n, i = _varint(value, i)
                items.append(_signed(n))
            out.setdefault(key, []).extend(items)
            continue
        decoded = _scalar(typ, wire, value, where)
        if "r" in flags:
            out.setdefault(key, []).append(decoded)
        else:
            out[key] = decoded
    for key, _typ, flags in schema.values():
        if key in out and "p" not in flags and "k" not in flags and "r" not in flags and \
                _zero(out[key]):
            del out[key]
    return out


def decode_protobuf(data: bytes) -> dict[str, Any]:
    """The JSON object of a ``k8s\\x00``-framed protobuf body (see the module doc)."""
    if not data.startswith(MAGIC):
        raise ProtobufError("provided data does not appear to be a protobuf message, expected "
                            "prefix [107 56 115 0]")
    unknown = decode_message("Unknown", data[len(MAGIC):])
    tm = unknown.get("typeMeta") or {}
    api_version, kind = tm.get("apiVersion", ""), tm.get("kind", "")
    message = KINDS.get((api_version, kind))
    if message is None:
        raise ProtobufError(f"the fake apiserver decodes protobuf bodies of "
                            f"{', '.join(sorted({k for _, k in KINDS}))} only, not "
                            f"{api_version} {kind}; send it as JSON")
    if unknown.get("contentEncoding"):
        raise ProtobufError(f"unsupported content encoding {unknown['contentEncoding']!r}")
    raw = base64.b64decode(unknown.get("raw", ""))
    obj = decode_message(message, raw)
    return {"kind": kind, "apiVersion": api_version, **obj}
