"""OpenAPI documents of what the fake serves: ``/openapi/v2`` and ``/openapi/v3[/<gv>]``.

Built from :mod:`._schema` (every built-in kind's fields, types, required fields and
descriptions, from kubernetes-asyncio) and from each CRD version's ``openAPIV3Schema``
(with ``apiVersion``, ``kind`` and ``metadata`` added, as kube-apiserver adds them), so
that clients that read OpenAPI work as on a real cluster:

* ``kubectl explain <kind>[.field]`` finds a kind through the ``x-kubernetes-group-version-kind``
  of its operations and its schema in ``components.schemas``, and follows ``$ref``/``allOf``;
* ``kubectl apply`` (with validation) asks the v3 document of the kind's group-version
  whether its PATCH operation takes the ``fieldValidation`` parameter, and then leaves
  validation to the server (``fieldValidation=Strict``);
* client-side strategic merge patches read ``x-kubernetes-patch-merge-key`` and
  ``x-kubernetes-patch-strategy``.

The v3 index lists each group-version with a ``serverRelativeURL`` carrying the document's
hash (``?hash=<sha512>``); a document fetched with its current hash is served with
``Cache-Control: public, immutable``, one with another hash is redirected (301) to the
current one, as kube-apiserver does, so clients' OpenAPI caches stay correct when a CRD
changes.

Approximated: integer formats (``int32``/``int64``) are not known and are left out;
descriptions of nested types (as opposed to fields and top-level kinds) are missing;
``x-kubernetes-list-type`` markers are emitted only for lists with a merge key. The v2
document is served as JSON or, for kubectl, as gnostic protobuf (:mod:`._openapiv2pb`).
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web

from kcs.testing._openapiv2pb import ACCEPT as V2_PROTOBUF
from kcs.testing._openapiv2pb import CONTENT_TYPE as V2_PROTOBUF_CONTENT_TYPE
from kcs.testing._openapiv2pb import encode_document
from kcs.testing._registry import Registry, ServedResource
from kcs.testing._schema import (
    Field,
    FieldType,
    definition_name,
    kind_description,
    kind_model,
    model,
    reachable,
)
from kcs.testing._status import not_acceptable, not_found

__all__ = ["OpenAPI", "gv_path", "serve_openapi"]

TIME = "io.k8s.apimachinery.pkg.apis.meta.v1.Time"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
PATCH = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
STATUS = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
DELETE_OPTIONS = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"
_META_MODELS = ("V1Status", "V1DeleteOptions")
_PATCH_TYPES = ("application/apply-patch+yaml", "application/json-patch+json",
                "application/merge-patch+json", "application/strategic-merge-patch+json")
_CUSTOM_PATCH_TYPES = ("application/apply-patch+yaml", "application/json-patch+json",
                       "application/merge-patch+json")
_MIME = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")

_PARAMS: dict[str, tuple[str, str]] = {
    "pretty": ("string", "If 'true', then the output is pretty printed. Defaults to 'false' "
                         "unless the user-agent indicates a browser or command-line HTTP tool "
                         "(curl and wget)."),
    "dryRun": ("string", "When present, indicates that modifications should not be persisted. "
                         "An invalid or unrecognized dryRun directive will result in an error "
                         "response and no further processing of the request. Valid values "
                         "are: - All: all dry run stages will be processed"),
    "fieldManager": ("string", "fieldManager is a name associated with the actor or entity "
                               "that is making these changes."),
    "fieldValidation": ("string", "fieldValidation instructs the server on how to handle "
                                  "objects in the request (POST/PUT/PATCH) containing unknown "
                                  "or duplicate fields. Valid values are: - Ignore - Warn - "
                                  "Strict"),
    "force": ("boolean", "Force is going to \"force\" Apply requests. It means user will "
                         "re-acquire conflicting fields owned by other people."),
    "allowWatchBookmarks": ("boolean", "allowWatchBookmarks requests watch events with type "
                                       "\"BOOKMARK\"."),
    "continue": ("string", "The continue option should be set when retrieving more results "
                           "from the server."),
    "fieldSelector": ("string", "A selector to restrict the list of returned objects by their "
                                "fields. Defaults to everything."),
    "labelSelector": ("string", "A selector to restrict the list of returned objects by their "
                                "labels. Defaults to everything."),
    "limit": ("integer", "limit is a maximum number of responses to return for a list call."),
    "resourceVersion": ("string", "resourceVersion sets a constraint on what resource "
                                  "versions a request may be served from."),
    "resourceVersionMatch": ("string", "resourceVersionMatch determines how resourceVersion "
                                       "is applied to list calls."),
    "sendInitialEvents": ("boolean", "`sendInitialEvents=true` may be set together with "
                                     "`watch=true`."),
    "timeoutSeconds": ("integer", "Timeout for the list/watch call."),
    "watch": ("boolean", "Watch for changes to the described resources and return them as a "
                         "stream of add, update, and remove notifications."),
    "gracePeriodSeconds": ("integer", "The duration in seconds before the object should be "
                                      "deleted."),
    "propagationPolicy": ("string", "Whether and how garbage collection will be performed."),
}
_LIST = ("allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit",
         "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds",
         "watch")
_WRITE = ("dryRun", "fieldManager", "fieldValidation")


def gv_path(group: str, version: str) -> str:
    """The v3 index key of a group-version: ``api/v1`` or ``apis/apps/v1``."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _camel(kind: str) -> str:
    return kind[:1].upper() + kind[1:]


def _crd_definition(served: ServedResource, kind: str) -> str:
    r = served.resource
    return ".".join([*reversed(r.group.split(".")), r.version, kind])


class _Builder:
    """The schemas and paths of one group-version (or of every one, for v2)."""

    def __init__(self, registry: Registry, groups: Mapping[str, str], v2: bool) -> None:
        self.registry = registry
        self.groups = groups  # model name -> group of the kind that reaches it first
        self.v2 = v2
        self.prefix = "#/definitions/" if v2 else "#/components/schemas/"
        self.schemas: dict[str, Any] = {}
        self.paths: dict[str, Any] = {}

    def ref(self, name: str) -> dict[str, Any]:
        return {"$ref": self.prefix + name}

    def _wrap(self, name: str, description: str) -> dict[str, Any]:
        if not description:
            return self.ref(name)
        if self.v2:
            return {**self.ref(name), "description": description}
        return {"allOf": [self.ref(name)], "description": description}

    def _type(self, t: FieldType, owner: str, description: str = "") -> dict[str, Any]:
        kind = t.kind
        out: dict[str, Any]
        if kind in ("string", "boolean"):
            out = {"type": kind}
        elif kind == "integer":
            out = {"type": "integer"}
        elif kind == "number":
            out = {"type": "number", "format": "double"}
        elif kind == "byte":
            out = {"type": "string", "format": "byte"}
        elif kind == "date-time":
            self._primitive(TIME)
            return self._wrap(TIME, description)
        elif kind == "int-or-string":
            self._primitive(INT_OR_STRING)
            return self._wrap(INT_OR_STRING, description)
        elif kind == "quantity":
            self._primitive(QUANTITY)
            return self._wrap(QUANTITY, description)
        elif kind == "object":
            out = ({"x-kubernetes-preserve-unknown-fields": True}
                   if owner == "V1JSONSchemaProps" else {"type": "object"})
        elif kind == "ref":
            return self._wrap(self.add_model(t.ref), description)
        elif kind == "array":
            assert t.item is not None
            out = {"type": "array", "items": self._type(t.item, owner)}
        else:  # map
            assert t.item is not None
            out = {"type": "object", "additionalProperties": self._type(t.item, owner)}
        if description:
            out["description"] = description
        return out

    def _field(self, f: Field, owner: str) -> dict[str, Any]:
        out = self._type(f.type, owner, f.description)
        if f.merge_key:
            out["x-kubernetes-patch-merge-key"] = f.merge_key
            out["x-kubernetes-patch-strategy"] = "merge"
            out["x-kubernetes-list-type"] = "map"
            out["x-kubernetes-list-map-keys"] = [f.merge_key]
        elif f.name == "finalizers" and owner == "V1ObjectMeta":
            out["x-kubernetes-patch-strategy"] = "merge"
            out["x-kubernetes-list-type"] = "set"
        return out

    def _primitive(self, name: str) -> None:
        if name in self.schemas:
            return
        if name == TIME:
            self.schemas[name] = {"type": "string", "format": "date-time", "description":
                                  "Time is a wrapper around time.Time which supports correct "
                                  "marshaling to YAML and JSON."}
        elif name == INT_OR_STRING:
            self.schemas[name] = ({"type": "string", "format": "int-or-string"} if self.v2 else
                                  {"format": "int-or-string",
                                   "oneOf": [{"type": "integer"}, {"type": "string"}]})
            self.schemas[name]["description"] = ("IntOrString is a type that can hold an int32 "
                                                 "or a string.")
        elif name == QUANTITY:
            self.schemas[name] = ({"type": "string"} if self.v2 else
                                  {"oneOf": [{"type": "string"}, {"type": "number"}]})
            self.schemas[name]["description"] = ("Quantity is a fixed-point representation of "
                                                 "a number.")

    def add_model(self, name: str, gvk: Mapping[str, str] | None = None) -> str:
        """Add model ``name`` (and everything it refers to); returns its definition name."""
        definition = definition_name(name, self.groups.get(name, ""))
        if definition in self.schemas:
            if gvk is not None:
                self.schemas[definition].setdefault("x-kubernetes-group-version-kind", [dict(gvk)])
            return definition
        m = model(name)
        schema: dict[str, Any] = {"type": "object"}
        self.schemas[definition] = schema  # before the fields: the types may be recursive
        if gvk is not None:
            kind = gvk["kind"]
            description = (f"{kind} is a list of {kind.removesuffix('List')} objects."
                           if kind.endswith("List") else kind_description(kind))
            if description:
                schema["description"] = description
        schema["properties"] = {f.name: self._field(f, name) for f in m.fields.values()}
        if m.required:
            schema["required"] = list(m.required)
        if gvk is not None:
            schema["x-kubernetes-group-version-kind"] = [dict(gvk)]
        return definition

    def add_custom(self, served: ServedResource) -> tuple[str, str]:
        """Add a custom resource's schema and list schema; returns their definition names."""
        r = served.resource
        gvk = {"group": r.group, "kind": r.kind, "version": r.version}
        base: dict[str, Any] = copy.deepcopy(dict(served.schema)) if (
            served.schema is not None) else {"type": "object",
                                             "x-kubernetes-preserve-unknown-fields": True}
        if self.v2:
            self._make_v2(base)
        props: dict[str, Any] = dict(base.get("properties") or {})
        props.setdefault("apiVersion", {"type": "string", "description": _API_VERSION})
        props.setdefault("kind", {"type": "string", "description": _KIND})
        self.add_model("V1ObjectMeta")
        self.add_model("V1ListMeta")
        props["metadata"] = self._wrap(OBJECT_META, "Standard object's metadata.")
        base["properties"] = props
        base["x-kubernetes-group-version-kind"] = [gvk]
        definition = _crd_definition(served, r.kind)
        self.schemas[definition] = base
        list_def = _crd_definition(served, r.list_kind)
        self.schemas[list_def] = {
            "description": f"{r.kind}List is a list of {r.kind}",
            "type": "object", "required": ["items"],
            "properties": {
                "apiVersion": {"type": "string", "description": _API_VERSION},
                "kind": {"type": "string", "description": _KIND},
                "items": {"type": "array", "items": self.ref(definition)},
                "metadata": self._wrap(LIST_META, "Standard list metadata."),
            },
            "x-kubernetes-group-version-kind": [{**gvk, "kind": r.list_kind}],
        }
        return definition, list_def

    def _make_v2(self, schema: dict[str, Any]) -> None:
        """OpenAPI v2 has no ``nullable``/``oneOf``/``anyOf``/``not``: drop them, as kube does."""
        for key in ("nullable", "oneOf", "anyOf", "not"):
            schema.pop(key, None)
        for child in (schema.get("properties") or {}).values():
            if isinstance(child, dict):
                self._make_v2(child)
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                self._make_v2(schema[key])

    # --- paths ----------------------------------------------------------------------------

    def _params(self, names: Iterable[str]) -> list[dict[str, Any]]:
        out = []
        for n in names:
            typ, desc = _PARAMS[n]
            if self.v2:
                out.append({"name": n, "in": "query", "type": typ, "uniqueItems": True,
                            "description": desc})
            else:
                out.append({"name": n, "in": "query", "description": desc,
                            "schema": {"type": typ, "uniqueItems": True}})
        return out

    def _path_params(self, names: Iterable[str]) -> list[dict[str, Any]]:
        out = []
        for n in names:
            desc = {"name": "name of the resource", "namespace": "object name and auth scope, "
                    "such as for teams and projects"}[n]
            if self.v2:
                out.append({"name": n, "in": "path", "required": True, "type": "string",
                            "uniqueItems": True, "description": desc})
            else:
                out.append({"name": n, "in": "path", "required": True, "description": desc,
                            "schema": {"type": "string", "uniqueItems": True}})
        return out + self._params(["pretty"])

    def _responses(self, definition: str, codes: Iterable[str]) -> dict[str, Any]:
        text = {"200": "OK", "201": "Created", "202": "Accepted"}
        out: dict[str, Any] = {}
        for code in codes:
            if self.v2:
                out[code] = {"description": text[code], "schema": self.ref(definition)}
            else:
                out[code] = {"description": text[code], "content": {
                    m: {"schema": self.ref(definition)} for m in _MIME}}
        out["401"] = {"description": "Unauthorized"}
        return out

    def _op(self, op_id: str, action: str, gvk: Mapping[str, str], tag: str,
            params: Iterable[str], responses: dict[str, Any],
            body: str | None = None, patch: bool = False,
            custom: bool = False) -> dict[str, Any]:
        op: dict[str, Any] = {"operationId": op_id, "tags": [tag],
                              "description": f"{action} {gvk['kind']}"}
        parameters = self._params(params)
        if body is not None:
            types = (_CUSTOM_PATCH_TYPES if custom else _PATCH_TYPES) if patch else ("*/*",)
            schema = self.ref(PATCH if patch else body)
            if patch:
                self.schemas.setdefault(PATCH, {"type": "object", "description":
                                                "Patch is provided to give a concrete name and "
                                                "type to the Kubernetes PATCH request body."})
            if self.v2:
                parameters.insert(0, {"name": "body", "in": "body", "required": True,
                                      "schema": schema})
                op["consumes"] = list(types)
                op["produces"] = list(_MIME)
            else:
                op["requestBody"] = {"required": True,
                                     "content": {t: {"schema": schema} for t in types}}
        if parameters:
            op["parameters"] = parameters
        op["responses"] = responses
        op["x-kubernetes-action"] = action
        op["x-kubernetes-group-version-kind"] = dict(gvk)
        return op

    def add_resource(self, served: ServedResource) -> None:
        """The schemas and paths of one served resource."""
        r = served.resource
        gvk = {"group": r.group, "kind": r.kind, "version": r.version}
        if served.custom:
            definition, list_def = self.add_custom(served)
        else:
            name = kind_model(r.api_version, r.kind)
            if name is None:
                return
            definition = self.add_model(name, gvk)
            list_name = kind_model(r.api_version, r.list_kind)
            list_def = self.add_model(list_name, {**gvk, "kind": r.list_kind}) if (
                list_name is not None) else definition
        for meta in _META_MODELS:
            self.add_model(meta)
        tag = (f"{r.group.split('.')[0]}_{r.version}" if r.group else f"core_{r.version}")
        base = r.base_path
        ns = "Namespaced" if r.namespaced else ""
        kind = r.kind
        coll = f"{base}/namespaces/{{namespace}}/{r.plural}" if r.namespaced else (
            f"{base}/{r.plural}")
        item = f"{coll}/{{name}}"
        scope = ["namespace"] if r.namespaced else []
        custom = served.custom
        self.paths[coll] = {
            "get": self._op(f"list{ns}{kind}", "list", gvk, tag, _LIST,
                            self._responses(list_def, ["200"])),
            "post": self._op(f"create{ns}{kind}", "post", gvk, tag, _WRITE,
                             self._responses(definition, ["200", "201", "202"]), definition),
            "delete": self._op(f"deletecollection{ns}{kind}", "deletecollection", gvk, tag,
                               ("dryRun", "gracePeriodSeconds", "propagationPolicy", *_LIST),
                               self._responses(STATUS, ["200"])),
            "parameters": self._path_params(scope),
        }
        self.paths[item] = {
            "get": self._op(f"read{ns}{kind}", "get", gvk, tag, (),
                            self._responses(definition, ["200"])),
            "put": self._op(f"replace{ns}{kind}", "put", gvk, tag, _WRITE,
                            self._responses(definition, ["200", "201"]), definition),
            "patch": self._op(f"patch{ns}{kind}", "patch", gvk, tag, (*_WRITE, "force"),
                              self._responses(definition, ["200", "201"]), definition,
                              patch=True, custom=custom),
            "delete": self._op(f"delete{ns}{kind}", "delete", gvk, tag,
                               ("dryRun", "gracePeriodSeconds", "propagationPolicy"),
                               self._responses(STATUS, ["200", "202"])),
            "parameters": self._path_params(["name", *scope]),
        }
        for sub in sorted(r.subresources):
            if sub != "status":
                continue
            title = _camel(sub)
            self.paths[f"{item}/{sub}"] = {
                "get": self._op(f"read{ns}{kind}{title}", "get", gvk, tag, (),
                                self._responses(definition, ["200"])),
                "put": self._op(f"replace{ns}{kind}{title}", "put", gvk, tag, _WRITE,
                                self._responses(definition, ["200", "201"]), definition),
                "patch": self._op(f"patch{ns}{kind}{title}", "patch", gvk, tag,
                                  (*_WRITE, "force"),
                                  self._responses(definition, ["200", "201"]), definition,
                                  patch=True, custom=custom),
                "parameters": self._path_params(["name", *scope]),
            }
        if r.namespaced:
            self.paths[f"{base}/{r.plural}"] = {
                "get": self._op(f"list{kind}ForAllNamespaces", "list", gvk, tag, _LIST,
                                self._responses(list_def, ["200"])),
                "parameters": self._params(["pretty"]),
            }


_API_VERSION = ("APIVersion defines the versioned schema of this representation of an object. "
                "Servers should convert recognized schemas to the latest internal value, and "
                "may reject unrecognized values.")
_KIND = ("Kind is a string value representing the REST resource this object represents. "
         "Servers may infer this from the endpoint the client submits requests to. Cannot be "
         "updated. In CamelCase.")
_SECURITY = {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header",
                             "description": "Bearer Token authentication"}}


class OpenAPI:
    """The OpenAPI documents of one registry, rebuilt when what it serves changes."""

    def __init__(self, registry: Registry, version: str) -> None:
        self.registry = registry
        self.version = version
        self._generation = -1
        self._groups: dict[str, str] = {}
        self._v3: dict[str, tuple[bytes, str]] = {}
        self._v2: dict[str, Any] | None = None
        self._v2_json: bytes | None = None
        self._v2_pb: bytes | None = None

    def _refresh(self) -> None:
        if self._generation == self.registry.generation:
            return
        self._generation = self.registry.generation
        self._v3, self._v2 = {}, None
        self._groups = {}
        served = sorted((s for s in self.registry.all() if not s.custom),
                        key=lambda s: (s.resource.group != "", s.resource.group))
        for s in served:
            name = kind_model(s.resource.api_version, s.resource.kind)
            if name is None:
                continue
            for n in reachable(name):
                self._groups.setdefault(n, s.resource.group)

    def _info(self) -> dict[str, str]:
        return {"title": "Kubernetes", "version": self.version}

    def group_versions(self) -> list[str]:
        """Every group-version with a document (``api/v1``, ``apis/apps/v1``, ...)."""
        return sorted({gv_path(s.resource.group, s.resource.version)
                       for s in self.registry.all()})

    def v3_document(self, path: str) -> tuple[bytes, str] | None:
        """The v3 document of ``path`` (``apis/apps/v1``) and its hash, or ``None``."""
        self._refresh()
        cached = self._v3.get(path)
        if cached is not None:
            return cached
        served = [s for s in self.registry.all()
                  if gv_path(s.resource.group, s.resource.version) == path]
        if not served:
            return None
        b = _Builder(self.registry, self._groups, v2=False)
        for s in sorted(served, key=lambda s: s.resource.plural):
            b.add_resource(s)
        doc = {"openapi": "3.0.0", "info": self._info(), "paths": b.paths,
               "components": {"schemas": dict(sorted(b.schemas.items())),
                              "securitySchemes": _SECURITY},
               "security": [{"BearerToken": []}]}
        data = orjson.dumps(doc)
        result = (data, hashlib.sha512(data).hexdigest().upper())
        self._v3[path] = result
        return result

    def v3_index(self) -> dict[str, Any]:
        """``/openapi/v3``: every group-version and the URL of its current document."""
        paths = {}
        for path in self.group_versions():
            found = self.v3_document(path)
            if found is not None:
                paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={found[1]}"}
        return {"paths": paths}

    def _v2_doc(self) -> dict[str, Any]:
        self._refresh()
        if self._v2 is None:
            b = _Builder(self.registry, self._groups, v2=True)
            for s in sorted(self.registry.all(),
                            key=lambda s: (s.resource.group, s.resource.version,
                                           s.resource.plural)):
                b.add_resource(s)
            self._v2 = {"swagger": "2.0", "info": self._info(), "paths": b.paths,
                        "definitions": dict(sorted(b.schemas.items())),
                        "securityDefinitions": _SECURITY, "security": [{"BearerToken": []}]}
            self._v2_json = self._v2_pb = None
        return self._v2

    def v2_document(self) -> bytes:
        """``/openapi/v2``: one Swagger 2.0 document of everything served, as JSON."""
        doc = self._v2_doc()
        if self._v2_json is None:
            self._v2_json = orjson.dumps(doc)
        return self._v2_json

    def v2_protobuf(self) -> bytes:
        """The same document as gnostic protobuf (what kubectl asks for)."""
        doc = self._v2_doc()
        if self._v2_pb is None:
            self._v2_pb = encode_document(doc)
        return self._v2_pb


def _json(data: bytes) -> web.Response:
    return web.Response(body=data, content_type="application/json")


def serve_openapi(openapi: OpenAPI, request: web.BaseRequest, parts: list[str]) -> web.Response:
    """Answer ``/openapi/v2`` (JSON, or gnostic protobuf for clients that ask for it; 406 for
    anything else) and ``/openapi/v3[/<group-version>]`` (hash-addressed: the current hash
    is cached for a year, another one is redirected to it); raises 404 otherwise."""
    if parts == ["openapi", "v2"]:
        accept = request.headers.get("Accept", "")
        first = accept.split(",")[0].strip()
        if first.startswith(V2_PROTOBUF) or (V2_PROTOBUF in accept and "json" not in accept):
            return web.Response(body=openapi.v2_protobuf(), content_type=V2_PROTOBUF_CONTENT_TYPE)
        if accept and "json" not in accept and "*/*" not in accept:
            raise not_acceptable(accept)
        return _json(openapi.v2_document())
    if parts[:2] != ["openapi", "v3"]:
        raise not_found(None, "")
    if len(parts) == 2:
        return _json(orjson.dumps(openapi.v3_index()))
    path = "/".join(parts[2:])
    found = openapi.v3_document(path)
    if found is None:
        raise not_found(None, "")
    data, digest = found
    asked = request.query.get("hash")
    if asked and asked != digest:
        return web.Response(status=301, headers={"Location": f"/openapi/v3/{path}?hash={digest}"})
    resp = _json(data)
    resp.headers["Etag"] = f'"{digest}"'
    if asked:
        expires = datetime.now(UTC) + timedelta(days=365)
        resp.headers["Cache-Control"] = "public, immutable"
        resp.headers["Expires"] = expires.strftime("%a, %d %b %Y %H:%M:%S GMT")
    else:
        resp.headers["Cache-Control"] = "no-cache, private"
    return resp
