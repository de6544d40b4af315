"""Compact decoded objects: typed metadata, the rest kept as raw JSON bytes.

This is the representation every cache in kcs holds (and what the client's verbs
answer), chosen by measurement: ``json.loads`` of a typical 6 KB pod builds ~70
garbage-collected Python objects and costs ~45 KB; an :class:`Object` is a handful of
objects that the garbage collector does not track, and costs little more than the JSON it
came from.

An :class:`Object` is immutable: ``api_version``, ``kind``, a typed :class:`ObjectMeta`
and ``body``, the JSON text of every other top-level field (``spec``, ``status``, ``data``,
...). Reading a top-level field decodes it from ``body`` on demand and returns a fresh
value that the caller owns; :meth:`Object.to_dict` returns a full, mutable copy.

The only mutable parts are the ``labels`` and ``annotations`` dicts of the metadata; they
are shared with the cache and must never be mutated (the cache's mutation detector, on
in tests, fails loudly if they are).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import Any, Final

import msgspec

__all__ = [
    "DEFAULT_TOP_LEVEL_FIELDS",
    "TOP_LEVEL_FIELDS",
    "BodySpans",
    "Codec",
    "ListMeta",
    "Object",
    "ObjectMeta",
    "ObjectMetaWithManagedFields",
    "OwnerReference",
    "WatchEventType",
    "codec_for",
    "decode_list",
    "decode_object",
    "decode_watch_event",
    "encode_object",
    "object_from_dict",
]

WatchEventType = str
"""One of ``ADDED``, ``MODIFIED``, ``DELETED``, ``BOOKMARK``, ``ERROR`` (as sent)."""


class OwnerReference(msgspec.Struct, frozen=True, gc=False, rename="camel", omit_defaults=True):
    """``metav1.OwnerReference``."""

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(msgspec.Struct, frozen=True, gc=False, rename="camel", omit_defaults=True):
    """``metav1.ObjectMeta`` without ``managedFields`` (stripped by default).

    ``namespace`` is ``""`` for cluster-scoped objects. ``labels`` and ``annotations`` are
    shared with the cache: read them, never mutate them.
    """

    name: str = ""
    generate_name: str = ""
    namespace: str = ""
    self_link: str = ""
    uid: str = ""
    resource_version: str = ""
    generation: int = 0
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    deletion_grace_period_seconds: int | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    owner_references: tuple[OwnerReference, ...] = ()
    finalizers: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """``namespace/name``, or ``name`` for a cluster-scoped object (client-go's key)."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    def controller_reference(self) -> OwnerReference | None:
        """The owner reference with ``controller: true``, if any."""
        for ref in self.owner_references:
            if ref.controller:
                return ref
        return None


class ObjectMetaWithManagedFields(ObjectMeta, frozen=True, gc=False, rename="camel"):
    """``ObjectMeta`` that keeps ``managedFields`` (opt-in: they are a large share of a pod)."""

    managed_fields: list[dict[str, Any]] | None = None


class ListMeta(msgspec.Struct, frozen=True, gc=False, rename="camel", omit_defaults=True):
    """``metav1.ListMeta``."""

    resource_version: str = ""
    continue_: str = msgspec.field(default="", name="continue")
    remaining_item_count: int | None = None


class Object(msgspec.Struct, frozen=True, gc=False):
    """One Kubernetes object as kcs caches it: typed metadata plus raw JSON for the rest.

    Guarantees:

    * immutable and shared: a lister hands out the cached instance itself (no copy);
    * ``obj["spec"]`` (or any top-level field) decodes that field from :attr:`body` and
      returns a new value the caller may keep or change; it costs a JSON decode of the
      body, so hold on to the result rather than indexing repeatedly in a loop;
    * :meth:`to_dict` returns the whole object as a new mutable ``dict`` (for edits and
      writes back to the apiserver).
    """

    api_version: str
    kind: str
    metadata: ObjectMeta
    body: bytes = b"{}"
    """The JSON text of the top-level fields other than apiVersion, kind and metadata."""

    # --- shortcuts -------------------------------------------------------------------
    @property
    def name(self) -> str:
        """``metadata.name``."""
        return self.metadata.name

    @property
    def namespace(self) -> str:
        """``metadata.namespace`` (``""`` when cluster-scoped)."""
        return self.metadata.namespace

    @property
    def key(self) -> str:
        """``namespace/name`` (or ``name``), the key caches and work queues use."""
        return self.metadata.key

    @property
    def resource_version(self) -> str:
        """``metadata.resourceVersion``."""
        return self.metadata.resource_version

    @property
    def uid(self) -> str:
        """``metadata.uid``."""
        return self.metadata.uid

    @property
    def labels(self) -> dict[str, str]:
        """``metadata.labels`` (shared with the cache: do not mutate)."""
        return self.metadata.labels

    @property
    def annotations(self) -> dict[str, str]:
        """``metadata.annotations`` (shared with the cache: do not mutate)."""
        return self.metadata.annotations

    # --- reading the body ------------------------------------------------------------
    def fields(self) -> dict[str, Any]:
        """The top-level fields other than apiVersion/kind/metadata, freshly decoded."""
        out: dict[str, Any] = _builtin_decoder.decode(self.body)
        return out

    def __getitem__(self, field: str) -> Any:
        if field == "apiVersion":
            return self.api_version
        if field == "kind":
            return self.kind
        if field == "metadata":
            return msgspec.to_builtins(self.metadata)
        return self.fields()[field]

    def get(self, field: str, default: Any = None) -> Any:
        """``self[field]``, or ``default`` when the object has no such top-level field."""
        try:
            return self[field]
        except KeyError:
            return default

    def __contains__(self, field: object) -> bool:
        if field in ("apiVersion", "kind", "metadata"):
            return True
        return isinstance(field, str) and field in self.fields()

    def keys(self) -> Iterator[str]:
        """The top-level field names."""
        yield from ("apiVersion", "kind", "metadata")
        yield from self.fields()

    def get_path(self, path: str) -> Any:
        """The value at a dotted path such as ``spec.nodeName`` (``None`` if absent, or if
        the path runs through something that is not an object).

        Fast: only the path is decoded, the rest of the body is skipped.
        """
        head, _, rest = path.partition(".")
        if head == "metadata":
            value: Any = msgspec.to_builtins(self.metadata)
            for part in rest.split(".") if rest else ():
                value = value.get(part) if isinstance(value, dict) else None
            return value
        if head in ("apiVersion", "kind") and not rest:
            return self.api_version if head == "apiVersion" else self.kind
        return _path_decoder(path)(self.body)

    def to_dict(self) -> dict[str, Any]:
        """The whole object as a new, mutable JSON ``dict``."""
        out: dict[str, Any] = _builtin_decoder.decode(encode_object(self))
        return out

    def __repr__(self) -> str:
        return f"Object({self.api_version} {self.kind} {self.key} rv={self.resource_version})"


class BodySpans(msgspec.Struct, frozen=True, gc=False):
    """Where each top-level field lies in the :attr:`Object.body` a :class:`Codec` built.

    ``fields`` are the codec's top-level fields in the order it writes them (shared by
    every span of that codec); ``ends[i]`` is the offset in the body just past field
    ``i`` (its name, colon and value, with the ``{`` or ``,`` before it), equal to the
    end of the field before it when the object has no field ``i``.

    Guarantee: for two bodies with their spans, equal :meth:`segment` bytes mean equal
    values of that field (the bytes hold its name and its whole JSON text). A store uses
    it to skip decoding an indexed path whose field did not change.
    """

    fields: tuple[str, ...]
    ends: tuple[int, ...]

    def segment(self, field: str) -> tuple[int, int] | None:
        """``(start, end)`` of ``field`` in the body, or ``None`` when it is absent."""
        fields = self.fields
        if field not in fields:
            return None
        i = fields.index(field)
        ends = self.ends
        start = ends[i - 1] if i else 0
        end = ends[i]
        return (start, end) if end > start else None


# ---------------------------------------------------------------------------------------
# Decoding

# Top-level fields (besides apiVersion, kind, metadata) of the built-in kinds. A codec for a
# kind decodes objects with exactly these fields in one pass; an object with any other
# top-level field (a CRD with extra fields, a Status in an ERROR event) takes the generic
# path, which is a little slower but loses nothing.
TOP_LEVEL_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "ConfigMap": ("data", "binaryData", "immutable"),
    "Secret": ("data", "stringData", "type", "immutable"),
    "ServiceAccount": ("secrets", "imagePullSecrets", "automountServiceAccountToken"),
    "Endpoints": ("subsets",),
    "Role": ("rules",),
    "ClusterRole": ("rules", "aggregationRule"),
    "RoleBinding": ("subjects", "roleRef"),
    "ClusterRoleBinding": ("subjects", "roleRef"),
    "Event": (
        "involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp",
        "count", "type", "eventTime", "series", "action", "related", "reportingComponent",
        "reportingInstance", "regarding", "note", "reportingController", "deprecatedSource",
        "deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount",
    ),
}  # fmt: skip
DEFAULT_TOP_LEVEL_FIELDS: Final = ("spec", "status")

_builtin_decoder: Final = msgspec.json.Decoder(dict[str, Any])
_generic_top_decoder: Final = msgspec.json.Decoder(dict[str, msgspec.Raw])
_meta_decoder: Final = msgspec.json.Decoder(ObjectMeta)
_meta_mf_decoder: Final = msgspec.json.Decoder(ObjectMetaWithManagedFields)
_str_decoder: Final = msgspec.json.Decoder(str)
_encoder: Final = msgspec.json.Encoder()


def _generic(data: bytes | memoryview | msgspec.Raw, keep_managed_fields: bool) -> Object:
    top = _generic_top_decoder.decode(data)
    meta_raw = top.pop("metadata", None)
    api_version = top.pop("apiVersion", None)
    kind = top.pop("kind", None)
    meta_decoder = _meta_mf_decoder if keep_managed_fields else _meta_decoder
    meta = meta_decoder.decode(meta_raw) if meta_raw is not None else ObjectMeta()
    parts: list[Any] = []
    for k, v in top.items():
        parts.append(b"," if parts else b"{")
        parts.append(_encoder.encode(k))
        parts.append(b":")
        parts.append(v)
    if parts:
        parts.append(b"}")
    body = b"".join(parts) if parts else b"{}"
    return Object(
        api_version=_str_decoder.decode(api_version) if api_version else "",
        kind=_str_decoder.decode(kind) if kind else "",
        metadata=meta,
        body=body,
    )


class _EventEnvelope(msgspec.Struct):
    type: str
    object: msgspec.Raw


class _ListEnvelope(msgspec.Struct):
    apiVersion: str = ""
    kind: str = ""
    metadata: ListMeta = ListMeta()
    items: list[msgspec.Raw] | None = None


def _item_kind(list_kind: str) -> str:
    """``DeploymentList`` -> ``Deployment`` (``""`` for anything else)."""
    return list_kind[:-4] if list_kind.endswith("List") else ""


def _typed(obj: Object, api_version: str, kind: str) -> Object:
    """``obj`` with the list's apiVersion and kind where it has none of its own."""
    if (obj.api_version and obj.kind) or not (api_version and kind):
        return obj
    return Object(obj.api_version or api_version, obj.kind or kind, obj.metadata, obj.body)


_event_decoder: Final = msgspec.json.Decoder(_EventEnvelope)
_list_decoder: Final = msgspec.json.Decoder(_ListEnvelope)


class Codec:
    """Decodes the objects of one kind into :class:`Object` in a single pass.

    ``top_level_fields`` are the kind's top-level fields besides apiVersion, kind and
    metadata; objects with others are still decoded exactly, by a slower generic path.
    ``keep_managed_fields=False`` (the default) strips ``metadata.managedFields``.
    Instances are immutable and thread-safe; get them from :func:`codec_for`.
    """

    def __init__(
        self,
        top_level_fields: tuple[str, ...] = DEFAULT_TOP_LEVEL_FIELDS,
        *,
        keep_managed_fields: bool = False,
    ) -> None:
        self.top_level_fields = top_level_fields
        self.keep_managed_fields = keep_managed_fields
        meta_type = ObjectMetaWithManagedFields if keep_managed_fields else ObjectMeta
        top = msgspec.defstruct(
            "_Top",
            [
                ("apiVersion", str, ""),
                ("kind", str, ""),
                ("metadata", meta_type, msgspec.field(default_factory=meta_type)),
                *((n, msgspec.Raw | msgspec.UnsetType, msgspec.UNSET) for n in top_level_fields),
            ],
            forbid_unknown_fields=True,
        )
        event = msgspec.defstruct("_Event", [("type", str), ("object", top)])
        lst = msgspec.defstruct(
            "_List",
            [
                ("apiVersion", str, ""),
                ("kind", str, ""),
                ("metadata", ListMeta, msgspec.field(default_factory=ListMeta)),
                ("items", list[top] | None, None),  # type: ignore[valid-type]
            ],
        )
        self._top: msgspec.json.Decoder[Any] = msgspec.json.Decoder(top)
        self._event: msgspec.json.Decoder[Any] = msgspec.json.Decoder(event)
        self._list: msgspec.json.Decoder[Any] = msgspec.json.Decoder(lst)
        # '{"spec":' for the first field present, ',"status":' for the others.
        self._prefixes = tuple(
            (n, f'{{"{n}":'.encode(), f',"{n}":'.encode()) for n in top_level_fields
        )
        # The codec of most kinds (spec and status), with both present: its own path.
        self._pair = (
            (operator.attrgetter(*top_level_fields), self._prefixes[0][1], self._prefixes[1][2])
            if len(top_level_fields) == 2
            else None
        )

    def _from_top(self, top: Any, api_version: str = "", kind: str = "") -> Object:
        # The body in one copy: the raw fields (views into the decoded line, which may
        # be a memoryview of a larger read) are joined once, with no intermediate bytes.
        parts: list[Any] = []
        append = parts.append
        for name, first, prefix in self._prefixes:
            raw = getattr(top, name)
            if raw is not msgspec.UNSET:
                append(prefix if parts else first)
                append(raw)
        if parts:
            append(b"}")
            body = b"".join(parts)
        else:
            body = b"{}"
        return Object(top.apiVersion or api_version, top.kind or kind, top.metadata, body)

    def _from_top_spans(
        self, top: Any, api_version: str = "", kind: str = ""
    ) -> tuple[Object, BodySpans]:
        """:meth:`_from_top` and where each field went in the body."""
        pair = self._pair
        if pair is not None:
            # Two fields, both present (a pod's spec and status): one join, no loop.
            fields_of, first, second = pair
            a, b = fields_of(top)
            if a is not msgspec.UNSET and b is not msgspec.UNSET:
                end = len(first) + len(a)
                obj = Object(top.apiVersion or api_version, top.kind or kind, top.metadata,
                             b"".join((first, a, second, b, b"}")))
                return obj, BodySpans(self.top_level_fields, (end, end + len(second) + len(b)))
        parts: list[Any] = []
        append = parts.append
        ends: list[int] = []
        pos = 0
        for name, first, prefix in self._prefixes:
            raw = getattr(top, name)
            if raw is not msgspec.UNSET:
                head = prefix if parts else first
                append(head)
                append(raw)
                pos += len(head) + len(raw)
            ends.append(pos)
        if parts:
            append(b"}")
            body = b"".join(parts)
        else:
            body = b"{}"
        obj = Object(top.apiVersion or api_version, top.kind or kind, top.metadata, body)
        return obj, BodySpans(self.top_level_fields, tuple(ends))

    def body_spans(self, body: bytes) -> BodySpans | None:
        """The :class:`BodySpans` of ``body``, an :attr:`Object.body` this codec built (the
        spans its decode gave with it), or ``None`` when ``body`` is not laid out the way
        this codec builds bodies (another field or order, whitespace).

        For spans that were not kept: it costs one decode of ``body`` (the fields are
        skipped, not built). Guarantee: spans returned describe ``body`` exactly (each
        field's name and value are checked to lie where the spans say), so they may be
        compared with any other spans of this codec.
        """
        try:
            top = self._top.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        ends: list[int] = []
        pos = 0
        for name, first, prefix in self._prefixes:
            raw = getattr(top, name)
            if raw is not msgspec.UNSET:
                head = prefix if pos else first
                if not body.startswith(head, pos):
                    return None
                pos += len(head) + len(raw)
            ends.append(pos)
        if (pos + 1 != len(body)) if pos else (body != b"{}"):
            return None
        return BodySpans(self.top_level_fields, tuple(ends))

    def decode_object(self, data: bytes | memoryview | msgspec.Raw) -> Object:
        """Decode one object's JSON.

        Raises :class:`msgspec.DecodeError` (a :class:`ValueError`) for malformed JSON and
        :class:`msgspec.ValidationError` for JSON that is not an object.
        """
        try:
            top = self._top.decode(data)
        except msgspec.ValidationError:
            return _generic(data, self.keep_managed_fields)
        return self._from_top(top)

    def decode_watch_event(self, line: bytes | memoryview) -> tuple[WatchEventType, Object]:
        """Decode one watch line into ``(type, object)``.

        An ERROR event's object is the server's Status, decoded exactly (its ``code``,
        ``reason`` and ``message`` are in ``object.fields()``). Raises
        :class:`msgspec.DecodeError` for a malformed or truncated line and
        :class:`msgspec.ValidationError` when ``type`` or ``object`` is missing or mistyped.
        """
        try:
            ev = self._event.decode(line)
        except msgspec.ValidationError:
            env = _event_decoder.decode(line)
            return env.type, _generic(env.object, self.keep_managed_fields)
        return ev.type, self._from_top(ev.object)

    def decode_watch_event_spans(
        self, line: bytes | memoryview
    ) -> tuple[WatchEventType, Object, BodySpans | None]:
        """:meth:`decode_watch_event`, with the :class:`BodySpans` of the object's body.

        The spans are ``None`` for an object decoded by the generic path (a field the
        codec does not know, or an ERROR event's Status). Same errors.
        """
        try:
            ev = self._event.decode(line)
        except msgspec.ValidationError:
            env = _event_decoder.decode(line)
            return env.type, _generic(env.object, self.keep_managed_fields), None
        obj, spans = self._from_top_spans(ev.object)
        return ev.type, obj, spans

    def decode_watch_lines_spans(
        self, data: bytes | memoryview
    ) -> list[tuple[WatchEventType, Object, BodySpans]]:
        """:meth:`decode_watch_event_spans` of every line of ``data`` (newline-delimited
        watch events; blank lines are skipped), in one call: the lines are found and
        decoded by ``msgspec`` itself, which costs less than cutting them in Python and
        decoding them one by one.

        All or nothing: when any line is malformed (:class:`msgspec.DecodeError`) or not
        of the shape this codec decodes in one pass (:class:`msgspec.ValidationError`: an
        ERROR event's Status, a top-level field the codec does not know), it raises and
        returns nothing; decode the lines one by one then to find out which. Nothing
        returned keeps a reference to ``data``.
        """
        from_top = self._from_top_spans
        out: list[tuple[WatchEventType, Object, BodySpans]] = []
        append = out.append
        for ev in self._event.decode_lines(data):
            obj, spans = from_top(ev.object)
            append((ev.type, obj, spans))
        return out

    def decode_list(self, data: bytes | memoryview) -> tuple[ListMeta, list[Object]]:
        """Decode a List response into its :class:`ListMeta` and its items.

        kube-apiserver leaves ``apiVersion`` and ``kind`` out of the items of a list of
        built-in objects (they are the list's: ``apps/v1``, ``DeploymentList``); items
        without them get the list's apiVersion and the kind it lists, so every object
        decoded says what it is, as one read with a GET or from a watch does.
        """
        try:
            lst = self._list.decode(data)
        except msgspec.ValidationError:
            env = _list_decoder.decode(data)
            api_version, kind = env.apiVersion, _item_kind(env.kind)
            return env.metadata, [_typed(self.decode_object(raw), api_version, kind)
                                  for raw in env.items or ()]
        from_top, api_version, kind = self._from_top, lst.apiVersion, _item_kind(lst.kind)
        if not (api_version and kind):
            api_version = kind = ""
        return lst.metadata, [from_top(t, api_version, kind) for t in lst.items or ()]


    def decode_list_spans(
        self, data: bytes | memoryview
    ) -> tuple[ListMeta, list[Object], list[BodySpans] | None]:
        """:meth:`decode_list`, with the :class:`BodySpans` of each item (``None`` when
        the list took the generic path). Same errors."""
        try:
            lst = self._list.decode(data)
        except msgspec.ValidationError:
            meta, generic = self.decode_list(data)
            return meta, generic, None
        api_version, kind = lst.apiVersion, _item_kind(lst.kind)
        if not (api_version and kind):
            api_version = kind = ""
        objects: list[Object] = []
        spans: list[BodySpans] = []
        from_top = self._from_top_spans
        add_object, add_span = objects.append, spans.append
        for t in lst.items or ():
            obj, span = from_top(t, api_version, kind)
            add_object(obj)
            add_span(span)
        return lst.metadata, objects, spans


_codecs: dict[tuple[tuple[str, ...], bool], Codec] = {}


def codec_for(kind: str | None = None, *, keep_managed_fields: bool = False) -> Codec:
    """The shared :class:`Codec` for ``kind`` (any kind works; built-ins are fastest)."""
    fields = TOP_LEVEL_FIELDS.get(kind or "", DEFAULT_TOP_LEVEL_FIELDS)
    key = (fields, keep_managed_fields)
    codec = _codecs.get(key)
    if codec is None:
        codec = _codecs[key] = Codec(fields, keep_managed_fields=keep_managed_fields)
    return codec


def decode_object(
    data: bytes | memoryview | msgspec.Raw, *, keep_managed_fields: bool = False
) -> Object:
    """Decode one object of any kind (see :meth:`Codec.decode_object`)."""
    return _generic(data, keep_managed_fields)


def decode_watch_event(
    line: bytes | memoryview, *, kind: str | None = None, keep_managed_fields: bool = False
) -> tuple[WatchEventType, Object]:
    """Decode one watch line (see :meth:`Codec.decode_watch_event`)."""
    return codec_for(kind, keep_managed_fields=keep_managed_fields).decode_watch_event(line)


def decode_list(
    data: bytes, *, kind: str | None = None, keep_managed_fields: bool = False
) -> tuple[ListMeta, list[Object]]:
    """Decode a List response (see :meth:`Codec.decode_list`)."""
    return codec_for(kind, keep_managed_fields=keep_managed_fields).decode_list(data)


def encode_object(obj: Object) -> bytes:
    """The JSON text of ``obj`` (without managedFields unless they were kept)."""
    head = b'{"apiVersion":%b,"kind":%b,"metadata":%b' % (
        _encoder.encode(obj.api_version),
        _encoder.encode(obj.kind),
        _encoder.encode(obj.metadata),
    )
    body = obj.body
    if len(body) <= 2:
        return head + b"}"
    return head + b"," + body[1:]


def object_from_dict(obj: dict[str, Any], *, keep_managed_fields: bool = False) -> Object:
    """An :class:`Object` from a JSON ``dict`` (for tests and for objects built in code)."""
    return decode_object(_encoder.encode(obj), keep_managed_fields=keep_managed_fields)


# ---------------------------------------------------------------------------------------
# Decoding a single path without decoding the rest


_path_decoders: dict[str, Any] = {}


def path_in_field(body: bytes, head: str, rest: str, segment: tuple[int, int]) -> Any:
    """The value at dotted path ``rest`` inside top-level field ``head`` of ``body``, read
    from ``segment`` only: ``body[segment[0]:segment[1]]`` is the field as a
    :class:`Codec` wrote it (``{"head":`` or ``,"head":``, then its value). ``None`` when
    absent or not reachable (see :func:`_path_decoder`); a body not laid out so is read
    whole (the same value, only slower). For JSON without duplicate keys (the apiserver
    never sends any) the value is the one a decode of the whole body gives."""
    if "." not in rest:
        return member_in_field(head, rest)(body, segment)
    start, end = segment
    key = _json_keys[head]
    skip = start + 1 + len(key)  # the '{' or ',', then '"head":'
    if not skip < end <= len(body) or not body.startswith(key, start + 1):
        return _path_decoder(f"{head}.{rest}")(body)
    return _path_decoder(rest)(memoryview(body)[skip:end])


MemberReader = Callable[[bytes, tuple[int, int]], Any]
_member_readers: dict[tuple[str, str], MemberReader] = {}


def member_in_field(head: str, name: str) -> MemberReader:
    """``read(body, segment)``: :func:`path_in_field` for member ``name`` of top-level
    field ``head`` (``spec`` and ``nodeName``), made once per pair (cached), so that a
    caller reading the same path of many bodies looks nothing up again.

    The member is read from the last ``"name":`` in the field to the field's end: most
    of an object is skipped (a pod's ``nodeName`` comes after its containers), and
    nothing before that key is scanned. The found ``"name":`` is a key (a quote inside a
    string follows a backslash, never ``{`` or ``,``), and it is a key of this object,
    not of one inside it, exactly when ``{`` followed by the rest of the object is one
    valid JSON object (from deeper down, the rest closes more than it opens). Being the
    last, it is the one a decode of the whole object keeps: the last of duplicate keys
    wins there too (msgspec's rule, and Go's ``encoding/json``'s); a later spelling of
    the name with escapes is in the rest, where the member decoder sees it last. When
    the key is absent, or written with spaces or escapes, or is a deeper one, the whole
    field is decoded. The one difference from a whole decode: an earlier duplicate whose
    value cannot be read (a number out of range) fails that decode, not this read.
    """
    reader = _member_readers.get((head, name))
    if reader is not None:
        return reader
    key = _json_keys[head]
    token = _json_keys[name]
    member = _path_decoder(name)  # its value is None when it cannot be read
    whole = _path_decoder(f"{head}.{name}")
    after_key = 1 + len(key)
    decode_error = msgspec.DecodeError

    def read(body: bytes, segment: tuple[int, int]) -> Any:
        start, end = segment
        skip = start + after_key  # the '{' or ',', then '"head":'
        if not skip < end <= len(body) or not body.startswith(key, start + 1):
            return whole(body)
        hit = body.rfind(token, skip, end)
        if hit > skip and body[hit - 1] in b"{,":
            try:
                return member(b"{" + body[hit:end])
            except decode_error:  # not one object: a deeper key, or no value
                pass
        return member(memoryview(body)[skip:end])

    reader = _member_readers[(head, name)] = read
    return reader


class _JsonKeys(dict[str, bytes]):
    """``b'"nodeName":'`` for ``nodeName`` (the name as JSON, then a colon), made once."""

    def __missing__(self, name: str) -> bytes:
        key = self[name] = _encoder.encode(name) + b":"
        return key


_json_keys: Final = _JsonKeys()


def _path_decoder(path: str) -> Any:
    """A function ``body -> value`` that decodes only ``path`` (cached per path).

    The value is ``None`` when the path is absent, or runs through something that is not
    an object (``spec`` is a string, say), or ends at a number too large for a float: a
    field read never fails on an object's content. A part may be any JSON key
    (``data.my-key`` works). Malformed JSON still raises :class:`msgspec.DecodeError`.
    """
    fn = _path_decoders.get(path)
    if fn is not None:
        return fn
    parts = path.split(".")
    leaf: Any = Any
    struct_type: Any = None
    for i, part in enumerate(reversed(parts)):
        inner = leaf if struct_type is None else struct_type | None
        struct_type = msgspec.defstruct(
            f"_Path_{len(_path_decoders)}_{i}",
            [("value", inner, msgspec.field(default=None, name=part))],
        )
        leaf = struct_type
    decode_struct = msgspec.json.Decoder(struct_type).decode
    depth = len(parts)
    if depth == 1:  # the common case (a member of a top-level field), without the loop

        def decode(body: bytes) -> Any:
            try:
                return decode_struct(body).value
            except msgspec.ValidationError:  # no such number
                return None

    else:

        def decode(body: bytes) -> Any:
            try:
                node: Any = decode_struct(body)
            except msgspec.ValidationError:  # not an object on the way, or no such number
                return None
            for _ in range(depth):
                if node is None:
                    return None
                node = node.value
            return node

    _path_decoders[path] = decode
    return decode
