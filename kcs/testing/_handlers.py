"""HTTP: from a request to a verb and back to JSON bytes.

One handler serves every path. In order it: accounts for the request, holds or cuts a
partitioned client, checks the bearer token, resolves the URL (discovery or a resource),
applies the delay and failure faults for the verb, and calls :class:`~._verbs.Verbs`.
Every error is answered with a ``metav1.Status`` and its HTTP code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from kcs.core import ApiError
from kcs.testing._accounting import RequestLog, RequestRecord
from kcs.testing._decoding import FieldValidation
from kcs.testing._discovery import (
    VERSION_INFO,
    api_group,
    api_group_list,
    api_resource_list,
    api_versions,
)
from kcs.testing._faults import VERBS, Faults
from kcs.testing._listing import ListOptions, parse_bool, parse_list_options
from kcs.testing._openapi import OpenAPI, serve_openapi
from kcs.testing._reads import Reads
from kcs.testing._registry import Registry, ServedResource
from kcs.testing._status import (
    bad_request,
    entity_too_large,
    method_not_allowed,
    not_found,
    unauthorized,
    unsupported_media_type,
)
from kcs.testing._store import StoredObject
from kcs.testing._table import table_event_line, table_for_list, table_for_object, wants_table
from kcs.testing._verbs import Verbs, decode_json_or_yaml
from kcs.testing._watch import ClientInfo, Watcher, WatchHub, serve_watch

__all__ = ["ApiHandler", "Target"]

JSON = "application/json"
_RETURNS_DELETED = frozenset({"pods"})


@dataclass(frozen=True, slots=True)
class Target:
    """What a resource URL addresses."""

    served: ServedResource
    namespace: str | None
    name: str | None
    subresource: str


def _bearer(request: web.BaseRequest) -> str | None:
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def json_response(body: Any, status: int = 200) -> web.Response:
    """A JSON response from a value or from bytes already serialized."""
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return web.Response(body=data, status=status, content_type=JSON)


def status_response(err: ApiError) -> web.Response:
    """The Status of ``err`` with its HTTP code (and Retry-After for a 429)."""
    resp = json_response(err.status, err.code)
    ras = err.details.get("retryAfterSeconds")
    if err.code in (429, 503) and ras is not None:
        resp.headers["Retry-After"] = str(ras)
    return resp


class ApiHandler:
    """The request handler of one :class:`~kcs.testing.FakeApiServer`."""

    def __init__(
        self,
        *,
        verbs: Verbs,
        reads: Reads,
        registry: Registry,
        hub: WatchHub,
        faults: Faults,
        requests: RequestLog,
        token: str | None,
        max_body_bytes: int,
        bookmark_interval: Callable[[], float],
        control: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]] | None,
    ) -> None:
        self.verbs = verbs
        self.reads = reads
        self.registry = registry
        self.hub = hub
        self.faults = faults
        self.requests = requests
        self.token = token
        self.max_body_bytes = max_body_bytes
        self.bookmark_interval = bookmark_interval
        self.control = control
        self.openapi = OpenAPI(registry, VERSION_INFO["gitVersion"])

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if path.startswith("/_fake/"):
            if self.control is None:
                return status_response(not_found(None, ""))
            return await self.control(request)
        client = ClientInfo(request.headers.get("User-Agent", ""), _bearer(request))
        record = self.requests.begin(
            RequestRecord(request.method, path, _verb_hint(request), client.user_agent,
                          client.fingerprint)
        )
        cancelled = refused = False
        try:
            mode = self.faults.partition_for(client)
            if mode is not None:
                self.faults.counts["partition"] += 1
                if mode == "close":
                    refused = True
                    if request.transport is not None:
                        request.transport.abort()
                    raise asyncio.CancelledError
                await self.faults.hold(client)
            resp = await self._serve(request, client, record)
            record.status = resp.status
            return resp
        except ApiError as err:
            record.status = err.code
            return status_response(err)
        except asyncio.CancelledError:
            cancelled = not refused
            raise
        finally:
            self.requests.end(record, cancelled=cancelled)

    async def _serve(
        self, request: web.BaseRequest, client: ClientInfo, record: RequestRecord
    ) -> web.StreamResponse:
        if self.token is not None and client.token != self.token:
            raise unauthorized()
        parts = [p for p in request.path.split("/") if p]
        if not parts:
            return json_response({"paths": ["/api", "/api/v1", "/apis", "/version"]})
        head = parts[0]
        if head in ("healthz", "livez", "readyz") and len(parts) == 1:
            return web.Response(text="ok", content_type="text/plain")
        if head == "version" and len(parts) == 1:
            return json_response(VERSION_INFO)
        if head == "openapi":
            return serve_openapi(self.openapi, request, parts)
        if head == "api" and len(parts) >= 2:
            return await self._api(request, client, record, "", parts[1], parts[2:])
        if head == "api" and len(parts) == 1:
            return json_response(api_versions(request.host))
        if head == "apis":
            if len(parts) == 1:
                return json_response(api_group_list(self.registry))
            if len(parts) == 2:
                doc = api_group(self.registry, parts[1])
                if doc is None:
                    raise not_found(None, "")
                return json_response(doc)
            return await self._api(request, client, record, parts[1], parts[2], parts[3:])
        raise not_found(None, "")

    async def _api(
        self,
        request: web.BaseRequest,
        client: ClientInfo,
        record: RequestRecord,
        group: str,
        version: str,
        rest: list[str],
    ) -> web.StreamResponse:
        if not rest:
            doc = api_resource_list(self.registry, group, version)
            if doc is None:
                raise not_found(None, "")
            return json_response(doc)
        target = self._resolve(group, version, rest)
        verb = _verb(request, target)
        record.verb = verb
        await self.faults.before(verb)
        return await self._dispatch(request, client, verb, target)

    def _resolve(self, group: str, version: str, rest: list[str]) -> Target:
        lookup = self.registry.lookup
        if rest[0] == "namespaces" and len(rest) >= 3:
            s = lookup(group, version, rest[2])
            if s is not None and s.resource.namespaced and len(rest) <= 5:
                name = rest[3] if len(rest) >= 4 else None
                return Target(s, rest[1], name, rest[4] if len(rest) == 5 else "")
        s = lookup(group, version, rest[0])
        if s is None:
            raise not_found(None, "", plural=rest[0])
        if len(rest) > 3 or (s.resource.namespaced and len(rest) > 1):
            raise not_found(s.resource, rest[1] if len(rest) > 1 else "")
        return Target(s, None, rest[1] if len(rest) >= 2 else None,
                      rest[2] if len(rest) == 3 else "")

    async def _dispatch(
        self, request: web.BaseRequest, client: ClientInfo, verb: str, t: Target
    ) -> web.StreamResponse:
        v = self.verbs
        s = t.served
        if t.subresource and t.subresource not in s.resource.subresources:
            raise not_found(s.resource, t.name or "")
        dry_run = _dry_run(request)
        if verb == "get":
            assert t.name is not None
            return self._object(request, s, v.get(s, t.namespace, t.name))
        if verb == "list":
            return await self._list(request, t)
        if verb == "watch":
            return await self._watch(request, client, t)
        if verb == "create":
            fv = FieldValidation.parse(request.query.get("fieldValidation"), "CreateOptions")
            body = await self._body(request)
            return _warn(self._object(request, s, v.create(s, t.namespace, body, client,
                                                           dry_run=dry_run,
                                                           field_validation=fv), 201), fv)
        if verb == "update":
            assert t.name is not None
            fv = FieldValidation.parse(request.query.get("fieldValidation"), "UpdateOptions")
            body = await self._body(request)
            return _warn(self._object(request, s, v.update(s, t.namespace, t.name, body, client,
                                                           subresource=t.subresource,
                                                           dry_run=dry_run,
                                                           field_validation=fv)), fv)
        if verb == "patch":
            assert t.name is not None
            fv = FieldValidation.parse(request.query.get("fieldValidation"), "PatchOptions")
            data = await self._read(request)
            ctype = request.content_type
            obj, created = v.patch(s, t.namespace, t.name, ctype, data, client,
                                   subresource=t.subresource,
                                   field_manager=request.query.get("fieldManager"),
                                   dry_run=dry_run, field_validation=fv)
            return _warn(self._object(request, s, obj, 201 if created else 200), fv)
        if verb == "delete":
            assert t.name is not None
            options = await self._options(request)
            obj, gone = v.delete(s, t.namespace, t.name, options, client, dry_run=dry_run)
            if gone and not s.custom and s.group_resource not in _RETURNS_DELETED:
                return json_response(_success(s, obj))
            return self._object(request, s, obj)
        if verb == "deletecollection":
            options = await self._options(request)
            opts = parse_list_options(request.query)
            items = v.delete_collection(s, t.namespace, opts, options, client, dry_run=dry_run)
            return self._list_response(request, s, items, v.store.revision, None, None)
        raise method_not_allowed(verb, s.resource)

    # --- responses ------------------------------------------------------------------------

    def _object(self, request: web.BaseRequest, s: ServedResource, so: StoredObject,
                status: int = 200) -> web.Response:
        if wants_table(request.headers.get("Accept", "")):
            return json_response(table_for_object(s, so, request.query), status)
        return json_response(_as_served(s, so), status)

    async def _list(self, request: web.BaseRequest, t: Target) -> web.Response:
        opts = parse_list_options(request.query)
        page = await self.reads.list_page(t.served, t.namespace, opts)
        return self._list_response(request, t.served, page.items, page.resource_version,
                                   page.continue_token, page.remaining)

    def _list_response(
        self,
        request: web.BaseRequest,
        s: ServedResource,
        items: list[StoredObject],
        rv: int,
        cont: str | None,
        remaining: int | None,
    ) -> web.Response:
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if cont:
            meta["continue"] = cont
        if remaining is not None:
            meta["remainingItemCount"] = remaining
        if wants_table(request.headers.get("Accept", "")):
            return json_response(table_for_list(s, items, meta, request.query))
        head = orjson.dumps({"kind": s.resource.list_kind, "apiVersion": s.resource.api_version,
                             "metadata": meta})
        body = head[:-1] + b',"items":[' + b",".join(_as_served(s, so) for so in items) + b"]}"
        return json_response(body)

    async def _watch(self, request: web.BaseRequest, client: ClientInfo,
                     t: Target) -> web.StreamResponse:
        opts = parse_list_options(request.query, watch_default=True)
        transform = None
        if wants_table(request.headers.get("Accept", "")):
            transform = table_event_line(t.served, request.query)
        opened = await self.reads.watch(t.served, t.namespace, opts, client, t.name, transform)
        if isinstance(opened, bytes):
            resp = web.StreamResponse(status=200)
            resp.content_type = JSON
            await resp.prepare(request)
            await resp.write(opened)
            await resp.write_eof()
            return resp
        w: Watcher = opened
        self.hub.add(w)
        try:
            interval = self.bookmark_interval() if opts.allow_bookmarks else None
            return await serve_watch(
                request, w, self.hub, revision=lambda: self.verbs.store.revision,
                timeout_seconds=opts.timeout_seconds, bookmark_interval=interval,
            )
        finally:
            self.reads.stop_watch(w)
            self.hub.discard(w)

    # --- bodies ---------------------------------------------------------------------------

    async def _read(self, request: web.BaseRequest) -> bytes:
        limit = self.max_body_bytes
        length = request.content_length
        if length is not None and length > limit:
            raise entity_too_large(limit)
        data = bytearray()
        while True:
            chunk = await request.content.read(65536)
            if not chunk:
                return bytes(data)
            data += chunk
            if len(data) > limit:
                raise entity_too_large(limit)

    async def _body(self, request: web.BaseRequest) -> Any:
        data = await self._read(request)
        ctype = request.content_type
        if ctype in ("application/yaml", "application/x-yaml"):
            return decode_json_or_yaml(data)
        if ctype not in (JSON, "", "application/octet-stream", "text/plain"):
            raise unsupported_media_type(
                f'the body of the request was in an unknown format ("{ctype}") - accepted '
                "media types include: application/json, application/yaml"
            )
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise bad_request(f"the body of the request could not be decoded: {e}") from None

    async def _options(self, request: web.BaseRequest) -> Any:
        data = await self._read(request)
        if not data.strip():
            return None
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise bad_request(f"the DeleteOptions could not be decoded as JSON: {e}") from None


def _warn(resp: web.Response, fv: FieldValidation) -> web.Response:
    """Add a ``Warning: 299 - "..."`` header per warning the request produced."""
    for text in fv.warnings:
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        resp.headers.add("Warning", f'299 - "{escaped}"')
    return resp


def _as_served(s: ServedResource, so: StoredObject) -> bytes:
    av = s.resource.api_version
    return so.raw if av == s.storage_api_version else so.as_version(av)


def _success(s: ServedResource, so: StoredObject) -> dict[str, Any]:
    meta = so.obj.get("metadata") or {}
    details: dict[str, Any] = {"name": meta.get("name"), "kind": s.resource.plural,
                               "uid": meta.get("uid")}
    if s.resource.group:
        details["group"] = s.resource.group
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": details}


def _dry_run(request: web.BaseRequest) -> bool:
    values = request.query.getall("dryRun", [])
    for value in values:
        if value != "All":
            raise bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
    return bool(values)


def _verb_hint(request: web.BaseRequest) -> str:
    return "watch" if _is_watch(request) else request.method.lower()


def _is_watch(request: web.BaseRequest) -> bool:
    try:
        return bool(parse_bool("watch", request.query.get("watch")))
    except ApiError:
        return False


def _verb(request: web.BaseRequest, t: Target) -> str:
    m = request.method
    if m == "GET":
        if _is_watch(request):
            return "watch"
        return "get" if t.name is not None else "list"
    if t.name is None:
        return {"POST": "create", "DELETE": "deletecollection"}.get(m, m.lower())
    return {"PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(m, m.lower())


assert set(VERBS) >= {"get", "list", "watch", "create", "update", "patch", "delete"}
_ = ListOptions
