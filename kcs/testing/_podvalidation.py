"""Validation of pod specs (pods and every pod template) and of pod updates.

The rules a controller author meets first, from kubernetes ``pkg/apis/core/validation``:
containers are required and named (DNS-1123 labels, unique across init and regular
containers), have an image, valid ports (1-65535, TCP/UDP/SCTP, IANA service port names,
unique), env names, volume mounts that name a volume of the pod (and unique mount paths),
requests that do not exceed limits; volumes are named, unique, and have exactly one
source; ``restartPolicy``, ``dnsPolicy``, ``imagePullPolicy``, ``terminationMessagePolicy``
and tolerations take supported values only.

A pod update may change only the containers' images, ``activeDeadlineSeconds``,
``terminationGracePeriodSeconds`` (from a negative value) and add tolerations; anything
else is 422 ``spec: Forbidden: pod updates may not change fields other than ...`` (kube
also appends a diff of the specs, which is not reproduced).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from kcs.testing._fielderrors import (
    FieldError,
    forbidden,
    invalid,
    not_found,
    not_supported,
    required,
)
from kcs.testing._names import dns1123_label, dns1123_subdomain, max_len, unique_name
from kcs.testing._quantity import quantity_value

__all__ = ["POD_UPDATE_FORBIDDEN", "port_name_problems", "validate_pod_spec",
           "validate_pod_update"]

POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be "
    "set to 1 if it was previously negative)"
)

_RESTART = ("Always", "OnFailure", "Never")
_DNS = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
_PULL = ("Always", "IfNotPresent", "Never")
_MESSAGE_POLICY = ("File", "FallbackToLogsOnError")
_PROTOCOLS = ("SCTP", "TCP", "UDP")
_TOLERATION_OPERATORS = ("Equal", "Exists")
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_VOLUME_NON_SOURCES = frozenset({"name"})


def port_name_problems(name: str) -> list[str]:
    """``IsValidPortName`` (an IANA service name)."""
    errs = [max_len(15)] if len(name) > 15 else []
    if not re.fullmatch(r"[-a-z0-9]+", name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search(r"[a-z]", name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name and (name[0] == "-" or name[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def _items(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def validate_pod_spec(spec: Any, path: str, *,
                      restart_policies: tuple[str, ...] = _RESTART) -> list[FieldError]:
    """Errors of a pod spec at ``path`` (``spec`` or ``spec.template.spec``)."""
    if not isinstance(spec, dict):
        return [required(path)]
    errors: list[FieldError] = []
    volumes = _volumes(spec, path, errors)
    names: set[str] = set()
    if not _items(spec.get("containers")):
        errors.append(required(f"{path}.containers"))
    for key in ("initContainers", "containers"):
        for i, c in enumerate(_items(spec.get(key))):
            _container(c, f"{path}.{key}[{i}]", volumes, names, errors)
    restart = spec.get("restartPolicy")
    if restart not in restart_policies:
        errors.append(not_supported(f"{path}.restartPolicy", restart, restart_policies)
                      if restart else required(f"{path}.restartPolicy",
                                               "valid values: " + ", ".join(
                                                   f'"{r}"' for r in restart_policies)))
    dns = spec.get("dnsPolicy")
    if dns and dns not in _DNS:
        errors.append(not_supported(f"{path}.dnsPolicy", dns, _DNS))
    if dns == "None" and not spec.get("dnsConfig"):
        errors.append(required(f"{path}.dnsConfig",
                               "must provide `dnsConfig` when `dnsPolicy` is None"))
    ads = spec.get("activeDeadlineSeconds")
    if isinstance(ads, int) and ads < 1:
        errors.append(invalid(f"{path}.activeDeadlineSeconds", ads,
                              "must be between 1 and 2147483647, inclusive"))
    for key in ("serviceAccountName", "nodeName"):
        value = spec.get(key)
        if value:
            errors.extend(invalid(f"{path}.{key}", value, m)
                          for m in dns1123_subdomain(str(value)))
    for i, t in enumerate(_items(spec.get("tolerations"))):
        _toleration(t, f"{path}.tolerations[{i}]", errors)
    return errors


def _volumes(spec: dict[str, Any], path: str, errors: list[FieldError]) -> set[str]:
    names: set[str] = set()
    for i, v in enumerate(_items(spec.get("volumes"))):
        at = f"{path}.volumes[{i}]"
        name = v.get("name")
        if not name:
            errors.append(required(f"{at}.name"))
        else:
            unique_name(f"{at}.name", name, dns1123_label, names, errors)
        sources = [k for k in v if k not in _VOLUME_NON_SOURCES and v[k] is not None]
        if not sources:
            errors.append(required(at, "must specify a volume type"))
        elif len(sources) > 1:
            errors.append(forbidden(f"{at}.{sources[1]}",
                                    "may not specify more than 1 volume type"))
    return names


def _container(c: dict[str, Any], path: str, volumes: set[str], names: set[str],
               errors: list[FieldError]) -> None:
    name = c.get("name")
    if not name:
        errors.append(required(f"{path}.name"))
    else:
        unique_name(f"{path}.name", name, dns1123_label, names, errors)
    if not c.get("image"):
        errors.append(required(f"{path}.image"))
    pull = c.get("imagePullPolicy")
    if pull and pull not in _PULL:
        errors.append(not_supported(f"{path}.imagePullPolicy", pull, _PULL))
    policy = c.get("terminationMessagePolicy")
    if policy and policy not in _MESSAGE_POLICY:
        errors.append(not_supported(f"{path}.terminationMessagePolicy", policy, _MESSAGE_POLICY))
    _ports(c, path, errors)
    for i, e in enumerate(_items(c.get("env"))):
        if not e.get("name"):
            errors.append(required(f"{path}.env[{i}].name"))
    mount_paths: set[str] = set()
    for i, m in enumerate(_items(c.get("volumeMounts"))):
        at = f"{path}.volumeMounts[{i}]"
        if not m.get("name"):
            errors.append(required(f"{at}.name"))
        elif m["name"] not in volumes:
            errors.append(not_found(f"{at}.name", m["name"]))
        mount = m.get("mountPath")
        if not mount:
            errors.append(required(f"{at}.mountPath"))
        elif mount in mount_paths:
            errors.append(invalid(f"{at}.mountPath", mount, "must be unique"))
        else:
            mount_paths.add(str(mount))
    _resources(c.get("resources"), f"{path}.resources", errors)


def _ports(c: dict[str, Any], path: str, errors: list[FieldError]) -> None:
    seen: set[str] = set()
    for i, p in enumerate(_items(c.get("ports"))):
        at = f"{path}.ports[{i}]"
        name = p.get("name")
        if name:
            unique_name(f"{at}.name", name, port_name_problems, seen, errors)
        port = p.get("containerPort")
        if not port:
            errors.append(required(f"{at}.containerPort"))
        elif isinstance(port, int) and not 1 <= port <= 65535:
            errors.append(invalid(f"{at}.containerPort", port,
                                  "must be between 1 and 65535, inclusive"))
        host = p.get("hostPort")
        if isinstance(host, int) and host and not 1 <= host <= 65535:
            errors.append(invalid(f"{at}.hostPort", host,
                                  "must be between 1 and 65535, inclusive"))
        proto = p.get("protocol")
        if proto and proto not in _PROTOCOLS:
            errors.append(not_supported(f"{at}.protocol", proto, _PROTOCOLS))


def _resources(res: Any, path: str, errors: list[FieldError]) -> None:
    if not isinstance(res, dict):
        return
    limits: dict[str, Any] = res["limits"] if isinstance(res.get("limits"), dict) else {}
    requests: dict[str, Any] = res["requests"] if isinstance(res.get("requests"), dict) else {}
    for name, value in requests.items():
        if name not in limits:
            continue
        req, lim = quantity_value(str(value)), quantity_value(str(limits[name]))
        if req is not None and lim is not None and req > lim:
            errors.append(invalid(f"{path}.requests", value,
                                  f"must be less than or equal to {name} limit of "
                                  f"{limits[name]}"))


def _toleration(t: dict[str, Any], path: str, errors: list[FieldError]) -> None:
    op = t.get("operator") or "Equal"
    if op not in _TOLERATION_OPERATORS:
        errors.append(not_supported(f"{path}.operator", op, _TOLERATION_OPERATORS))
    if op == "Exists" and t.get("value"):
        errors.append(invalid(f"{path}.operator", t.get("value"),
                              "value must be empty when `operator` is 'Exists'"))
    effect = t.get("effect")
    if effect and effect not in _EFFECTS:
        errors.append(not_supported(f"{path}.effect", effect, _EFFECTS))
    if t.get("tolerationSeconds") is not None and effect != "NoExecute":
        errors.append(invalid(f"{path}.effect", effect or "",
                              "effect must be 'NoExecute' when `tolerationSeconds` is set"))


def validate_pod_update(old: dict[str, Any], new: dict[str, Any]) -> list[FieldError]:
    """The errors of changing pod ``old`` into ``new`` (specs only)."""
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    mutated = orjson.loads(orjson.dumps(old_spec))  # a deep copy, fast
    for key in ("containers", "initContainers"):
        olds, news = _items(mutated.get(key)), _items(new_spec.get(key))
        if len(olds) == len(news):
            for o, n in zip(olds, news, strict=True):
                if "image" in n:
                    o["image"] = n["image"]
    if new_spec.get("activeDeadlineSeconds") is not None:
        old_ads = old_spec.get("activeDeadlineSeconds")
        if old_ads is None or new_spec["activeDeadlineSeconds"] <= old_ads:
            mutated["activeDeadlineSeconds"] = new_spec["activeDeadlineSeconds"]
    old_grace = old_spec.get("terminationGracePeriodSeconds")
    if isinstance(old_grace, int) and old_grace < 0 and (
            new_spec.get("terminationGracePeriodSeconds") == 1):
        mutated["terminationGracePeriodSeconds"] = 1
    old_tols = _items(old_spec.get("tolerations"))
    new_tols = _items(new_spec.get("tolerations"))
    if all(t in new_tols for t in old_tols):
        if new_tols:
            mutated["tolerations"] = new_tols
        else:
            mutated.pop("tolerations", None)
    gates = _items(new_spec.get("schedulingGates"))
    if all(g in _items(old_spec.get("schedulingGates")) for g in gates):
        if gates:
            mutated["schedulingGates"] = gates
        else:
            mutated.pop("schedulingGates", None)
    if mutated != new_spec:
        return [forbidden("spec", POD_UPDATE_FORBIDDEN)]
    return []
