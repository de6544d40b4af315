"""Per-kind table columns, as kube-apiserver's printers define them (``kubectl get``).

For the common built-in kinds the columns and cells are kube's: pods ``NAME READY STATUS
RESTARTS AGE`` (+ ``IP NODE NOMINATED NODE READINESS GATES`` at priority 1, shown by
``-o wide``), deployments ``NAME READY UP-TO-DATE AVAILABLE AGE``, and so on. Ages are
written as kube's ``HumanDuration`` writes them (``45s``, ``3m12s``, ``5h``, ``12d``).
Kinds without a printer here get kube's default (``Name``, ``Created At``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kcs.testing._labelselector import format_selector

__all__ = ["PRINTERS", "Column", "human_duration"]

Column = tuple[str, str, int]
"""``(name, type, priority)``."""
Cells = Callable[[dict[str, Any]], list[Any]]


_MINUTE, _HOUR, _DAY = 60, 3600, 86400
_YEAR = 365 * _DAY
_LADDER: tuple[tuple[int, int, str, int, str], ...] = (
    # (below this many seconds, print whole units of, named, and the rest in units of, named)
    (2 * _MINUTE, 1, "s", 0, ""),
    (10 * _MINUTE, _MINUTE, "m", 1, "s"),
    (3 * _HOUR, _MINUTE, "m", 0, ""),
    (8 * _HOUR, _HOUR, "h", _MINUTE, "m"),
    (48 * _HOUR, _HOUR, "h", 0, ""),
    (8 * _DAY, _DAY, "d", _HOUR, "h"),
    (2 * _YEAR, _DAY, "d", 0, ""),
    (8 * _YEAR, _YEAR, "y", _DAY, "d"),
)
_OLDER = (_YEAR, "y", 0, "")


def human_duration(seconds: float) -> str:
    """kube's ``duration.HumanDuration``: ``45s``, ``3m12s``, ``5h``, ``12d``, ``3y``; a
    rest of ``0`` is left out (``2m``, not ``2m0s``)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    unit, name, sub, sub_name = next((step[1:] for step in _LADDER if s < step[0]), _OLDER)
    whole = f"{s // unit}{name}"
    rest = (s % unit) // sub if sub else 0
    return f"{whole}{rest}{sub_name}" if rest else whole


def age_since(timestamp: str) -> str | None:
    """The age of an RFC 3339 UTC ``timestamp`` as kube prints it (``5m``); ``None`` if
    it does not parse."""
    try:
        at = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return human_duration((datetime.now(UTC) - at).total_seconds())


def _age(obj: dict[str, Any], field: str = "creationTimestamp") -> str:
    ts = (obj.get("metadata") or {}).get(field) if field == "creationTimestamp" else field
    return (age_since(str(ts)) if ts else None) or "<unknown>"


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("spec") or {}


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("status") or {}


def _pod(obj: dict[str, Any]) -> list[Any]:
    spec, status = _spec(obj), _status(obj)
    containers = spec.get("containers") or []
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    reason = status.get("reason") or status.get("phase") or ""
    for c in statuses:
        state = c.get("state") or {}
        waiting = (state.get("waiting") or {}).get("reason")
        terminated = (state.get("terminated") or {}).get("reason")
        if waiting or terminated:
            reason = waiting or terminated
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    gates = spec.get("readinessGates") or []
    return [_name(obj), f"{ready}/{len(containers)}", reason, restarts, _age(obj),
            status.get("podIP") or "<none>", spec.get("nodeName") or "<none>",
            status.get("nominatedNodeName") or "<none>",
            f"0/{len(gates)}" if gates else "<none>"]


def _containers(obj: dict[str, Any]) -> tuple[str, str]:
    cs = ((_spec(obj).get("template") or {}).get("spec") or {}).get("containers") or []
    return (",".join(str(c.get("name", "")) for c in cs),
            ",".join(str(c.get("image", "")) for c in cs))


def _selector(obj: dict[str, Any]) -> str:
    return format_selector(_spec(obj).get("selector")) or "<none>"


def _desired(obj: dict[str, Any]) -> int:
    r = _spec(obj).get("replicas")
    return 1 if r is None else int(r)


def _deployment(obj: dict[str, Any]) -> list[Any]:
    st = _status(obj)
    names, images = _containers(obj)
    return [_name(obj), f"{int(st.get('readyReplicas') or 0)}/{_desired(obj)}",
            int(st.get("updatedReplicas") or 0), int(st.get("availableReplicas") or 0),
            _age(obj), names, images, _selector(obj)]


def _replicaset(obj: dict[str, Any]) -> list[Any]:
    st = _status(obj)
    names, images = _containers(obj)
    return [_name(obj), _desired(obj), int(st.get("replicas") or 0),
            int(st.get("readyReplicas") or 0), _age(obj), names, images, _selector(obj)]


def _statefulset(obj: dict[str, Any]) -> list[Any]:
    names, images = _containers(obj)
    return [_name(obj), f"{int(_status(obj).get('readyReplicas') or 0)}/{_desired(obj)}",
            _age(obj), names, images]


def _daemonset(obj: dict[str, Any]) -> list[Any]:
    st = _status(obj)
    sel = ((_spec(obj).get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
    names, images = _containers(obj)
    return [_name(obj), int(st.get("desiredNumberScheduled") or 0),
            int(st.get("currentNumberScheduled") or 0), int(st.get("numberReady") or 0),
            int(st.get("updatedNumberScheduled") or 0), int(st.get("numberAvailable") or 0),
            ",".join(f"{k}={v}" for k, v in sorted(sel.items())) or "<none>", _age(obj),
            names, images, _selector(obj)]


def _service(obj: dict[str, Any]) -> list[Any]:
    spec = _spec(obj)
    ports = ",".join(
        f"{p.get('port')}{':' + str(p['nodePort']) if p.get('nodePort') else ''}/"
        f"{p.get('protocol') or 'TCP'}" for p in spec.get("ports") or ()) or "<none>"
    ext = ",".join(spec.get("externalIPs") or ()) or (
        "<pending>" if spec.get("type") == "LoadBalancer" else "<none>")
    sel = spec.get("selector") or {}
    return [_name(obj), spec.get("type") or "ClusterIP", spec.get("clusterIP") or "<none>",
            ext, ports, _age(obj),
            ",".join(f"{k}={v}" for k, v in sorted(sel.items())) or "<none>"]


def _data_count(obj: dict[str, Any]) -> int:
    return len(obj.get("data") or {}) + len(obj.get("binaryData") or {})


def _node(obj: dict[str, Any]) -> list[Any]:
    conds = {c.get("type"): c.get("status") for c in _status(obj).get("conditions") or ()}
    state = "Ready" if conds.get("Ready") == "True" else (
        "NotReady" if "Ready" in conds else "Unknown")
    if _spec(obj).get("unschedulable"):
        state += ",SchedulingDisabled"
    labels = (obj.get("metadata") or {}).get("labels") or {}
    roles = sorted(k.split("/", 1)[1] for k in labels
                   if k.startswith("node-role.kubernetes.io/") and "/" in k)
    version = (_status(obj).get("nodeInfo") or {}).get("kubeletVersion") or ""
    return [_name(obj), state, ",".join(roles) or "<none>", _age(obj), version]


def _event(obj: dict[str, Any]) -> list[Any]:
    inv = obj.get("involvedObject") or obj.get("regarding") or {}
    last = obj.get("lastTimestamp") or obj.get("eventTime") or \
        (obj.get("metadata") or {}).get("creationTimestamp")
    what = f"{str(inv.get('kind', '')).lower()}/{inv.get('name', '')}"
    return [_age(obj, str(last)) if last else "<unknown>", obj.get("type", ""),
            obj.get("reason", ""), what, obj.get("message") or obj.get("note") or ""]


def _binding(obj: dict[str, Any]) -> list[Any]:
    ref = obj.get("roleRef") or {}
    subjects = obj.get("subjects") or []

    def of(kind: str) -> str:
        return ",".join(
            (f"{s.get('namespace')}/{s.get('name')}" if kind == "ServiceAccount"
             else str(s.get("name"))) for s in subjects if s.get("kind") == kind)

    return [_name(obj), f"{ref.get('kind')}/{ref.get('name')}", _age(obj), of("User"),
            of("Group"), of("ServiceAccount")]


def _job(obj: dict[str, Any]) -> list[Any]:
    spec, st = _spec(obj), _status(obj)
    conds = {c.get("type"): c.get("status") for c in st.get("conditions") or ()}
    state = ("Complete" if conds.get("Complete") == "True" else
             "Failed" if conds.get("Failed") == "True" else
             "Suspended" if spec.get("suspend") else "Running")
    completions = spec.get("completions")
    done = f"{int(st.get('succeeded') or 0)}/{completions if completions is not None else 1}"
    names, images = _containers(obj)
    return [_name(obj), state, done, "", _age(obj), names, images, _selector(obj)]


def _cronjob(obj: dict[str, Any]) -> list[Any]:
    spec, st = _spec(obj), _status(obj)
    last = st.get("lastScheduleTime")
    return [_name(obj), spec.get("schedule", ""), spec.get("timeZone") or "<none>",
            str(bool(spec.get("suspend"))), len(st.get("active") or ()),
            _age(obj, str(last)) if last else "<none>", _age(obj)]


def _pdb(obj: dict[str, Any]) -> list[Any]:
    spec = _spec(obj)
    return [_name(obj), spec.get("minAvailable", "N/A") if "minAvailable" in spec else "N/A",
            spec.get("maxUnavailable") if "maxUnavailable" in spec else "N/A",
            int(_status(obj).get("disruptionsAllowed") or 0), _age(obj)]


def _simple(*extra: Callable[[dict[str, Any]], Any]) -> Cells:
    return lambda obj: [_name(obj), *(f(obj) for f in extra), _age(obj)]


_S, _I = "string", "integer"
PRINTERS: dict[str, tuple[list[Column], Cells]] = {
    "pods": ([("Name", _S, 0), ("Ready", _S, 0), ("Status", _S, 0), ("Restarts", _S, 0),
              ("Age", _S, 0), ("IP", _S, 1), ("Node", _S, 1), ("Nominated Node", _S, 1),
              ("Readiness Gates", _S, 1)], _pod),
    "deployments.apps": ([("Name", _S, 0), ("Ready", _S, 0), ("Up-to-date", _I, 0),
                          ("Available", _I, 0), ("Age", _S, 0), ("Containers", _S, 1),
                          ("Images", _S, 1), ("Selector", _S, 1)], _deployment),
    "replicasets.apps": ([("Name", _S, 0), ("Desired", _I, 0), ("Current", _I, 0),
                          ("Ready", _I, 0), ("Age", _S, 0), ("Containers", _S, 1),
                          ("Images", _S, 1), ("Selector", _S, 1)], _replicaset),
    "statefulsets.apps": ([("Name", _S, 0), ("Ready", _S, 0), ("Age", _S, 0),
                           ("Containers", _S, 1), ("Images", _S, 1)], _statefulset),
    "daemonsets.apps": ([("Name", _S, 0), ("Desired", _I, 0), ("Current", _I, 0),
                         ("Ready", _I, 0), ("Up-to-date", _I, 0), ("Available", _I, 0),
                         ("Node Selector", _S, 0), ("Age", _S, 0), ("Containers", _S, 1),
                         ("Images", _S, 1), ("Selector", _S, 1)], _daemonset),
    "services": ([("Name", _S, 0), ("Type", _S, 0), ("Cluster-IP", _S, 0),
                  ("External-IP", _S, 0), ("Port(s)", _S, 0), ("Age", _S, 0),
                  ("Selector", _S, 1)], _service),
    "configmaps": ([("Name", _S, 0), ("Data", _I, 0), ("Age", _S, 0)], _simple(_data_count)),
    "secrets": ([("Name", _S, 0), ("Type", _S, 0), ("Data", _I, 0), ("Age", _S, 0)],
                _simple(lambda o: o.get("type", ""), _data_count)),
    "serviceaccounts": ([("Name", _S, 0), ("Secrets", _I, 0), ("Age", _S, 0)],
                        _simple(lambda o: len(o.get("secrets") or ()))),
    "namespaces": ([("Name", _S, 0), ("Status", _S, 0), ("Age", _S, 0)],
                   _simple(lambda o: _status(o).get("phase", ""))),
    "nodes": ([("Name", _S, 0), ("Status", _S, 0), ("Roles", _S, 0), ("Age", _S, 0),
               ("Version", _S, 0)], _node),
    "events": ([("Last Seen", _S, 0), ("Type", _S, 0), ("Reason", _S, 0), ("Object", _S, 0),
                ("Message", _S, 0)], _event),
    "leases.coordination.k8s.io": ([("Name", _S, 0), ("Holder", _S, 0), ("Age", _S, 0)],
                                   _simple(lambda o: _spec(o).get("holderIdentity", ""))),
    "endpoints": ([("Name", _S, 0), ("Endpoints", _S, 0), ("Age", _S, 0)],
                  _simple(lambda o: "<none>")),
    "rolebindings.rbac.authorization.k8s.io": (
        [("Name", _S, 0), ("Role", _S, 0), ("Age", _S, 0), ("Users", _S, 1),
         ("Groups", _S, 1), ("ServiceAccounts", _S, 1)], _binding),
    "clusterrolebindings.rbac.authorization.k8s.io": (
        [("Name", _S, 0), ("Role", _S, 0), ("Age", _S, 0), ("Users", _S, 1),
         ("Groups", _S, 1), ("ServiceAccounts", _S, 1)], _binding),
    "jobs.batch": ([("Name", _S, 0), ("Status", _S, 0), ("Completions", _S, 0),
                    ("Duration", _S, 0), ("Age", _S, 0), ("Containers", _S, 1),
                    ("Images", _S, 1), ("Selector", _S, 1)], _job),
    "cronjobs.batch": ([("Name", _S, 0), ("Schedule", _S, 0), ("Timezone", _S, 0),
                        ("Suspend", _S, 0), ("Active", _I, 0), ("Last Schedule", _S, 0),
                        ("Age", _S, 0)], _cronjob),
    "poddisruptionbudgets.policy": ([("Name", _S, 0), ("Min Available", _S, 0),
                                     ("Max Unavailable", _S, 0),
                                     ("Allowed Disruptions", _I, 0), ("Age", _S, 0)], _pdb),
}
"""group-resource -> (columns, cells of one object)."""
