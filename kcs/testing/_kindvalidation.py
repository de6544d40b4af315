"""The kind-specific validation rules of the built-in kinds, and what an update may not change.

From kubernetes ``pkg/apis/*/validation``, the rules a controller author meets: workload
selectors (required, non-empty, matching the template's labels, immutable), replica counts,
template restart policies (``Always`` for Deployments and the like, ``OnFailure``/``Never``
for Jobs), Service ports, types and the cluster IP that may not change, ConfigMap and
Secret keys and their 1 MiB total, immutable ConfigMaps and Secrets, PVC and PV
requirements, Ingress paths, PodDisruptionBudget and HPA bounds, RBAC role references,
StorageClass and PriorityClass fields that are fixed once set.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from typing import Any

from kcs.testing._fielderrors import (
    FieldError,
    GoLiteral,
    forbidden,
    go_strings,
    invalid,
    not_supported,
    required,
    too_long,
)
from kcs.testing._names import dns1123_label, dns1123_subdomain, label_problems, unique_name
from kcs.testing._podvalidation import (
    port_name_problems,
    validate_pod_spec,
    validate_pod_update,
)
from kcs.testing._registry import ServedResource

__all__ = ["go_label_selector", "go_string_map", "validate_kind", "validate_kind_update"]

Obj = dict[str, Any]

_UPDATE_STRATEGIES = ("OnDelete", "RollingUpdate")


def _dict(value: Any) -> Obj:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


MAX_DATA_SIZE = 1024 * 1024
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_IMMUTABLE = "field is immutable"


def _d(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _items(value: Any) -> list[Obj]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def go_string_map(value: Any) -> GoLiteral:
    """Go's ``%#v`` of a ``map[string]string``."""
    if not isinstance(value, Mapping) or not value:
        return GoLiteral("map[string]string(nil)")
    body = ", ".join(f'"{k}":"{v}"' for k, v in sorted(value.items()))
    return GoLiteral("map[string]string{" + body + "}")


def go_label_selector(sel: Any) -> GoLiteral:
    """Go's ``%#v`` of a ``*metav1.LabelSelector``."""
    sel = sel if isinstance(sel, Mapping) else {}
    exprs = _items(sel.get("matchExpressions"))
    shown = "[]v1.LabelSelectorRequirement(nil)" if not exprs else (
        "[]v1.LabelSelectorRequirement{" + ", ".join(
            f'v1.LabelSelectorRequirement{{Key:"{e.get("key", "")}", '
            f'Operator:"{e.get("operator", "")}", Values:'
            + ("[]string{" + ", ".join(f'"{v}"' for v in e.get("values") or ()) + "}"
               if e.get("values") else "[]string(nil)") + "}" for e in exprs) + "}")
    return GoLiteral(f"v1.LabelSelector{{MatchLabels:{go_string_map(sel.get('matchLabels'))}, "
                     f"MatchExpressions:{shown}}}")


def _selector_matches(sel: Any, labels: Any) -> bool:
    if not isinstance(sel, Mapping):
        return False
    labels = labels if isinstance(labels, Mapping) else {}
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in _items(sel.get("matchExpressions")):
        key, op, values = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _non_negative(value: Any, path: str, errors: list[FieldError]) -> None:
    if isinstance(value, int) and value < 0:
        errors.append(invalid(path, value, "must be greater than or equal to 0"))


def _int_or_percent(value: Any, path: str, errors: list[FieldError]) -> None:
    if isinstance(value, str):
        m = re.fullmatch(r"(\d+)%", value)
        if m is None:
            errors.append(invalid(path, value, "a valid percent string must be a numeric string "
                                  "followed by an ending '%' (e.g. '1%',  or '93%', regex used "
                                  "for validation is '[0-9]+%')"))
        elif int(m.group(1)) > 100:
            errors.append(invalid(path, value, "must not be greater than 100%"))
    elif isinstance(value, int) and value < 0:
        errors.append(invalid(path, value, "must be greater than or equal to 0"))


# --- workloads ----------------------------------------------------------------------------------


def _workload(kind: str, obj: Obj, *, restart: tuple[str, ...] = ("Always",),
              selector_required: bool = True) -> list[FieldError]:
    errors: list[FieldError] = []
    spec = _dict(obj.get("spec"))
    sel = spec.get("selector")
    if sel is None:
        if selector_required:
            errors.append(required("spec.selector"))
    elif not (sel.get("matchLabels") or sel.get("matchExpressions")):
        errors.append(invalid("spec.selector", go_label_selector(sel),
                              f"empty selector is invalid for {kind}"))
    else:
        errors.extend(label_problems(sel.get("matchLabels"), "spec.selector.matchLabels"))
    _non_negative(spec.get("replicas"), "spec.replicas", errors)
    _non_negative(spec.get("minReadySeconds"), "spec.minReadySeconds", errors)
    _non_negative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit", errors)
    tmpl = spec.get("template")
    if not isinstance(tmpl, dict):
        errors.append(required("spec.template"))
        return errors
    labels = _d(tmpl, "metadata", "labels")
    errors.extend(label_problems(labels, "spec.template.metadata.labels"))
    if sel and (sel.get("matchLabels") or sel.get("matchExpressions")) and (
            not _selector_matches(sel, labels)):
        errors.append(_template_mismatch(labels))
    errors.extend(validate_pod_spec(tmpl.get("spec"), "spec.template.spec",
                                    restart_policies=restart))
    return errors


def _template_mismatch(labels: Any) -> FieldError:
    """The pod template's labels do not match the workload's selector."""
    return invalid("spec.template.metadata.labels", go_string_map(labels),
                   "`selector` does not match template `labels`")


def _update_strategy(obj: Obj, errors: list[FieldError]) -> None:
    """A StatefulSet's or DaemonSet's ``spec.updateStrategy.type``: one of two."""
    stype = _d(obj, "spec", "updateStrategy", "type")
    if stype not in _UPDATE_STRATEGIES:
        errors.append(not_supported("spec.updateStrategy.type", stype, _UPDATE_STRATEGIES))


def _deployment(obj: Obj) -> list[FieldError]:
    errors = _workload("deployment", obj)
    strategy = _d(obj, "spec", "strategy") or {}
    stype = strategy.get("type")
    if stype not in ("Recreate", "RollingUpdate"):
        errors.append(not_supported("spec.strategy.type", stype, ("Recreate", "RollingUpdate")))
    elif stype == "Recreate" and strategy.get("rollingUpdate") is not None:
        errors.append(forbidden("spec.strategy.rollingUpdate",
                                "may not be specified when strategy `type` is 'Recreate'"))
    ru = strategy.get("rollingUpdate") if stype == "RollingUpdate" else None
    if isinstance(ru, dict):
        _int_or_percent(ru.get("maxUnavailable"), "spec.strategy.rollingUpdate.maxUnavailable",
                        errors)
        _int_or_percent(ru.get("maxSurge"), "spec.strategy.rollingUpdate.maxSurge", errors)
        if ru.get("maxUnavailable") in (0, "0%") and ru.get("maxSurge") in (0, "0%"):
            errors.append(invalid("spec.strategy.rollingUpdate.maxUnavailable",
                                  ru["maxUnavailable"], "may not be 0 when `maxSurge` is 0"))
    pds, mrs = _d(obj, "spec", "progressDeadlineSeconds"), _d(obj, "spec", "minReadySeconds")
    if isinstance(pds, int) and isinstance(mrs, int) and pds <= mrs:
        errors.append(invalid("spec.progressDeadlineSeconds", pds,
                              "must be greater than minReadySeconds"))
    return errors


def _stateful_set(obj: Obj) -> list[FieldError]:
    errors = _workload("statefulset", obj)
    policy = _d(obj, "spec", "podManagementPolicy")
    if policy not in ("OrderedReady", "Parallel"):
        errors.append(not_supported("spec.podManagementPolicy", policy,
                                    ("OrderedReady", "Parallel")))
    _update_strategy(obj, errors)
    return errors


def _daemon_set(obj: Obj) -> list[FieldError]:
    errors = _workload("daemonset", obj)
    _update_strategy(obj, errors)
    return errors


def _replication_controller(obj: Obj) -> list[FieldError]:
    errors: list[FieldError] = []
    spec = _dict(obj.get("spec"))
    sel = spec.get("selector")
    if not sel:
        errors.append(required("spec.selector"))
    else:
        errors.extend(label_problems(sel, "spec.selector"))
    _non_negative(spec.get("replicas"), "spec.replicas", errors)
    tmpl = spec.get("template")
    if isinstance(tmpl, dict):
        labels = _d(tmpl, "metadata", "labels") or {}
        if sel and any(labels.get(k) != v for k, v in sel.items()):
            errors.append(_template_mismatch(labels))
        errors.extend(validate_pod_spec(tmpl.get("spec"), "spec.template.spec",
                                        restart_policies=("Always",)))
    return errors


def _job_spec(spec: Any, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if not isinstance(spec, dict):
        return [required(path)]
    for key in ("parallelism", "completions", "backoffLimit"):
        _non_negative(spec.get(key), f"{path}.{key}", errors)
    ads = spec.get("activeDeadlineSeconds")
    if isinstance(ads, int) and ads <= 0:
        errors.append(invalid(f"{path}.activeDeadlineSeconds", ads, "must be greater than 0"))
    mode = spec.get("completionMode")
    if mode not in (None, "NonIndexed", "Indexed"):
        errors.append(not_supported(f"{path}.completionMode", mode, ("NonIndexed", "Indexed")))
    tmpl = spec.get("template")
    if not isinstance(tmpl, dict):
        errors.append(required(f"{path}.template"))
        return errors
    errors.extend(validate_pod_spec(tmpl.get("spec"), f"{path}.template.spec",
                                    restart_policies=("OnFailure", "Never")))
    return errors


def _job(obj: Obj) -> list[FieldError]:
    errors = _job_spec(obj.get("spec"), "spec")
    sel = _d(obj, "spec", "selector")
    labels = _d(obj, "spec", "template", "metadata", "labels")
    if sel is None:
        errors.append(required("spec.selector"))
    elif not _selector_matches(sel, labels):
        errors.append(_template_mismatch(labels))
    return errors


_CRON_MACROS = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight",
                          "@hourly"})


def _schedule(schedule: Any) -> list[FieldError]:
    """``spec.schedule``: required, and five cron fields, a macro or ``@every`` (after an
    optional ``TZ=``), as kube's ``validateScheduleFormat`` parses it; and no ``TZ`` in it
    at all ("use timeZone field instead"). kube also lets an update keep a ``TZ=`` an
    object was created with before that rule; the fake refuses it on update too, since it
    never stores one."""
    if not schedule:
        return [required("spec.schedule")]
    errors = []
    text = re.sub(r"^(CRON_)?TZ=\S+\s+", "", str(schedule).strip())
    fields = text.split()
    if not (text in _CRON_MACROS or text.startswith("@every ") or len(fields) == 5):
        errors.append(invalid("spec.schedule", schedule,
                              f"expected exactly 5 fields, found {len(fields)}: {text}"))
    if "TZ" in str(schedule):
        errors.append(invalid("spec.schedule", schedule,
                              "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
    return errors


def _cron_job(obj: Obj) -> list[FieldError]:
    spec = _dict(obj.get("spec"))
    errors = _schedule(spec.get("schedule"))
    policy = spec.get("concurrencyPolicy")
    if policy not in ("Allow", "Forbid", "Replace"):
        errors.append(not_supported("spec.concurrencyPolicy", policy,
                                    ("Allow", "Forbid", "Replace")))
    for key in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit",
                "startingDeadlineSeconds"):
        _non_negative(spec.get(key), f"spec.{key}", errors)
    tmpl = spec.get("jobTemplate")
    if not isinstance(tmpl, dict):
        errors.append(required("spec.jobTemplate"))
    else:
        errors.extend(_job_spec(tmpl.get("spec"), "spec.jobTemplate.spec"))
    return errors


# --- core ----------------------------------------------------------------------------------------


def _pod(obj: Obj) -> list[FieldError]:
    return validate_pod_spec(obj.get("spec"), "spec")


def _pod_template(obj: Obj) -> list[FieldError]:
    tmpl = obj.get("template")
    if not isinstance(tmpl, dict):
        return [required("template")]
    errors = label_problems(_d(tmpl, "metadata", "labels"), "template.metadata.labels")
    return errors + validate_pod_spec(tmpl.get("spec"), "template.spec")


_SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")


def _service(obj: Obj) -> list[FieldError]:
    errors: list[FieldError] = []
    spec = _dict(obj.get("spec"))
    stype = spec.get("type")
    if stype not in _SERVICE_TYPES:
        errors.append(not_supported("spec.type", stype, _SERVICE_TYPES))
    ports = _items(spec.get("ports"))
    headless = spec.get("clusterIP") == "None"
    if stype == "ExternalName":
        if not spec.get("externalName"):
            errors.append(required("spec.externalName"))
    elif not ports and not headless:
        errors.append(required("spec.ports"))
    names: set[str] = set()
    for i, p in enumerate(ports):
        at = f"spec.ports[{i}]"
        name = p.get("name")
        if len(ports) > 1 and not name:
            errors.append(required(f"{at}.name"))
        elif name:
            # A Service port's name is a DNS-1123 label (kube's ValidateService), not an
            # IANA service name like a container port's: "80-8080" is fine here.
            unique_name(f"{at}.name", name, dns1123_label, names, errors)
        port = p.get("port")
        if not isinstance(port, int) or not 1 <= port <= 65535:
            errors.append(invalid(f"{at}.port", port if port is not None else 0,
                                  "must be between 1 and 65535, inclusive"))
        proto = p.get("protocol")
        if proto not in ("SCTP", "TCP", "UDP"):
            errors.append(not_supported(f"{at}.protocol", proto, ("SCTP", "TCP", "UDP")))
        target = p.get("targetPort")
        if isinstance(target, int) and not 1 <= target <= 65535:
            errors.append(invalid(f"{at}.targetPort", target,
                                  "must be between 1 and 65535, inclusive"))
        elif isinstance(target, str):
            errors.extend(invalid(f"{at}.targetPort", target, m)
                          for m in port_name_problems(target))
        if p.get("nodePort") and stype not in ("NodePort", "LoadBalancer"):
            errors.append(forbidden(f"{at}.nodePort",
                                    "may not be used when `type` is 'ClusterIP'"))
    affinity = spec.get("sessionAffinity")
    if affinity not in ("ClientIP", "None"):
        errors.append(not_supported("spec.sessionAffinity", affinity, ("ClientIP", "None")))
    errors.extend(label_problems(spec.get("selector"), "spec.selector"))
    return errors


def _data_keys(obj: Obj, keys: tuple[str, ...], errors: list[FieldError]) -> int:
    size = 0
    seen: set[str] = set()
    for field in keys:
        data = obj.get(field)
        if not isinstance(data, dict):
            continue
        for k, v in data.items():
            at = f"{field}[{k}]"
            if len(k) > 253:
                errors.append(invalid(at, k, "must be no more than 253 characters"))
            if not _CONFIG_KEY.match(k):
                errors.append(invalid(at, k, "a valid config key must consist of alphanumeric "
                                      "characters, '-', '_' or '.' (e.g. 'key.name',  or "
                                      "'KEY_NAME',  or 'key-name', regex used for validation "
                                      "is '[-._a-zA-Z0-9]+')"))
            if k in seen:
                errors.append(invalid(at, k, "duplicate of key present in " + keys[0]))
            seen.add(k)
            size += _data_size(field, v)
    return size


def _data_size(field: str, value: Any) -> int:
    """Bytes of a data value: base64 fields count their decoded bytes."""
    text = str(value)
    if field == "binaryData":
        try:
            return len(base64.b64decode(text))
        except (binascii.Error, ValueError):
            return len(text)
    return len(text.encode())


def _config_map(obj: Obj) -> list[FieldError]:
    errors: list[FieldError] = []
    if _data_keys(obj, ("data", "binaryData"), errors) > MAX_DATA_SIZE:
        errors.append(too_long("[]", MAX_DATA_SIZE))
    return errors


def _secret(obj: Obj) -> list[FieldError]:
    errors: list[FieldError] = []
    _data_keys(obj, ("data",), errors)
    size = 0
    for v in _dict(obj.get("data")).values():
        try:
            size += len(base64.b64decode(str(v)))
        except (binascii.Error, ValueError):
            size += len(str(v))
    if size > MAX_DATA_SIZE:
        errors.append(too_long("data", MAX_DATA_SIZE))
    data = _dict(obj.get("data"))
    stype = obj.get("type")
    if stype == "kubernetes.io/tls":
        for key in ("tls.crt", "tls.key"):
            if key not in data:
                errors.append(required(f"data[{key}]"))
    elif stype == "kubernetes.io/dockerconfigjson" and ".dockerconfigjson" not in data:
        errors.append(required("data[.dockerconfigjson]"))
    elif stype == "kubernetes.io/dockercfg" and ".dockercfg" not in data:
        errors.append(required("data[.dockercfg]"))
    elif stype == "kubernetes.io/service-account-token":
        name = _d(obj, "metadata", "annotations", "kubernetes.io/service-account.name")
        if not name:
            errors.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    return errors


_ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")


def _access_modes(modes: Any, path: str, errors: list[FieldError]) -> None:
    if not modes:
        errors.append(required(path, "at least 1 access mode is required"))
        return
    for mode in modes:
        if mode not in _ACCESS_MODES:
            errors.append(not_supported(path, mode, _ACCESS_MODES))


def _pvc(obj: Obj) -> list[FieldError]:
    errors: list[FieldError] = []
    spec = _dict(obj.get("spec"))
    _access_modes(spec.get("accessModes"), "spec.accessModes", errors)
    if not spec.get("dataSource") and not spec.get("dataSourceRef") and not _d(
            spec, "resources", "requests", "storage"):
        errors.append(required("spec.resources[storage]"))
    mode = spec.get("volumeMode")
    if mode not in ("Block", "Filesystem"):
        errors.append(not_supported("spec.volumeMode", mode, ("Block", "Filesystem")))
    return errors


def _pv(obj: Obj) -> list[FieldError]:
    errors: list[FieldError] = []
    spec = _dict(obj.get("spec"))
    _access_modes(spec.get("accessModes"), "spec.accessModes", errors)
    if not _d(spec, "capacity", "storage"):
        errors.append(required("spec.capacity"))
    known = {"accessModes", "capacity", "claimRef", "mountOptions", "nodeAffinity",
             "persistentVolumeReclaimPolicy", "storageClassName", "volumeMode",
             "volumeAttributesClassName"}
    if not [k for k in spec if k not in known]:
        errors.append(required("spec", "must specify a volume type"))
    policy = spec.get("persistentVolumeReclaimPolicy")
    if policy not in ("Delete", "Recycle", "Retain"):
        errors.append(not_supported("spec.persistentVolumeReclaimPolicy", policy,
                                    ("Delete", "Recycle", "Retain")))
    return errors


# --- other groups -------------------------------------------------------------------------------


def _ingress(obj: Obj) -> list[FieldError]:
    errors: list[FieldError] = []
    spec = _dict(obj.get("spec"))
    if not spec.get("defaultBackend") and not spec.get("rules"):
        errors.append(invalid("spec", GoLiteral("networking.IngressSpec{...}"),
                              "either `defaultBackend` or `rules` must be specified"))
    for i, rule in enumerate(_items(spec.get("rules"))):
        host = rule.get("host")
        if host:
            errors.extend(invalid(f"spec.rules[{i}].host", host, m)
                          for m in dns1123_subdomain(str(host).removeprefix("*.")))
        for j, p in enumerate(_items(_d(rule, "http", "paths"))):
            at = f"spec.rules[{i}].http.paths[{j}]"
            ptype = p.get("pathType")
            if not ptype:
                errors.append(required(f"{at}.pathType", "pathType must be specified"))
            elif ptype not in ("Exact", "ImplementationSpecific", "Prefix"):
                errors.append(not_supported(f"{at}.pathType", ptype,
                                            ("Exact", "ImplementationSpecific", "Prefix")))
            path = p.get("path")
            if ptype in ("Exact", "Prefix") and not str(path or "").startswith("/"):
                errors.append(invalid(f"{at}.path", path or "", "must be an absolute path"))
            backend = p.get("backend")
            if not isinstance(backend, dict):
                errors.append(required(f"{at}.backend"))
            else:
                port = _d(backend, "service", "port") or {}
                if port.get("name") and port.get("number"):
                    errors.append(invalid(f"{at}.backend.service.port", port["name"],
                                          "cannot set both port name & port number"))
    return errors


def _network_policy(obj: Obj) -> list[FieldError]:
    errors: list[FieldError] = []
    for i, t in enumerate(_d(obj, "spec", "policyTypes") or ()):
        if t not in ("Ingress", "Egress"):
            errors.append(not_supported(f"spec.policyTypes[{i}]", t, ("Ingress", "Egress")))
    return errors


def _pdb(obj: Obj) -> list[FieldError]:
    errors: list[FieldError] = []
    spec = _dict(obj.get("spec"))
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        errors.append(invalid("spec", GoLiteral("policy.PodDisruptionBudgetSpec{...}"),
                              "minAvailable and maxUnavailable cannot be both set"))
    for key in ("minAvailable", "maxUnavailable"):
        _int_or_percent(spec.get(key), f"spec.{key}", errors)
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in ("AlwaysAllow", "IfHealthyBudget"):
        errors.append(not_supported("spec.unhealthyPodEvictionPolicy", policy,
                                    ("AlwaysAllow", "IfHealthyBudget")))
    return errors


def _hpa(obj: Obj) -> list[FieldError]:
    errors: list[FieldError] = []
    spec = _dict(obj.get("spec"))
    mx, mn = spec.get("maxReplicas"), spec.get("minReplicas")
    if not isinstance(mx, int) or mx < 1:
        errors.append(invalid("spec.maxReplicas", mx if mx is not None else 0,
                              "must be greater than or equal to 1"))
    if isinstance(mn, int) and isinstance(mx, int) and mn > mx:
        errors.append(invalid("spec.minReplicas", mn, "must be less than or equal to "
                              "maxReplicas"))
    ref = _dict(spec.get("scaleTargetRef"))
    for key in ("kind", "name"):
        if not ref.get(key):
            errors.append(required(f"spec.scaleTargetRef.{key}"))
    return errors


def _lease(obj: Obj) -> list[FieldError]:
    errors: list[FieldError] = []
    duration = _d(obj, "spec", "leaseDurationSeconds")
    if isinstance(duration, int) and duration <= 0:
        errors.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    _non_negative(_d(obj, "spec", "leaseTransitions"), "spec.leaseTransitions", errors)
    return errors


def _binding(kinds: tuple[str, ...], cluster: bool) -> Callable[[Obj], list[FieldError]]:
    def check(obj: Obj) -> list[FieldError]:
        errors: list[FieldError] = []
        ref = _dict(obj.get("roleRef"))
        if ref.get("apiGroup") != "rbac.authorization.k8s.io":
            errors.append(not_supported("roleRef.apiGroup", ref.get("apiGroup", ""),
                                        ("rbac.authorization.k8s.io",)))
        if ref.get("kind") not in kinds:
            errors.append(not_supported("roleRef.kind", ref.get("kind", ""), kinds))
        if not ref.get("name"):
            errors.append(required("roleRef.name"))
        for i, s in enumerate(_items(obj.get("subjects"))):
            kind = s.get("kind")
            if kind not in ("ServiceAccount", "User", "Group"):
                errors.append(not_supported(f"subjects[{i}].kind", kind,
                                            ("ServiceAccount", "User", "Group")))
            if not s.get("name"):
                errors.append(required(f"subjects[{i}].name"))
            if kind == "ServiceAccount" and cluster and not s.get("namespace"):
                errors.append(required(f"subjects[{i}].namespace"))
        return errors

    return check


def _storage_class(obj: Obj) -> list[FieldError]:
    errors: list[FieldError] = []
    if not obj.get("provisioner"):
        errors.append(required("provisioner"))
    if obj.get("reclaimPolicy") not in ("Delete", "Retain"):
        errors.append(not_supported("reclaimPolicy", obj.get("reclaimPolicy"),
                                    ("Delete", "Retain")))
    if obj.get("volumeBindingMode") not in ("Immediate", "WaitForFirstConsumer"):
        errors.append(not_supported("volumeBindingMode", obj.get("volumeBindingMode"),
                                    ("Immediate", "WaitForFirstConsumer")))
    return errors


def _priority_class(obj: Obj) -> list[FieldError]:
    value = obj.get("value")
    name = str(_d(obj, "metadata", "name") or "")
    if isinstance(value, int) and value > 1_000_000_000 and not name.startswith("system-"):
        return [forbidden("value", "maximum allowed value of a user defined priority is "
                          "1000000000")]
    return []


_RULES: dict[str, Callable[[Obj], list[FieldError]]] = {
    "pods": _pod,
    "podtemplates": _pod_template,
    "replicationcontrollers": _replication_controller,
    "services": _service,
    "configmaps": _config_map,
    "secrets": _secret,
    "persistentvolumeclaims": _pvc,
    "persistentvolumes": _pv,
    "deployments.apps": _deployment,
    "replicasets.apps": lambda obj: _workload("replicaset", obj),
    "statefulsets.apps": _stateful_set,
    "daemonsets.apps": _daemon_set,
    "jobs.batch": _job,
    "cronjobs.batch": _cron_job,
    "ingresses.networking.k8s.io": _ingress,
    "networkpolicies.networking.k8s.io": _network_policy,
    "poddisruptionbudgets.policy": _pdb,
    "horizontalpodautoscalers.autoscaling": _hpa,
    "leases.coordination.k8s.io": _lease,
    "rolebindings.rbac.authorization.k8s.io": _binding(("Role", "ClusterRole"), False),
    "clusterrolebindings.rbac.authorization.k8s.io": _binding(("ClusterRole",), True),
    "storageclasses.storage.k8s.io": _storage_class,
    "priorityclasses.scheduling.k8s.io": _priority_class,
}


def validate_kind(served: ServedResource, obj: Obj) -> list[FieldError]:
    """The kind's own rules for ``obj`` (its metadata is checked by the caller)."""
    rule = _RULES.get(served.group_resource)
    return rule(obj) if rule is not None else []


# --- updates -------------------------------------------------------------------------------------


def _immutable(old: Any, new: Any, path: str, shown: Any, errors: list[FieldError]) -> None:
    if old != new:
        errors.append(invalid(path, shown, _IMMUTABLE))


def _selector_immutable(old: Obj, new: Obj, errors: list[FieldError]) -> None:
    sel = _d(new, "spec", "selector")
    _immutable(_d(old, "spec", "selector"), sel, "spec.selector", go_label_selector(sel), errors)


def _data_immutable(old: Obj, new: Obj, keys: tuple[str, ...]) -> list[FieldError]:
    if old.get("immutable") is not True:
        return []
    errors: list[FieldError] = []
    if new.get("immutable") is not True:
        errors.append(forbidden("immutable", "field is immutable when `immutable` is set"))
    for key in keys:
        if (old.get(key) or {}) != (new.get(key) or {}):
            errors.append(forbidden(key, "field is immutable when `immutable` is set"))
    return errors


def _update_rules(gr: str, old: Obj, new: Obj) -> list[FieldError]:
    errors: list[FieldError] = []
    if gr == "pods":
        errors.extend(validate_pod_update(old, new))
    elif gr in ("deployments.apps", "replicasets.apps", "daemonsets.apps"):
        _selector_immutable(old, new, errors)
    elif gr == "statefulsets.apps":
        _selector_immutable(old, new, errors)
        allowed = {"replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
                   "persistentVolumeClaimRetentionPolicy", "minReadySeconds", "selector"}
        o = {k: v for k, v in (old.get("spec") or {}).items() if k not in allowed}
        n = {k: v for k, v in (new.get("spec") or {}).items() if k not in allowed}
        if o != n:
            errors.append(forbidden("spec", "updates to statefulset spec for fields other than "
                                    "'replicas', 'ordinals', 'template', 'updateStrategy', "
                                    "'revisionHistoryLimit', "
                                    "'persistentVolumeClaimRetentionPolicy' and "
                                    "'minReadySeconds' are forbidden"))
    elif gr == "jobs.batch":
        _selector_immutable(old, new, errors)
        _immutable(_d(old, "spec", "template"), _d(new, "spec", "template"), "spec.template",
                   GoLiteral("core.PodTemplateSpec{...}"), errors)
        if _d(old, "spec", "completionMode") != "Indexed":
            _immutable(_d(old, "spec", "completions"), _d(new, "spec", "completions"),
                       "spec.completions", _d(new, "spec", "completions"), errors)
        _immutable(_d(old, "spec", "completionMode"), _d(new, "spec", "completionMode"),
                   "spec.completionMode", _d(new, "spec", "completionMode"), errors)
    elif gr == "services":
        errors.extend(_service_update(old, new))
    elif gr == "configmaps":
        errors.extend(_data_immutable(old, new, ("data", "binaryData")))
    elif gr == "secrets":
        errors.extend(_data_immutable(old, new, ("data",)))
        _immutable(old.get("type"), new.get("type"), "type", new.get("type"), errors)
    elif gr == "persistentvolumeclaims":
        errors.extend(_pvc_update(old, new))
    elif gr in ("rolebindings.rbac.authorization.k8s.io",
                "clusterrolebindings.rbac.authorization.k8s.io"):
        if old.get("roleRef") != new.get("roleRef"):
            ref = new.get("roleRef") or {}
            shown = (f'rbac.RoleRef{{APIGroup:"{ref.get("apiGroup", "")}", '
                     f'Kind:"{ref.get("kind", "")}", Name:"{ref.get("name", "")}"}}')
            errors.append(invalid("roleRef", GoLiteral(shown), "cannot change roleRef"))
    elif gr == "storageclasses.storage.k8s.io":
        for key in ("parameters", "provisioner", "reclaimPolicy"):
            if old.get(key) != new.get(key):
                errors.append(forbidden(key, f"updates to {key} are forbidden."))
        _immutable(old.get("volumeBindingMode"), new.get("volumeBindingMode"),
                   "volumeBindingMode", new.get("volumeBindingMode"), errors)
    elif gr == "priorityclasses.scheduling.k8s.io" and old.get("value") != new.get("value"):
        errors.append(forbidden("value", "may not be changed in an update."))
    return errors


def _service_update(old: Obj, new: Obj) -> list[FieldError]:
    os_, ns = old.get("spec") or {}, new.get("spec") or {}
    if "ExternalName" in (os_.get("type"), ns.get("type")):
        return []
    old_ips, new_ips = list(os_.get("clusterIPs") or ()), list(ns.get("clusterIPs") or ())
    if old_ips and new_ips and old_ips[0] != new_ips[0]:
        return [invalid("spec.clusterIPs[0]", go_strings(new_ips), "may not change once set")]
    return []


def _pvc_update(old: Obj, new: Obj) -> list[FieldError]:
    o, n = dict(old.get("spec") or {}), dict(new.get("spec") or {})
    for spec in (o, n):
        spec.pop("resources", None)
        spec.pop("volumeAttributesClassName", None)
    if not o.get("volumeName"):
        o.pop("volumeName", None)
        n.pop("volumeName", None)
    if o != n:
        return [forbidden("spec", "spec is immutable after creation except resources.requests "
                          "and volumeAttributesClassName for bound claims")]
    return []


def validate_kind_update(served: ServedResource, old: Obj, new: Obj,
                         subresource: str) -> list[FieldError]:
    """What ``served``'s kind forbids an update (``subresource`` ``status``: none of it)."""
    if subresource == "status":
        return []
    return _update_rules(served.group_resource, old, new)
