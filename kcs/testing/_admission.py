"""What kube-apiserver's default admission plugins and REST strategies do to an object.

Two steps of a write, after decoding (:mod:`._decoding`) and before validation
(:mod:`._validation`):

* :meth:`Admission.admit_create`: the mutating admission plugins a default kube-apiserver
  1.36 enables that change objects on create: **ServiceAccount** (a pod's
  ``serviceAccountName``/``serviceAccount`` default to ``default``, and unless
  ``automountServiceAccountToken`` is false on the pod or its ServiceAccount, a projected
  ``kube-api-access-<5 random>`` volume with the token, ``kube-root-ca.crt`` and the
  namespace, mounted read-only at ``/var/run/secrets/kubernetes.io/serviceaccount`` in every
  container), **Priority** (``priority`` from the ``priorityClassName``, the global default
  class, or 0; ``preemptionPolicy``; 403 for a class that does not exist),
  **DefaultTolerationSeconds** (``not-ready`` and ``unreachable`` ``NoExecute`` tolerations
  for 300 s), **DefaultStorageClass** (a PVC without ``storageClassName`` gets the default
  class, when there is one), **DefaultIngressClass**, and **TaintNodesByCondition** (a new
  node is tainted ``node.kubernetes.io/not-ready:NoSchedule``).
* :meth:`Admission.prepare_create` / :meth:`Admission.prepare_update`: the kinds'
  strategies: status reset on create (pods start ``Pending`` with their ``qosClass``),
  a Job's generated selector and labels, a Service's cluster IPs (allocated from
  ``10.96.0.0/12``) and node ports (30000-32767), kept on update when the update leaves them
  out, a Namespace's ``kubernetes`` finalizer, a PersistentVolume's phase transition time.

Not emulated: LimitRanger, ResourceQuota, PodSecurity, RuntimeClass overhead, webhooks and
admission policies.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable
from typing import Any, Protocol

from kcs.core import ApiError, Resource
from kcs.testing._fielderrors import FieldError, go_strings, invalid
from kcs.testing._quantity import quantity_value
from kcs.testing._registry import ServedResource
from kcs.testing._status import forbidden

__all__ = [
    "SERVICE_CIDR",
    "Admission",
    "ObjectReader",
    "qos_class",
]

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
"""The service cluster IP range (kubeadm's default)."""

NODE_PORTS = range(30000, 32768)
TOKEN_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
_DEFAULT_SC = "storageclass.kubernetes.io/is-default-class"
_DEFAULT_SC_BETA = "storageclass.beta.kubernetes.io/is-default-class"
_DEFAULT_IC = "ingressclass.kubernetes.io/is-default-class"
_SYSTEM_PRIORITIES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}

Obj = dict[str, Any]


def _dict(value: Any) -> Obj:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


class ObjectReader(Protocol):
    """Read access to the stored objects, by group-resource (``pods``, ``jobs.batch``)."""

    def get_object(self, group_resource: str, namespace: str | None, name: str) -> Obj | None:
        """The stored object, or ``None``."""
        ...

    def list_objects(self, group_resource: str) -> Iterable[Obj]:
        """Every stored object of ``group_resource``."""
        ...


class Admission:
    """Admission and strategy mutations for one server (it owns the IP and port allocator)."""

    def __init__(self, reader: ObjectReader, rng: random.Random | None = None) -> None:
        self.reader = reader
        self.rng = rng or random.Random()

    # --- create -----------------------------------------------------------------------------

    def admit_create(self, served: ServedResource, obj: Obj) -> None:
        """Run the mutating admission plugins on ``obj`` (in place); 403 where they refuse."""
        gr = served.group_resource
        if gr == "pods":
            self._service_account(obj)
            self._priority(served.resource, obj)
            _default_tolerations(obj)
        elif gr == "persistentvolumeclaims":
            self._default_storage_class(obj)
        elif gr == "ingresses.networking.k8s.io":
            self._default_ingress_class(obj)
        elif gr == "nodes":
            _not_ready_taint(obj)

    def prepare_create(self, served: ServedResource, obj: Obj, now: str) -> list[FieldError]:
        """The strategy's ``PrepareForCreate`` (after metadata has its uid and name);
        returns the allocation errors (422 causes) it met."""
        gr = served.group_resource
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else None
        if "status" in served.resource.subresources and gr not in (
                "nodes", "customresourcedefinitions.apiextensions.k8s.io") and not served.custom:
            obj["status"] = {}
        if gr == "pods":
            obj["status"] = {"phase": "Pending", "qosClass": qos_class(spec or {})}
        elif gr == "namespaces":
            obj["spec"] = {**(spec or {}), "finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
        elif gr == "persistentvolumes":
            obj["status"] = {"phase": "Pending", "lastPhaseTransitionTime": now}
        elif gr == "jobs.batch" and spec is not None:
            _job_selector(obj, spec)
        elif gr == "services" and spec is not None:
            return self._allocate(spec, None)
        return []

    def prepare_update(self, served: ServedResource, old: Obj, new: Obj) -> list[FieldError]:
        """The strategy's ``PrepareForUpdate``: what an update may not drop; returns the
        allocation errors it met."""
        gr = served.group_resource
        if gr == "namespaces":
            old_spec = old.get("spec") or {}
            new["spec"] = {**(new.get("spec") or {}),
                           **({"finalizers": old_spec["finalizers"]}
                              if "finalizers" in old_spec else {})}
        elif gr == "services":
            spec, old_spec = new.get("spec"), old.get("spec")
            if isinstance(spec, dict) and isinstance(old_spec, dict):
                _keep_allocated(spec, old_spec)
                return self._allocate(spec, old_spec)
        return []

    # --- admission plugins ----------------------------------------------------------------------

    def _service_account(self, pod: Obj) -> None:
        spec = pod.get("spec")
        if not isinstance(spec, dict):
            return
        name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        spec["serviceAccountName"] = name
        spec["serviceAccount"] = name
        ns = (pod.get("metadata") or {}).get("namespace")
        sa = self.reader.get_object("serviceaccounts", ns, str(name))
        automount = spec.get("automountServiceAccountToken")
        if automount is None and sa is not None:
            automount = sa.get("automountServiceAccountToken")
        if automount is False:
            return
        containers = [c for key in ("initContainers", "containers")
                      for c in spec.get(key) or () if isinstance(c, dict)]
        if all(any(m.get("mountPath") == TOKEN_MOUNT for m in c.get("volumeMounts") or ()
                   if isinstance(m, dict)) for c in containers) and containers:
            return
        volume = "kube-api-access-" + "".join(self.rng.choice(_NAME_CHARS) for _ in range(5))
        spec["volumes"] = [*(spec.get("volumes") or ()), _token_volume(volume)]
        for c in containers:
            mounts = [m for m in c.get("volumeMounts") or () if isinstance(m, dict)]
            if any(m.get("mountPath") == TOKEN_MOUNT for m in mounts):
                continue
            c["volumeMounts"] = [*mounts, {"name": volume, "readOnly": True,
                                           "mountPath": TOKEN_MOUNT}]

    def _priority(self, resource: Resource, pod: Obj) -> None:
        spec = pod.get("spec")
        if not isinstance(spec, dict):
            return
        class_name = spec.get("priorityClassName")
        value, policy = 0, "PreemptLowerPriority"
        classes = list(self.reader.list_objects("priorityclasses.scheduling.k8s.io"))
        if class_name:
            if class_name in _SYSTEM_PRIORITIES:
                value = _SYSTEM_PRIORITIES[class_name]
            else:
                pc = next((c for c in classes
                           if (c.get("metadata") or {}).get("name") == class_name), None)
                if pc is None:
                    name = str((pod.get("metadata") or {}).get("name") or "")
                    raise _forbidden(resource, name,
                                     f"no PriorityClass with name {class_name} was found")
                value = int(pc.get("value") or 0)
                policy = str(pc.get("preemptionPolicy") or policy)
        else:
            default = next((c for c in classes if c.get("globalDefault")), None)
            if default is not None:
                spec["priorityClassName"] = (default.get("metadata") or {}).get("name")
                value = int(default.get("value") or 0)
                policy = str(default.get("preemptionPolicy") or policy)
        if spec.get("priority") is None:
            spec["priority"] = value
        if spec.get("preemptionPolicy") is None:
            spec["preemptionPolicy"] = policy

    def _default_storage_class(self, pvc: Obj) -> None:
        spec = pvc.get("spec")
        if not isinstance(spec, dict) or spec.get("storageClassName") is not None:
            return
        defaults = [c for c in self.reader.list_objects("storageclasses.storage.k8s.io")
                    if _annotated(c, _DEFAULT_SC) or _annotated(c, _DEFAULT_SC_BETA)]
        if defaults:
            newest = max(defaults, key=lambda c: str(
                (c.get("metadata") or {}).get("creationTimestamp") or ""))
            spec["storageClassName"] = (newest.get("metadata") or {}).get("name")

    def _default_ingress_class(self, ingress: Obj) -> None:
        spec = ingress.get("spec")
        if not isinstance(spec, dict) or spec.get("ingressClassName") is not None:
            return
        if ((ingress.get("metadata") or {}).get("annotations") or {}).get(
                "kubernetes.io/ingress.class"):
            return
        defaults = [c for c in self.reader.list_objects("ingressclasses.networking.k8s.io")
                    if _annotated(c, _DEFAULT_IC)]
        if defaults:
            newest = max(defaults, key=lambda c: str(
                (c.get("metadata") or {}).get("creationTimestamp") or ""))
            spec["ingressClassName"] = (newest.get("metadata") or {}).get("name")

    # --- services -------------------------------------------------------------------------------

    def _allocate(self, spec: Obj, old: Obj | None) -> list[FieldError]:
        stype = spec.get("type") or "ClusterIP"
        errors: list[FieldError] = []
        if stype == "ExternalName":
            return errors
        ip = spec.get("clusterIP") or ""
        ips = list(spec.get("clusterIPs") or ())
        if not ip and ips:
            ip = str(ips[0])
        if ip == "None":
            spec["clusterIP"], spec["clusterIPs"] = "None", ["None"]
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy",
                            "SingleStack" if spec.get("selector") else "RequireDualStack")
        else:
            if not ip:
                ip = self._free_ip()
            elif old is None or ip != old.get("clusterIP"):
                errors.extend(self._check_ip(ip))
            spec["clusterIP"], spec["clusterIPs"] = ip, [ip, *ips[1:]]
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
        if stype in ("NodePort", "LoadBalancer"):
            used = self._used_node_ports()
            for i, port in enumerate(spec.get("ports") or ()):
                if not isinstance(port, dict):
                    continue
                if port.get("nodePort"):
                    n = port["nodePort"]
                    if isinstance(n, int) and n not in NODE_PORTS:
                        errors.append(invalid(
                            f"spec.ports[{i}].nodePort", n,
                            "provided port is not in the valid range. The range of valid ports "
                            "is 30000-32767"))
                    continue
                port["nodePort"] = self._free(NODE_PORTS, used)
                used.add(port["nodePort"])
            if (stype == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"
                    and not spec.get("healthCheckNodePort")):
                spec["healthCheckNodePort"] = self._free(NODE_PORTS, used)
        return errors

    def _services(self) -> Iterable[Obj]:
        return (s.get("spec") or {} for s in self.reader.list_objects("services"))

    def _free_ip(self) -> str:
        used = {str(ip) for spec in self._services() for ip in spec.get("clusterIPs") or ()}
        size = SERVICE_CIDR.num_addresses
        static = min(max(16, size // 16), 256)
        for _ in range(64):
            offset = self.rng.randrange(static, size - 1)
            candidate = str(SERVICE_CIDR.network_address + offset)
            if candidate not in used:
                return candidate
        for offset in range(1, size - 1):
            candidate = str(SERVICE_CIDR.network_address + offset)
            if candidate not in used:
                return candidate
        raise ApiError({"kind": "Status", "apiVersion": "v1", "metadata": {},
                        "status": "Failure", "message": "Internal error occurred: failed to "
                        "allocate a serviceIP: range is full", "reason": "InternalError",
                        "code": 500}, 500)

    def _check_ip(self, ip: str) -> list[FieldError]:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return [invalid("spec.clusterIPs[0]", ip, "must be a valid IP address, (e.g. "
                            "10.9.8.7 or 2001:db8::ffff)")]
        if address not in SERVICE_CIDR or address in (SERVICE_CIDR.network_address,
                                                       SERVICE_CIDR.broadcast_address):
            return [invalid("spec.clusterIPs", go_strings([ip]),
                            f"failed to allocate IP {ip}: provided IP is not in the valid "
                            f"range. The range of valid IPs is {SERVICE_CIDR}")]
        used = {str(x) for spec in self._services() for x in spec.get("clusterIPs") or ()}
        if ip in used:
            return [invalid("spec.clusterIPs", go_strings([ip]),
                            f"failed to allocate IP {ip}: provided IP is already allocated")]
        return []

    def _used_node_ports(self) -> set[int]:
        used: set[int] = set()
        for spec in self._services():
            for port in spec.get("ports") or ():
                if isinstance(port, dict) and isinstance(port.get("nodePort"), int):
                    used.add(port["nodePort"])
            if isinstance(spec.get("healthCheckNodePort"), int):
                used.add(spec["healthCheckNodePort"])
        return used

    def _free(self, ports: range, used: set[int]) -> int:
        for _ in range(64):
            candidate = self.rng.choice(ports)
            if candidate not in used:
                return candidate
        return next(p for p in ports if p not in used)


def _keep_allocated(spec: Obj, old: Obj) -> None:
    """The service REST's ``patchAllocatedValues``: an update that leaves out the allocated
    cluster IPs, IP families and node ports keeps the old ones."""
    if (old.get("type") or "ClusterIP") != "ExternalName" and (
            spec.get("type") or "ClusterIP") != "ExternalName":
        if not spec.get("clusterIP") and old.get("clusterIP"):
            spec["clusterIP"] = old["clusterIP"]
        if not spec.get("clusterIPs") and old.get("clusterIPs") and (
                spec.get("clusterIP") == old.get("clusterIP")):
            spec["clusterIPs"] = list(old["clusterIPs"])
        for key in ("ipFamilies", "ipFamilyPolicy"):
            if not spec.get(key) and old.get(key):
                spec[key] = old[key]
    if (spec.get("type") in ("NodePort", "LoadBalancer")
            and old.get("type") in ("NodePort", "LoadBalancer")):
        old_ports = {(p.get("port"), p.get("protocol")): p.get("nodePort")
                     for p in old.get("ports") or () if isinstance(p, dict)}
        for port in spec.get("ports") or ():
            if isinstance(port, dict) and not port.get("nodePort"):
                found = old_ports.get((port.get("port"), port.get("protocol")))
                if found:
                    port["nodePort"] = found
        if not spec.get("healthCheckNodePort") and old.get("healthCheckNodePort"):
            spec["healthCheckNodePort"] = old["healthCheckNodePort"]


# --- helpers -------------------------------------------------------------------------------------


def _token_volume(name: str) -> Obj:
    return {"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt",
                       "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
            "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ]}}


def _default_tolerations(pod: Obj) -> None:
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    tolerations = [t for t in spec.get("tolerations") or () if isinstance(t, dict)]
    added = False
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if any(t.get("key") == key and t.get("effect") in ("NoExecute", None, "")
               for t in tolerations) or any(
                t.get("operator") == "Exists" and not t.get("key") and t.get("effect") in (
                    "NoExecute", None, "") for t in tolerations):
            continue
        tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                            "tolerationSeconds": 300})
        added = True
    if added:
        spec["tolerations"] = tolerations


def _not_ready_taint(node: Obj) -> None:
    spec = node.get("spec")
    if not isinstance(spec, dict):
        spec = {}
        node["spec"] = spec
    taints = [t for t in spec.get("taints") or () if isinstance(t, dict)]
    if not any(t.get("key") == "node.kubernetes.io/not-ready" for t in taints):
        spec["taints"] = [*taints, {"key": "node.kubernetes.io/not-ready",
                                    "effect": "NoSchedule"}]


def _job_selector(job: Obj, spec: Obj) -> None:
    if spec.get("manualSelector"):
        return
    meta = job.get("metadata") or {}
    uid, name = str(meta.get("uid") or ""), str(meta.get("name") or "")
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    tmpl = spec.get("template")
    if not isinstance(tmpl, dict):
        return
    tmeta = _dict(tmpl.get("metadata"))
    labels = dict(tmeta.get("labels") or {})
    labels.update({"batch.kubernetes.io/controller-uid": uid,
                   "batch.kubernetes.io/job-name": name,
                   "controller-uid": uid, "job-name": name})
    tmpl["metadata"] = {**tmeta, "labels": labels}


def _annotated(obj: Obj, annotation: str) -> bool:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(annotation) == "true"


def _forbidden(resource: Resource, name: str, message: str) -> ApiError:
    return forbidden(resource, name, message)


def qos_class(spec: Obj) -> str:
    """The pod's QoS class: ``Guaranteed``, ``Burstable`` or ``BestEffort``."""
    containers = [c for key in ("containers", "initContainers")
                  for c in spec.get(key) or () if isinstance(c, dict)]
    pod_res = spec.get("resources") if isinstance(spec.get("resources"), dict) else None
    sources = [c.get("resources") or {} for c in containers]
    if pod_res:
        sources = [pod_res]
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    any_set = False
    guaranteed = True
    for res in sources:
        req = {k: v for k, v in (res.get("requests") or {}).items() if k in ("cpu", "memory")}
        lim = {k: v for k, v in (res.get("limits") or {}).items() if k in ("cpu", "memory")}
        req = {k: v for k, v in req.items() if quantity_value(str(v)) != 0}
        lim = {k: v for k, v in lim.items() if quantity_value(str(v)) != 0}
        if req or lim:
            any_set = True
        if set(lim) != {"cpu", "memory"}:
            guaranteed = False
        for k, v in req.items():
            if quantity_value(str(v)) != quantity_value(str(lim.get(k, ""))):
                guaranteed = False
        requests.update(req)
        limits.update(lim)
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"
