"""The control channel: fault injection and inspection over HTTP, under ``/_fake/``.

It exists so that a server running in another process (:class:`~kcs.testing.ApiServerProcess`)
can be driven like an in-process one. JSON in, JSON out; errors are Status objects. The
channel is exempt from the bearer token, from partitions and from injected faults, and the
server only listens on loopback. Endpoints (``GET`` reads, ``POST`` acts):

==========================================  ===================================================
``GET  /_fake/state``                       revision, open watches, in-flight requests, counts
``GET  /_fake/counts``                      ``faults.counts``
``GET  /_fake/writes?since=N``              the write log from position N
``GET  /_fake/requests``                    in-flight and client-abandoned requests
``GET  /_fake/watchers?count=N&timeout=S``  wait until N watches are open (``resource=`` too)
``POST /_fake/compact``                     compact the history
``POST /_fake/restart``                     ``{"downtime": s, "compact": bool}``
``POST /_fake/faults/delay``                ``{"seconds", "jitter", "verbs", "seed"}``
``POST /_fake/faults/fail``                 ``{"code", "share", "verbs", "retry_after",
                                            "times", "seed"}``
``POST /_fake/faults/drop-watches``         ``{"user_agent"}`` -> ``{"dropped": n}``
``POST /_fake/faults/drop-watches-every``   ``{"events": n | null}``
``POST /_fake/faults/stall`` / ``unstall``
``POST /_fake/faults/partition``            ``{"user_agent", "token", "mode"}``
``POST /_fake/faults/heal``
``POST /_fake/faults/clear``                remove every fault in force
``POST /_fake/resources``                   register a custom resource (``Resource`` fields)
``POST /_fake/seed``                        ``{"resource": "pods", "objects": [...]}``
``POST /_fake/touch``                       ``{"resource": "pods", "keys": [...] | null,
                                            "times": n}``
``POST /_fake/tokens``                      ``{"namespace", "service_account"}`` ->
                                            ``{"token"}`` (a service-account token)
``POST /_fake/logs``                        ``{"namespace", "pod", "container", "text"}``
``GET  /_fake/controllers``                 enabled controllers, busy, errors, node agent modes
``GET  /_fake/controllers/idle?timeout=S``  wait until the controllers have nothing to do
``GET  /_fake/node-agent``                  the node agent's modes and terminating pods
``POST /_fake/node-agent``                  ``{"mode", "seconds", "node"}``: how pods stop
``POST /_fake/node-agent/confirm``          ``{"namespace", "name"}`` -> ``{"confirmed": bool}``
==========================================  ===================================================
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson
from aiohttp import web

from kcs.core import ApiError, Resource
from kcs.testing._accounting import RequestLog, WriteLog
from kcs.testing._cluster import ClusterControllers
from kcs.testing._faults import Faults
from kcs.testing._kubelet import NodeAgent
from kcs.testing._status import bad_request, method_not_allowed, not_found
from kcs.testing._watch import WatchHub

__all__ = ["ControlChannel", "ControlTarget"]


class ControlTarget(Protocol):
    """What the control channel drives: a :class:`~kcs.testing.FakeApiServer` (a protocol,
    so that this module does not import the server that imports it)."""

    faults: Faults
    watches: WatchHub
    writes: WriteLog
    requests: RequestLog
    controllers: ClusterControllers
    node_agent: NodeAgent

    @property
    def revision(self) -> int: ...
    def compact(self) -> int: ...
    async def restart(self, downtime: float = 0.0, *, compact: bool = False) -> None: ...
    async def wait_for_watchers(self, count: int = 1,
                                resource: Resource | str | None = None) -> None: ...
    def register(self, resource: Resource, *, storage_version: str | None = None,
                 selectable_fields: Any = (), printer_columns: Any = ()) -> None: ...
    def seed(self, resource: Resource | str, objects: Any) -> int: ...
    def touch(self, resource: Resource | str, keys: Any = None, *, times: int = 1) -> int: ...
    def issue_token(self, namespace: str, service_account: str, *, audiences: Any = (),
                    expiration_seconds: int = 3600) -> str: ...
    def append_log(self, pod: str, text: str, namespace: str = "default",
                   container: str | None = None) -> None: ...

Action = Callable[[dict[str, Any]], Awaitable[Any]]


def _resp(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(value), status=status, content_type="application/json")


class ControlChannel:
    """Serves ``/_fake/...`` for one :class:`~kcs.testing.FakeApiServer`."""

    def __init__(self, api: ControlTarget) -> None:
        self.api = api
        self._tasks: set[asyncio.Task[None]] = set()
        f = api.faults
        self._get: dict[str, Action] = {
            "state": self._state,
            "counts": self._counts,
            "writes": self._writes,
            "requests": self._requests,
            "watchers": self._watchers,
            "controllers": self._controllers,
            "controllers/idle": self._controllers_idle,
            "node-agent": self._node_agent,
        }
        self._post: dict[str, Action] = {
            "compact": self._compact,
            "faults/delay": lambda b: _call(f.delay, b, "seconds", "verbs", "jitter", "seed"),
            "faults/fail": lambda b: _call(f.fail, b, "code", "share", "verbs", "retry_after",
                                           "times", "seed"),
            "faults/drop-watches": self._drop,
            "faults/drop-watches-every": lambda b: _call(f.drop_watches_every, b, "events"),
            "faults/stall": lambda b: _call(f.stall, b),
            "faults/unstall": lambda b: _call(f.unstall, b),
            "faults/partition": lambda b: _call(f.partition, b, "user_agent", "token", "mode"),
            "faults/heal": lambda b: _call(f.heal, b),
            "faults/clear": lambda b: _call(f.clear, b),
            "resources": self._register,
            "seed": self._seed,
            "touch": self._touch,
            "tokens": self._tokens,
            "logs": self._logs,
            "node-agent": self._node_agent_mode,
            "node-agent/confirm": self._node_agent_confirm,
        }

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer one control request."""
        name = request.path[len("/_fake/"):].strip("/")
        try:
            if request.method == "POST" and name == "restart":
                return await self._restart(request)
            table = self._get if request.method == "GET" else self._post
            action = table.get(name)
            if action is None:
                if name in self._get or name in self._post:
                    raise method_not_allowed(request.method, None)
                raise not_found(None, name, plural="_fake")
            if request.method == "GET":
                body: dict[str, Any] = dict(request.query)
            else:
                data = await request.read()
                body = orjson.loads(data) if data.strip() else {}
                if not isinstance(body, dict):
                    raise bad_request("the control body must be a JSON object")
            return _resp(await action(body))
        except ApiError as e:
            return _resp(e.status, e.code)
        except (ValueError, TypeError, KeyError) as e:
            return _resp(bad_request(f"{type(e).__name__}: {e}").status, 400)

    async def _state(self, _b: dict[str, Any]) -> Any:
        api = self.api
        return {
            "revision": api.revision,
            "open_watches": api.watches.count(),
            "in_flight": api.requests.in_flight,
            "cancelled": len(api.requests.cancelled),
            "writes": len(api.writes),
            "counts": dict(api.faults.counts),
        }

    async def _counts(self, _b: dict[str, Any]) -> Any:
        return dict(self.api.faults.counts)

    async def _writes(self, b: dict[str, Any]) -> Any:
        return [r.to_dict() for r in self.api.writes.since(int(b.get("since", 0)))]

    async def _requests(self, _b: dict[str, Any]) -> Any:
        log = self.api.requests
        return {
            "in_flight": log.in_flight,
            "total": log.total,
            "active": [r.to_dict() for r in log.active()],
            "cancelled": [r.to_dict() for r in log.cancelled],
        }

    async def _watchers(self, b: dict[str, Any]) -> Any:
        count, timeout = int(b.get("count", 1)), float(b.get("timeout", 5.0))
        try:
            async with asyncio.timeout(timeout):
                await self.api.wait_for_watchers(count, b.get("resource"))
        except TimeoutError:
            raise ApiError({"kind": "Status", "code": 408, "reason": "Timeout",
                            "message": f"fewer than {count} watches open"}, 408) from None
        return {"open": self.api.watches.count()}

    async def _controllers(self, _b: dict[str, Any]) -> Any:
        c = self.api.controllers
        return {"enabled": list(c.enabled), "busy": c.busy(),
                "errors": [f"{type(e).__name__}: {e}" for e in c.errors],
                "node_agent": await self._node_agent({})}

    async def _controllers_idle(self, b: dict[str, Any]) -> Any:
        timeout = float(b.get("timeout", 5.0))
        try:
            async with asyncio.timeout(timeout):
                await self.api.controllers.wait_idle()
        except TimeoutError:
            raise ApiError({"kind": "Status", "code": 408, "reason": "Timeout",
                            "message": "the controllers are still busy"}, 408) from None
        return {"busy": False}

    async def _node_agent(self, _b: dict[str, Any]) -> Any:
        agent = self.api.node_agent
        return {"mode": agent.default.mode, "seconds": agent.default.seconds,
                "nodes": {n: {"mode": m.mode, "seconds": m.seconds}
                          for n, m in agent.nodes_with_modes()},
                "terminating": agent.terminating()}

    async def _node_agent_mode(self, b: dict[str, Any]) -> Any:
        unknown = set(b) - {"mode", "seconds", "node"}
        if unknown or "mode" not in b:
            raise bad_request(f"expected {{mode, seconds, node}}, got {sorted(b)}")
        self.api.node_agent.set_mode(b["mode"], seconds=float(b.get("seconds") or 0.0),
                                     node=b.get("node"))
        return {}

    async def _node_agent_confirm(self, b: dict[str, Any]) -> Any:
        return {"confirmed": self.api.node_agent.confirm(str(b["namespace"]), str(b["name"]))}

    async def _compact(self, _b: dict[str, Any]) -> Any:
        return {"revision": self.api.compact()}

    async def _drop(self, b: dict[str, Any]) -> Any:
        return {"dropped": self.api.faults.drop_watches(user_agent=b.get("user_agent"))}

    async def _register(self, b: dict[str, Any]) -> Any:
        subs = frozenset(b.pop("subresources", ["status"]))
        fields = tuple(b.pop("selectable_fields", ()))
        b["short_names"] = tuple(b.get("short_names", ()))
        if "verbs" in b:
            b["verbs"] = tuple(b["verbs"])
        self.api.register(Resource(**b, subresources=subs), selectable_fields=fields)
        return {}

    async def _seed(self, b: dict[str, Any]) -> Any:
        return {"revision": self.api.seed(str(b["resource"]), b.get("objects") or [])}

    async def _touch(self, b: dict[str, Any]) -> Any:
        keys = b.get("keys")
        return {"revision": self.api.touch(str(b["resource"]), keys, times=int(b.get("times", 1)))}

    async def _tokens(self, b: dict[str, Any]) -> Any:
        return {"token": self.api.issue_token(str(b["namespace"]), str(b["service_account"]),
                                              expiration_seconds=int(b.get("expiration_seconds",
                                                                           3600)))}

    async def _logs(self, b: dict[str, Any]) -> Any:
        self.api.append_log(str(b["pod"]), str(b["text"]), str(b.get("namespace", "default")),
                            b.get("container"))
        return {}

    async def _restart(self, request: web.BaseRequest) -> web.StreamResponse:
        data = await request.read()
        b = orjson.loads(data) if data.strip() else {}
        resp = _resp({"restarting": True})
        resp.force_close()
        await resp.prepare(request)
        await resp.write_eof()
        task = asyncio.get_running_loop().create_task(
            self.api.restart(float(b.get("downtime", 0.0)), compact=bool(b.get("compact")))
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return resp


async def _call(fn: Callable[..., Any], body: dict[str, Any], *allowed: str) -> Any:
    unknown = set(body) - set(allowed)
    if unknown:
        raise bad_request(f"unknown fields {sorted(unknown)}; allowed: {list(allowed)}")
    positional = [body.pop(allowed[0])] if allowed and allowed[0] in ("seconds", "events") else []
    if allowed and allowed[0] in ("seconds", "events") and not positional:
        raise bad_request(f"{allowed[0]} is required")
    result = fn(*positional, **body)
    if callable(result):  # the remover delay() and fail() return stays in the server
        result = None
    return {"result": result} if result is not None else {}
