"""The OpenAPI v2 document as protobuf (gnostic's ``openapi.v2.Document``), as kubectl reads it.

client-go fetches ``/openapi/v2`` only as
``application/com.github.proto-openapi.spec.v2@v1.0+protobuf``; kubectl needs it when the
v3 documents cannot answer (client-side validation of a kind the server does not serve
yet, ``kubectl explain --output plaintext-openapiv2``). This module encodes the JSON
document of :mod:`._openapi` in that wire format: the messages and field numbers of
gnostic's ``OpenAPIv2.proto`` (Document, Info, Paths, PathItem, Operation, parameters,
responses, Definitions, Schema, security), vendor extensions and ``default``/``example``/
``enum`` values as ``Any`` messages carrying YAML (JSON text, which is YAML).

A minimal protobuf writer (varints, length-delimited fields, doubles) is all it needs.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

__all__ = ["ACCEPT", "CONTENT_TYPE", "encode_document"]

ACCEPT = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
"""What clients ask for."""
CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
"""What kube-apiserver answers with (``@`` is not valid in a media type)."""


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


class _Msg:
    """A message being written: fields appended in order."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def string(self, field: int, value: Any) -> None:
        if value:
            data = str(value).encode()
            self.buf += _key(field, 2) + _varint(len(data)) + data

    def strings(self, field: int, values: Iterable[Any]) -> None:
        for v in values:
            data = str(v).encode()
            self.buf += _key(field, 2) + _varint(len(data)) + data

    def message(self, field: int, body: bytes | None) -> None:
        if body is not None:
            self.buf += _key(field, 2) + _varint(len(body)) + body

    def boolean(self, field: int, value: Any) -> None:
        if value:
            self.buf += _key(field, 0) + b"\x01"

    def integer(self, field: int, value: Any) -> None:
        if isinstance(value, int) and not isinstance(value, bool) and value:
            self.buf += _key(field, 0) + _varint(value)

    def double(self, field: int, value: Any) -> None:
        if isinstance(value, int | float) and not isinstance(value, bool):
            self.buf += _key(field, 1) + struct.pack("<d", float(value))

    def bytes(self) -> bytes:
        return bytes(self.buf)


def _any(value: Any) -> bytes:
    m = _Msg()
    m.string(2, orjson.dumps(value).decode())  # YAML: JSON text is YAML
    return m.bytes()


def _named_any(name: str, value: Any) -> bytes:
    m = _Msg()
    m.string(1, name)
    m.message(2, _any(value))
    return m.bytes()


def _extensions(m: _Msg, field: int, obj: Mapping[str, Any]) -> None:
    for k, v in obj.items():
        if k.startswith("x-"):
            m.message(field, _named_any(k, v))


def _schema(s: Mapping[str, Any]) -> bytes:
    m = _Msg()
    m.string(1, s.get("$ref"))
    m.string(2, s.get("format"))
    m.string(3, s.get("title"))
    m.string(4, s.get("description"))
    if "default" in s:
        m.message(5, _any(s["default"]))
    if "multipleOf" in s:
        m.double(6, s["multipleOf"])
    if "maximum" in s:
        m.double(7, s["maximum"])
    m.boolean(8, s.get("exclusiveMaximum"))
    if "minimum" in s:
        m.double(9, s["minimum"])
    m.boolean(10, s.get("exclusiveMinimum"))
    m.integer(11, s.get("maxLength"))
    m.integer(12, s.get("minLength"))
    m.string(13, s.get("pattern"))
    m.integer(14, s.get("maxItems"))
    m.integer(15, s.get("minItems"))
    m.boolean(16, s.get("uniqueItems"))
    m.integer(17, s.get("maxProperties"))
    m.integer(18, s.get("minProperties"))
    m.strings(19, s.get("required") or ())
    for v in s.get("enum") or ():
        m.message(20, _any(v))
    extra = s.get("additionalProperties")
    if isinstance(extra, Mapping):
        item = _Msg()
        item.message(1, _schema(extra))
        m.message(21, item.bytes())
    elif isinstance(extra, bool):
        item = _Msg()
        item.buf += _key(2, 0) + (b"\x01" if extra else b"\x00")
        m.message(21, item.bytes())
    t = s.get("type")
    if t:
        ti = _Msg()
        ti.strings(1, t if isinstance(t, list) else [t])
        m.message(22, ti.bytes())
    items = s.get("items")
    if isinstance(items, Mapping):
        ii = _Msg()
        ii.message(1, _schema(items))
        m.message(23, ii.bytes())
    for sub in s.get("allOf") or ():
        m.message(24, _schema(sub))
    props = s.get("properties")
    if isinstance(props, Mapping):
        pm = _Msg()
        for name, sub in props.items():
            pm.message(1, _named(name, _schema(sub)))
        m.message(25, pm.bytes())
    m.boolean(27, s.get("readOnly"))
    if "example" in s:
        m.message(30, _any(s["example"]))
    _extensions(m, 31, s)
    return m.bytes()


def _named(name: str, value: bytes) -> bytes:
    m = _Msg()
    m.string(1, name)
    m.message(2, value)
    return m.bytes()


def _parameter(p: Mapping[str, Any]) -> bytes:
    where = p.get("in")
    param = _Msg()
    if where == "body":
        body = _Msg()
        body.string(1, p.get("description"))
        body.string(2, p.get("name"))
        body.string(3, "body")
        body.boolean(4, p.get("required"))
        body.message(5, _schema(p.get("schema") or {}))
        param.message(1, body.bytes())
    else:
        sub = _Msg()
        sub.boolean(1, p.get("required"))
        sub.string(2, where)
        sub.string(3, p.get("description"))
        sub.string(4, p.get("name"))
        if where == "query":
            sub.string(6, p.get("type"))
            sub.boolean(20, p.get("uniqueItems"))
            which = 3
        else:  # path
            sub.string(5, p.get("type"))
            sub.boolean(19, p.get("uniqueItems"))
            which = 4
        non_body = _Msg()
        non_body.message(which, sub.bytes())
        param.message(2, non_body.bytes())
    item = _Msg()
    item.message(1, param.bytes())
    return item.bytes()


def _operation(op: Mapping[str, Any]) -> bytes:
    m = _Msg()
    m.strings(1, op.get("tags") or ())
    m.string(3, op.get("description"))
    m.string(5, op.get("operationId"))
    m.strings(6, op.get("produces") or ())
    m.strings(7, op.get("consumes") or ())
    for p in op.get("parameters") or ():
        m.message(8, _parameter(p))
    responses = _Msg()
    for code, resp in (op.get("responses") or {}).items():
        r = _Msg()
        r.string(1, resp.get("description"))
        if isinstance(resp.get("schema"), Mapping):
            si = _Msg()
            si.message(1, _schema(resp["schema"]))
            r.message(2, si.bytes())
        value = _Msg()
        value.message(1, r.bytes())
        responses.message(1, _named(code, value.bytes()))
    m.message(9, responses.bytes())
    _extensions(m, 13, op)
    return m.bytes()


_VERBS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def _path_item(item: Mapping[str, Any]) -> bytes:
    m = _Msg()
    for verb, field in _VERBS.items():
        if isinstance(item.get(verb), Mapping):
            m.message(field, _operation(item[verb]))
    for p in item.get("parameters") or ():
        m.message(9, _parameter(p))
    return m.bytes()


def encode_document(doc: Mapping[str, Any]) -> bytes:
    """The protobuf encoding of a Swagger 2.0 JSON document (as produced by ``_openapi``)."""
    m = _Msg()
    m.string(1, doc.get("swagger", "2.0"))
    info = _Msg()
    info.string(1, (doc.get("info") or {}).get("title"))
    info.string(2, (doc.get("info") or {}).get("version"))
    m.message(2, info.bytes())
    paths = _Msg()
    for name, item in (doc.get("paths") or {}).items():
        paths.message(2, _named(name, _path_item(item)))
    m.message(8, paths.bytes())
    defs = _Msg()
    for name, schema in (doc.get("definitions") or {}).items():
        defs.message(1, _named(name, _schema(schema)))
    m.message(9, defs.bytes())
    for requirement in doc.get("security") or ():
        req = _Msg()
        for name, scopes in requirement.items():
            arr = _Msg()
            arr.strings(1, scopes)
            req.message(1, _named(name, arr.bytes()))
        m.message(12, req.bytes())
    sec = _Msg()
    for name, item in (doc.get("securityDefinitions") or {}).items():
        key = _Msg()
        key.string(1, item.get("type"))
        key.string(2, item.get("name"))
        key.string(3, item.get("in"))
        key.string(4, item.get("description"))
        holder = _Msg()
        holder.message(2, key.bytes())
        sec.message(1, _named(name, holder.bytes()))
    m.message(13, sec.bytes())
    return m.bytes()
