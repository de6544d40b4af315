"""The subresources beyond ``/status``: scale, pods/log, pods/eviction, pods/binding and
serviceaccounts/token, as kube-apiserver serves them.

* ``/scale`` (``autoscaling/v1`` Scale) of deployments, replicasets, statefulsets,
  replicationcontrollers and custom resources whose CRD declares ``subresources.scale``:
  GET answers the Scale of the object; PUT and PATCH (merge, JSON or strategic) change
  ``spec.replicas`` of the object through an update (a new resourceVersion and generation,
  a MODIFIED event); a stale ``metadata.resourceVersion`` is 409 Conflict.
* ``pods/log``: the text tests append with :meth:`PodLogs.append`
  (``FakeApiServer.append_log``); ``container`` (required when the pod has several),
  ``tailLines``, ``limitBytes``, ``timestamps`` and ``follow`` (streams new lines until the
  pod is deleted or the client goes away).
* ``pods/eviction`` (``policy/v1`` Eviction): a pod that is Pending, Succeeded, Failed or
  already deleting is deleted at once; otherwise the PodDisruptionBudgets of its namespace
  whose selector matches it decide, as kube-apiserver's eviction code does: none deletes,
  more than one is 500, one whose status is not yet observed is 429 ("still being
  processed"), one allowing no disruption is 429 with a ``DisruptionBudget`` cause, else
  its ``disruptionsAllowed`` is decremented (the pod noted in ``disruptedPods``) and the pod
  deleted. No disruption controller runs: a test sets the budget's status.
* ``pods/binding``: assigns ``spec.nodeName`` (409 when already assigned).
* ``serviceaccounts/token`` (TokenRequest): a token for that ServiceAccount (see
  :mod:`._authn`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from kcs.core import ApiError, Conflict, LabelSelector, SelectorError, status_body
from kcs.testing._authn import TokenIssuer, UserInfo
from kcs.testing._labelselector import format_selector
from kcs.testing._patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from kcs.testing._registry import ServedResource
from kcs.testing._requestinfo import RequestInfo
from kcs.testing._responses import json_response
from kcs.testing._status import bad_request, invalid, method_not_allowed
from kcs.testing._verbs import JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, Verbs
from kcs.testing._watch import ClientInfo

if TYPE_CHECKING:
    from kcs.testing._handlers import ApiHandler, Subresource

__all__ = ["SCALE_KIND", "PodLogs", "Subresources"]

SCALE_KIND = {"kind": "Scale", "group": "autoscaling", "version": "v1"}
_SCALABLE = frozenset({"deployments.apps", "replicasets.apps", "statefulsets.apps",
                       "replicationcontrollers"})
_PDB = ("policy", "v1", "poddisruptionbudgets")


def _get(obj: Any, path: str) -> Any:
    cur = obj
    for p in path.lstrip(".").split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    return cur


def _set(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    keys = path.lstrip(".").split(".")
    out = dict(obj)
    cur = out
    for k in keys[:-1]:
        nxt = dict(cur.get(k) or {})
        cur[k] = nxt
        cur = nxt
    cur[keys[-1]] = value
    return out


class PodLogs:
    """The logs of pods' containers: lines with their time, appended by tests."""

    def __init__(self) -> None:
        self._lines: dict[tuple[str, str, str], list[tuple[float, str]]] = {}
        self._changed = asyncio.Event()

    def append(self, namespace: str, pod: str, container: str, text: str) -> None:
        """Append ``text`` (one or more lines) to a container's log."""
        now = time.time()
        lines = self._lines.setdefault((namespace, pod, container), [])
        for line in text.splitlines():
            lines.append((now, line))
        self._changed.set()
        self._changed = asyncio.Event()

    def lines(self, namespace: str, pod: str, container: str) -> list[tuple[float, str]]:
        """The lines logged so far."""
        return list(self._lines.get((namespace, pod, container), ()))

    def forget(self, namespace: str, pod: str) -> None:
        """Drop a pod's logs (it was deleted)."""
        for key in [k for k in self._lines if k[:2] == (namespace, pod)]:
            del self._lines[key]

    async def changed(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait (up to ``timeout``) for any log to grow."""
        ev = self._changed
        try:
            async with asyncio.timeout(timeout):
                await ev.wait()
        except TimeoutError:
            pass


def _render(line: tuple[float, str], timestamps: bool) -> bytes:
    if not timestamps:
        return line[1].encode() + b"\n"
    stamp = datetime.fromtimestamp(line[0], UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{stamp} {line[1]}\n".encode()


def _int_param(request: web.BaseRequest, name: str) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise bad_request(f"invalid value for {name}: {value!r}") from None


class Subresources:
    """Serves the subresources of the module doc for one server."""

    def __init__(self, verbs: Verbs, issuer: TokenIssuer, logs: PodLogs,
                 handler: Callable[[], ApiHandler]) -> None:
        self.verbs = verbs
        self.issuer = issuer
        self.logs = logs
        self._handler = handler

    # --- which ---------------------------------------------------------------------------

    def names(self, served: ServedResource) -> dict[str, dict[str, Any]]:
        """The extra subresources of ``served`` with their discovery entries."""
        gr = served.group_resource
        out: dict[str, dict[str, Any]] = {}
        if gr in _SCALABLE or "scale" in served.resource.subresources:
            out["scale"] = {**SCALE_KIND, "verbs": ["get", "patch", "update"]}
        if gr == "pods":
            out["log"] = {"kind": "Pod", "verbs": ["get"]}
            out["eviction"] = {"kind": "Eviction", "group": "policy", "version": "v1",
                               "verbs": ["create"]}
            out["binding"] = {"kind": "Binding", "verbs": ["create"]}
        if gr == "serviceaccounts":
            out["token"] = {"kind": "TokenRequest", "group": "authentication.k8s.io",
                            "version": "v1", "verbs": ["create"]}
        return out

    def lookup(self, served: ServedResource, name: str) -> Subresource | None:
        """The handler of subresource ``name`` of ``served``, or ``None``."""
        if name not in self.names(served):
            return None
        handlers: dict[str, Subresource] = {"scale": self._scale, "log": self._log,
                                            "eviction": self._eviction,
                                            "binding": self._binding, "token": self._token}
        return handlers[name]

    # --- scale ---------------------------------------------------------------------------

    def _paths(self, s: ServedResource) -> tuple[str, str, str]:
        if s.scale is not None:
            return s.scale
        return "spec.replicas", "status.replicas", ""

    def scale_of(self, s: ServedResource, obj: dict[str, Any], rv: int) -> dict[str, Any]:
        """The ``autoscaling/v1`` Scale of ``obj``."""
        spec_path, status_path, selector_path = self._paths(s)
        meta = obj.get("metadata") or {}
        spec_replicas = _get(obj, spec_path)
        if spec_replicas is None:
            spec_replicas = 0 if s.custom else 1
        if s.custom:
            selector = str(_get(obj, selector_path) or "") if selector_path else ""
        else:
            selector = format_selector((obj.get("spec") or {}).get("selector"))
        status: dict[str, Any] = {"replicas": int(_get(obj, status_path) or 0)}
        if selector:
            status["selector"] = selector
        out_meta = {k: meta[k] for k in ("name", "namespace", "uid", "creationTimestamp")
                    if k in meta}
        out_meta["resourceVersion"] = str(rv)
        spec = {"replicas": spec_replicas} if spec_replicas else {}
        return {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": out_meta,
                "spec": spec, "status": status}

    async def _scale(self, request: web.BaseRequest, info: RequestInfo, s: ServedResource,
                     client: ClientInfo, user: UserInfo) -> web.StreamResponse:
        ns = info.namespace or None
        cur = self.verbs.get(s, ns, info.name)
        scale = self.scale_of(s, cur.obj, cur.rv)
        if info.verb == "get":
            return json_response(scale)
        h = self._handler()
        if info.verb == "update":
            body = await h.body(request)
        elif info.verb == "patch":
            body = self._patch(request.content_type, await h.read(request), scale, info.name)
        else:
            raise method_not_allowed(info.verb, s.resource)
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a Scale object")
        meta = body.get("metadata") or {}
        if meta.get("name") not in (None, info.name):
            raise bad_request(f"the name of the object ({meta.get('name')}) does not match the "
                              f"name on the URL ({info.name})")
        rv = meta.get("resourceVersion")
        if rv and str(rv) != str(cur.rv):
            raise Conflict(status_body(
                409, "Conflict", f'Operation cannot be fulfilled on {_qualified(s)} '
                f'"{info.name}": the object has been modified; please apply your changes to '
                "the latest version and try again", name=info.name,
                group=s.resource.group or None, kind=s.resource.plural))
        replicas = (body.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or replicas < 0:
            raise invalid(_SCALE_RESOURCE, info.name, [(
                "FieldValueInvalid", "spec.replicas",
                f"Invalid value: {replicas}: must be greater than or equal to 0")])
        spec_path = self._paths(s)[0]
        new = _set(orjson.loads(cur.raw), spec_path, replicas)
        new["metadata"]["resourceVersion"] = str(cur.rv)
        updated = self.verbs.update(s, ns, info.name, new, client, subresource="scale")
        return json_response(self.scale_of(s, updated.obj, updated.rv))

    @staticmethod
    def _patch(ctype: str, data: bytes, scale: dict[str, Any], name: str) -> Any:
        try:
            patch = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise bad_request(f"error decoding patch: {e}") from None
        try:
            if ctype == JSON_PATCH:
                return json_patch(scale, patch)
            if ctype == MERGE_PATCH and isinstance(patch, dict):
                return merge_patch(scale, patch)
            if ctype == STRATEGIC_PATCH and isinstance(patch, dict):
                return strategic_merge_patch(scale, patch)
        except PatchError as e:
            raise bad_request(str(e)) from None
        raise ApiError(status_body(415, "UnsupportedMediaType", "the body of the request was "
                                   "in an unknown format - accepted media types include: "
                                   f"{JSON_PATCH}, {MERGE_PATCH}, {STRATEGIC_PATCH}"), 415)

    # --- pods/log ------------------------------------------------------------------------

    async def _log(self, request: web.BaseRequest, info: RequestInfo, s: ServedResource,
                   client: ClientInfo, user: UserInfo) -> web.StreamResponse:
        if info.verb != "get":
            raise method_not_allowed(info.verb, s.resource)
        pod = self.verbs.get(s, info.namespace, info.name).obj
        spec = pod.get("spec") or {}
        containers = [str(c.get("name")) for c in spec.get("containers") or ()]
        others = [str(c.get("name")) for key in ("initContainers", "ephemeralContainers")
                  for c in spec.get(key) or ()]
        container = request.query.get("container", "")
        if not container:
            if len(containers) != 1:
                raise bad_request(f"a container name must be specified for pod {info.name}, "
                                  f"choose one of: [{' '.join(containers)}]")
            container = containers[0]
        elif container not in containers + others:
            raise bad_request(f"container {container} is not valid for pod {info.name}")
        timestamps = request.query.get("timestamps") in ("1", "true", "True")
        tail = _int_param(request, "tailLines")
        limit = _int_param(request, "limitBytes")
        lines = self.logs.lines(info.namespace, info.name, container)
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        data = b"".join(_render(line, timestamps) for line in lines)
        if limit is not None:
            data = data[:limit]
        follow = request.query.get("follow") in ("1", "true", "True")
        if not follow:
            return web.Response(body=data, content_type="text/plain")
        resp = web.StreamResponse(status=200)
        resp.content_type = "text/plain"
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        await resp.write(data)
        sent = len(self.logs.lines(info.namespace, info.name, container))
        uid = (pod.get("metadata") or {}).get("uid")
        while True:
            await self.logs.changed(0.5)
            now = self.verbs.rs(s).get(f"{info.namespace}/{info.name}")
            if now is None or (now.obj.get("metadata") or {}).get("uid") != uid:
                break
            fresh = self.logs.lines(info.namespace, info.name, container)[sent:]
            sent += len(fresh)
            if fresh:
                await resp.write(b"".join(_render(line, timestamps) for line in fresh))
        await resp.write_eof()
        return resp

    # --- pods/binding --------------------------------------------------------------------

    async def _binding(self, request: web.BaseRequest, info: RequestInfo, s: ServedResource,
                       client: ClientInfo, user: UserInfo) -> web.StreamResponse:
        if info.verb != "create":
            raise method_not_allowed(info.verb, s.resource)
        body = await self._handler().body(request)
        target = (body or {}).get("target") or {}
        node = target.get("name")
        if not node:
            raise invalid(s.resource, info.name, [("FieldValueRequired", "target.name",
                                                    "Required value")])
        cur = self.verbs.get(s, info.namespace, info.name)
        meta = cur.obj.get("metadata") or {}
        spec = cur.obj.get("spec") or {}
        problem = ""
        if meta.get("deletionTimestamp"):
            problem = f"pod {info.name} is being deleted, cannot be assigned to a host"
        elif spec.get("nodeName"):
            problem = f'pod {info.name} is already assigned to node "{spec["nodeName"]}"'
        if problem:
            raise Conflict(status_body(409, "Conflict", f'Operation cannot be fulfilled on '
                                       f'pods/binding "{info.name}": {problem}',
                                       name=info.name, kind="pods/binding"))
        new = orjson.loads(cur.raw)
        new["spec"] = {**spec, "nodeName": node}
        new["metadata"]["resourceVersion"] = str(cur.rv)
        status = dict(new.get("status") or {})
        conds = [c for c in status.get("conditions") or () if c.get("type") != "PodScheduled"]
        conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                      "lastTransitionTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})
        status["conditions"] = conds
        # kube's binding REST sets spec.nodeName itself, outside pod-update validation
        # (which forbids changing it through an update)
        self.verbs.update(s, info.namespace, info.name, new, client, subresource="binding",
                          unchecked=True)
        cur2 = self.verbs.get(s, info.namespace, info.name)
        with_status = orjson.loads(cur2.raw)
        with_status["status"] = status
        self.verbs.update(s, info.namespace, info.name, with_status, client,
                          subresource="status")
        return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Success", "code": 201}, 201)

    # --- pods/eviction -------------------------------------------------------------------

    async def _eviction(self, request: web.BaseRequest, info: RequestInfo, s: ServedResource,
                        client: ClientInfo, user: UserInfo) -> web.StreamResponse:
        if info.verb != "create":
            raise method_not_allowed(info.verb, s.resource)
        body = await self._handler().body(request)
        if not isinstance(body, dict):
            raise bad_request("not a Eviction object")
        if (body.get("metadata") or {}).get("name") != info.name:
            raise bad_request("name in URL does not match name in Eviction object")
        options = body.get("deleteOptions")
        dry_run = bool(request.query.getall("dryRun", [])) or bool(
            (options or {}).get("dryRun"))
        ns = info.namespace
        pod = self.verbs.get(s, ns, info.name).obj
        success = json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                 "status": "Success", "code": 201}, 201)
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed", "Pending", None) or (
                (pod.get("metadata") or {}).get("deletionTimestamp")):
            self.verbs.delete(s, ns, info.name, options, client, dry_run=dry_run)
            return success
        budgets = self._budgets(ns, (pod.get("metadata") or {}).get("labels") or {})
        if len(budgets) > 1:
            return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                  "status": "Failure", "message": "This pod has more than one "
                                  "PodDisruptionBudget, which the eviction subresource does "
                                  "not support.", "code": 500}, 500)
        if budgets:
            self._check_and_decrement(budgets[0], info.name, client, dry_run)
        self.verbs.delete(s, ns, info.name, options, client, dry_run=dry_run)
        return success

    def _budgets(self, ns: str, labels: dict[str, str]) -> list[tuple[ServedResource, Any]]:
        pdbs = self.verbs.registry.lookup(*_PDB)
        if pdbs is None:
            return []
        out = []
        for so in self.verbs.rs(pdbs).view(self.verbs.store.revision, ns):
            selector = (so.obj.get("spec") or {}).get("selector")
            text = format_selector(selector) if isinstance(selector, dict) else ""
            if not text or text == "<none>":
                continue
            try:
                if LabelSelector.parse(text).matches(labels):
                    out.append((pdbs, so))
            except SelectorError:
                continue
        return out

    def _check_and_decrement(self, found: tuple[ServedResource, Any], pod: str,
                             client: ClientInfo, dry_run: bool) -> None:
        pdbs, so = found
        obj = so.obj
        meta = obj.get("metadata") or {}
        status = obj.get("status") or {}
        name = str(meta.get("name"))
        message = "Cannot evict pod as it would violate the pod's disruption budget."
        if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
            raise _too_many(message, f"The disruption budget {name} is still being processed "
                            "by the server.", 10)
        allowed = int(status.get("disruptionsAllowed") or 0)
        if allowed < 0:
            raise ApiError(status_body(403, "Forbidden", f'poddisruptionbudget.policy "{name}" '
                                       "is forbidden: pdb disruptions allowed is negative",
                                       name=name, group="policy", kind="poddisruptionbudget"),
                           403)
        if allowed == 0:
            raise _too_many(message, f"The disruption budget {name} needs "
                            f"{int(status.get('desiredHealthy') or 0)} healthy pods and has "
                            f"{int(status.get('currentHealthy') or 0)} currently", 0)
        if dry_run:
            return
        new = orjson.loads(so.raw)
        new_status = dict(new.get("status") or {})
        new_status["disruptionsAllowed"] = allowed - 1
        disrupted = dict(new_status.get("disruptedPods") or {})
        disrupted[pod] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        new_status["disruptedPods"] = disrupted
        new["status"] = new_status
        self.verbs.update(pdbs, meta.get("namespace"), name, new, client, subresource="status")

    # --- serviceaccounts/token -----------------------------------------------------------

    async def _token(self, request: web.BaseRequest, info: RequestInfo, s: ServedResource,
                     client: ClientInfo, user: UserInfo) -> web.StreamResponse:
        if info.verb != "create":
            raise method_not_allowed(info.verb, s.resource)
        body = await self._handler().body(request)
        spec = (body or {}).get("spec") or {}
        sa = self.verbs.get(s, info.namespace, info.name).obj
        seconds = int(spec.get("expirationSeconds") or 3600)
        if seconds < 600:
            raise invalid(_TOKEN_RESOURCE, info.name, [(
                "FieldValueInvalid", "spec.expirationSeconds",
                f"Invalid value: {seconds}: may not specify a duration less than 10 minutes")])
        audiences = tuple(spec.get("audiences") or ()) or ("https://kubernetes.default.svc."
                                                            "cluster.local",)
        issued = self.issuer.issue(info.namespace, info.name,
                                   str((sa.get("metadata") or {}).get("uid")),
                                   audiences=audiences, expiration_seconds=seconds,
                                   bound=spec.get("boundObjectRef"))
        expires = datetime.fromtimestamp(issued.expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return json_response({
            "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": info.name, "namespace": info.namespace,
                         "creationTimestamp": now},
            "spec": {**spec, "audiences": list(audiences), "expirationSeconds": seconds,
                     "boundObjectRef": spec.get("boundObjectRef")},
            "status": {"token": issued.token, "expirationTimestamp": expires},
        }, 201)


def _too_many(message: str, cause: str, retry_after: int) -> ApiError:
    body = status_body(429, "TooManyRequests", message,
                       causes=[{"reason": "DisruptionBudget", "message": cause}],
                       retry_after_seconds=retry_after or None)
    return ApiError(body, 429)


def _qualified(s: ServedResource) -> str:
    r = s.resource
    return f"{r.plural}.{r.group}" if r.group else r.plural


from kcs.core import Resource  # noqa: E402

_SCALE_RESOURCE = Resource("autoscaling", "v1", "scales", "Scale", True)
_TOKEN_RESOURCE = Resource("authentication.k8s.io", "v1", "tokenrequests", "TokenRequest", True)
