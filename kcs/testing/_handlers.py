"""HTTP: from a request to a verb and back to JSON bytes.

One handler serves every path. In order, as kube-apiserver's filter chain: it accounts for
the request, holds or cuts a partitioned client, authenticates the bearer token
(:mod:`._authn`), works out what the request is about (:mod:`._requestinfo`), authorizes
it (:mod:`._rbac`, when on), applies the delay and failure faults for the verb, and routes
it: discovery and the other non-resource paths, the verbs of :class:`~._verbs.Verbs`, the
subresources of :mod:`._subresources` and the reviews of :mod:`._reviews`. Every error is
answered with a ``metav1.Status`` and its HTTP code, except a path nothing serves, which
is kube's plain-text ``404 page not found``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from kcs.core import ApiError, status_body
from kcs.testing._accounting import RequestLog, ServedRequest
from kcs.testing._authn import Authenticator, UserInfo
from kcs.testing._decoding import FieldValidation
from kcs.testing._discovery import (
    VERSION_INFO,
    Extras,
    api_group,
    api_group_list,
    api_resource_list,
    api_versions,
)
from kcs.testing._faults import VERBS, Faults
from kcs.testing._listing import parse_bool, parse_list_options
from kcs.testing._openapi import OpenAPI, serve_openapi
from kcs.testing._options import delete_options, write_option_causes
from kcs.testing._protobuf import PROTOBUF, ProtobufError, decode_protobuf
from kcs.testing._rbac import RbacAuthorizer, forbidden_error
from kcs.testing._reads import Reads
from kcs.testing._registry import Registry, ServedResource
from kcs.testing._requestinfo import RequestInfo, parse_request_info
from kcs.testing._responses import JSON, json_response, page_not_found, status_response
from kcs.testing._status import (
    bad_request,
    entity_too_large,
    invalid_options,
    method_not_allowed,
    unsupported_media_type,
)
from kcs.testing._store import StoredObject
from kcs.testing._table import table_event_line, table_for_list, table_for_object, wants_table
from kcs.testing._verbs import APPLY_PATCH, Verbs, decode_json_or_yaml
from kcs.testing._watch import BookmarkPolicy, ClientInfo, Watcher, WatchHub, serve_watch

__all__ = ["ApiHandler", "Target", "json_response", "page_not_found", "status_response"]

_RETURNS_DELETED = frozenset({"pods"})
# subresources that write the stored object itself (the rest have handlers of their own)
_STORE_SUBRESOURCES = frozenset({"status", "finalize"})
_ITEM_VERBS = frozenset({"get", "update", "patch", "delete"})
_COLLECTION_VERBS = frozenset({"list", "watch", "create", "deletecollection"})
_OPTIONS_KIND = {"create": "CreateOptions", "update": "UpdateOptions", "patch": "PatchOptions",
                 "delete": "DeleteOptions", "deletecollection": "DeleteOptions"}


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


def _no_route() -> ApiError:
    # go-restful found the group version but no route: kube's generic 404 Status.
    return ApiError(status_body(404, "NotFound", "the server could not find the requested "
                                "resource") | {"details": {}}, 404)


Subresource = Callable[
    [web.BaseRequest, RequestInfo, ServedResource, ClientInfo, UserInfo],
    Awaitable[web.StreamResponse],
]


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
        authn: Authenticator,
        authz: RbacAuthorizer | None,
        max_body_bytes: int,
        bookmarks: Callable[[], BookmarkPolicy],
        control: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]] | None,
        subresource: Callable[[ServedResource, str], Subresource | None],
        virtual: Callable[[ServedResource], Subresource | None],
        extras: Extras | None = None,
    ) -> None:
        self.verbs = verbs
        self.reads = reads
        self.registry = registry
        self.hub = hub
        self.faults = faults
        self.requests = requests
        self.authn = authn
        self.authz = authz
        self.max_body_bytes = max_body_bytes
        self.bookmarks = bookmarks
        self.control = control
        self.subresource = subresource
        self.virtual = virtual
        self.extras = extras
        self.openapi = OpenAPI(registry, VERSION_INFO["gitVersion"])

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if path.startswith("/_fake/"):
            if self.control is None:
                return page_not_found()
            return await self.control(request)
        client = ClientInfo(request.headers.get("User-Agent", ""), _bearer(request))
        info = parse_request_info(request.method, path, request.query)
        record = self.requests.begin(
            ServedRequest(request.method, path, info.verb if info.resource_request
                          else request.method.lower(), client.user_agent, client.fingerprint)
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
            user = self.authn.authenticate(client.token)
            record.user = user.name
            client = ClientInfo(client.user_agent, client.token, user.name)
            if self.authz is not None:
                decision = self.authz.authorize(user, info)
                if not decision.allowed:
                    raise forbidden_error(user, info, decision.reason)
            if info.resource_request:
                resp = await self._resource(request, client, user, info)
            else:
                resp = self._nonresource(request, info)
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

    # --- non-resource paths: discovery, version, health ---------------------------------

    def _nonresource(self, request: web.BaseRequest, info: RequestInfo) -> web.Response:
        parts = [p for p in info.path.split("/") if p]
        if request.method != "GET":
            return page_not_found()
        if not parts:
            return json_response({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez",
                                            "/readyz", "/version"]})
        head = parts[0]
        if head in ("healthz", "livez", "readyz") and len(parts) == 1:
            return web.Response(text="ok", content_type="text/plain")
        if head == "version" and len(parts) == 1:
            return json_response(VERSION_INFO)
        if head == "openapi":
            return serve_openapi(self.openapi, request, parts)
        if head == "api":
            if len(parts) == 1:
                return json_response(api_versions(request.host))
            doc = api_resource_list(self.registry, "", parts[1], self.extras)
            return json_response(doc) if doc is not None and len(parts) == 2 else page_not_found()
        if head == "apis":
            if len(parts) == 1:
                return json_response(api_group_list(self.registry))
            if len(parts) == 2:
                group_doc = api_group(self.registry, parts[1])
                return json_response(group_doc) if group_doc is not None else page_not_found()
            doc = api_resource_list(self.registry, parts[1], parts[2], self.extras)
            return json_response(doc) if doc is not None else page_not_found()
        return page_not_found()

    # --- resource requests --------------------------------------------------------------

    async def _resource(self, request: web.BaseRequest, client: ClientInfo, user: UserInfo,
                        info: RequestInfo) -> web.StreamResponse:
        if not self.registry.in_group_version(info.group, info.version):
            return page_not_found()
        s = self.registry.lookup(info.group, info.version, info.resource)
        if s is None or len(info.parts) > 3:
            raise _no_route()
        r = s.resource
        if r.namespaced and not info.namespace:
            if info.name:
                raise _no_route()
            if info.verb in ("create", "deletecollection"):
                raise method_not_allowed(info.verb, r)
        elif not r.namespaced and info.namespace and s.group_resource != "namespaces":
            raise _no_route()
        review = self.virtual(s)
        if review is not None and not info.subresource:
            return await review(request, info, s, client, user)
        if info.verb not in s.resource.verbs and not info.subresource:
            raise method_not_allowed(info.verb, s.resource)
        if info.subresource and info.subresource not in _STORE_SUBRESOURCES:
            handler = self.subresource(s, info.subresource)
            if handler is None:
                raise _no_route()
            await self.faults.before(_fault_verb(info.verb))
            return await handler(request, info, s, client, user)
        if info.subresource and info.subresource not in s.resource.subresources:
            raise _no_route()
        if info.verb in _ITEM_VERBS and not info.name:
            raise method_not_allowed(info.verb, s.resource)
        if info.verb in _COLLECTION_VERBS and info.name and not (
            info.verb == "watch" and not info.subresource
        ):
            raise method_not_allowed(info.verb, s.resource)
        await self.faults.before(_fault_verb(info.verb))
        ns = info.namespace if s.resource.namespaced else None
        t = Target(s, ns or None, info.name or None, info.subresource)
        return await self._dispatch(request, client, info.verb, t)

    async def _dispatch(
        self, request: web.BaseRequest, client: ClientInfo, verb: str, t: Target
    ) -> web.StreamResponse:
        v = self.verbs
        s = t.served
        manager = request.query.get("fieldManager")
        if verb == "get":
            assert t.name is not None
            return self._object(request, s, v.get(s, t.namespace, t.name))
        if verb == "list":
            return await self._list(request, t)
        if verb == "watch":
            return await self._watch(request, client, t)
        dry_run = _check_write_options(request, verb)
        if verb == "create":
            fv = FieldValidation.parse(request.query.get("fieldValidation"), "CreateOptions")
            body = await self.body(request, s)
            return _warn(self._object(request, s, v.create(s, t.namespace, body, client,
                                                           dry_run=dry_run, field_manager=manager,
                                                           field_validation=fv), 201), fv)
        if verb == "update":
            assert t.name is not None
            fv = FieldValidation.parse(request.query.get("fieldValidation"), "UpdateOptions")
            body = await self.body(request, s)
            return _warn(self._object(request, s, v.update(s, t.namespace, t.name, body, client,
                                                           subresource=t.subresource,
                                                           dry_run=dry_run, field_manager=manager,
                                                           field_validation=fv)), fv)
        if verb == "patch":
            assert t.name is not None
            fv = FieldValidation.parse(request.query.get("fieldValidation"), "PatchOptions")
            data = await self.read(request)
            ctype = request.content_type
            force = request.query.get("force")
            obj, created = v.patch(s, t.namespace, t.name, ctype, data, client,
                                   subresource=t.subresource, field_manager=manager,
                                   dry_run=dry_run, field_validation=fv,
                                   force=None if force is None else parse_bool("force", force))
            return _warn(self._object(request, s, obj, 201 if created else 200), fv)
        if verb == "delete":
            assert t.name is not None
            options = delete_options(await self._options(request), request.query)
            obj, gone = v.delete(s, t.namespace, t.name, options, client, dry_run=dry_run)
            if gone and not s.custom and s.group_resource not in _RETURNS_DELETED:
                return json_response(_success(s, obj))
            # 202 when not deleted at once although dependents were asked to go (as kube)
            code = 202 if not gone and options.orphan_dependents is False else 200
            return self._object(request, s, obj, code)
        if verb == "deletecollection":
            options = delete_options(await self._options(request), request.query)
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
        # Items of built-in kinds carry no kind and apiVersion (kube's typed lists); custom
        # resources' items do (they are unstructured).
        if s.custom:
            rendered = [_as_served(s, so) for so in items]
        else:
            rendered = [so.list_item() for so in items]
        body = head[:-1] + b',"items":[' + b",".join(rendered) + b"]}"
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
        rs = self.reads.rs(t.served)
        try:
            return await serve_watch(
                request, w, self.hub, policy=self.bookmarks(),
                cache_revision=lambda: rs.cache_rv,
                global_revision=lambda: self.verbs.store.revision,
                timeout_seconds=opts.timeout_seconds, allow_bookmarks=opts.allow_bookmarks,
            )
        finally:
            self.reads.stop_watch(w)
            self.hub.discard(w)

    # --- bodies ---------------------------------------------------------------------------

    async def read(self, request: web.BaseRequest) -> bytes:
        """The request body, refused with 413 above ``max_body_bytes``."""
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

    async def body(self, request: web.BaseRequest, s: ServedResource | None = None) -> Any:
        """The request body as a JSON value: JSON (also when no Content-Type is given, as
        kube defaults to it), YAML, or protobuf for the built-in kinds it knows; any
        other media type is 415 UnsupportedMediaType, as in kube-apiserver."""
        data = await self.read(request)
        ctype = request.content_type if request.headers.get("Content-Type") else ""
        if ctype in ("application/yaml", "application/x-yaml"):
            return decode_json_or_yaml(data)
        if ctype == PROTOBUF and (s is None or not s.custom):
            try:
                return decode_protobuf(data)
            except ProtobufError as e:
                raise unsupported_media_type(str(e)) from None
        if ctype not in (JSON, ""):
            accepted = "application/json, application/yaml"
            if s is None or not s.custom:
                accepted += f", {PROTOBUF}"
            raise unsupported_media_type(
                "the body of the request was in an unknown format - accepted media types "
                f"include: {accepted}"
            )
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise bad_request(f"the body of the request could not be decoded: {e}") from None

    async def _options(self, request: web.BaseRequest) -> Any:
        data = await self.read(request)
        if not data.strip():
            return None
        if request.headers.get("Content-Type") and request.content_type == PROTOBUF:
            try:
                return decode_protobuf(data)
            except ProtobufError as e:
                raise unsupported_media_type(str(e)) from None
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


def _check_write_options(request: web.BaseRequest, verb: str) -> bool:
    """Validate the query options of a write as kube's ``Validate*Options`` do (422 Invalid
    ``CreateOptions``/``UpdateOptions``/``PatchOptions``/``DeleteOptions``); returns
    whether it is a dry run."""
    q = request.query
    dry_run = q.getall("dryRun", [])
    apply = bool(request.headers.get("Content-Type")) and request.content_type == APPLY_PATCH
    errors = write_option_causes(verb, apply=apply, manager=q.get("fieldManager", ""),
                                 force=True if "force" in q else None, dry_run=dry_run)
    if errors:
        raise invalid_options(_OPTIONS_KIND[verb], errors)
    return bool(dry_run)


def _fault_verb(verb: str) -> str:
    return verb if verb in VERBS else "create"
