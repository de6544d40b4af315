"""Informer snapshots: a cache written to disk, to warm-start an informer without a list.

Format, version 4 (what :func:`write_snapshot` writes): the 9 bytes ``KCSSNAP4\\n``, then
one MessagePack array of four items: the header, a map (``kind`` ``"InformerSnapshot"``,
``version`` 4, ``resource``, ``apiVersion``, ``resourceVersion``, ``count``), checked
first; the CRC-32 of the third item; the third item, ``columns``, a binary holding one
MessagePack map; and the fourth, ``bodies``, an array of binaries holding every object's
body, back to back, in order (a new binary starts before 2 GiB, always at an object).

``columns`` holds one entry per object in the same order, as columns: ``types`` (the
distinct ``[apiVersion, kind]`` pairs) and ``typeIndex`` (each object's pair, empty when
there is one pair); ``keys`` (each object's ``namespace/name``); ``metadata``, a binary of
each object's typed metadata as MessagePack, back to back, with ``metadataEnds`` (the
offset just past each); ``bodyEnds`` (the offset, in its binary of ``bodies``, just past
each body) and ``bodyChunks`` (the position of each binary's first object); and
``indexes``, the store's namespace, label and field indexes as a
:class:`kcs.cache.IndexImage` with the value of every bucket (``namespace`` /
``namespaceValues``, ``allLabels``, ``labels`` / ``labelValues``, ``fields``).

Reading it maps the file and decodes ``columns`` (its checksum verified first) and
nothing per object: the objects are made undecoded (:mod:`kcs.informer._mapped`), each
decoding its metadata and copying its body from the mapping on first use, and every index
bucket is restored whole from its saved positions and value, so a warm start reads no
object. The bodies are not checksummed (each is JSON text, checked when read, as a body
from the apiserver is); everything a restore trusts is.

Versions 3 (metadata and bodies decoded per object, index buckets by position only), 2
(one MessagePack map with the objects and the field values) and 1 (JSON lines: a header
line, then each object as :func:`kcs.core.encode_object` writes it) are still read. A
file that is truncated, malformed, damaged or for another resource is rejected as a whole
(:class:`SnapshotError`).

Writes are atomic: the file is written beside its final name, flushed to disk, then
renamed over it, so a reader sees the previous snapshot or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
import operator
import os
import tempfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Generic, TypeVar

import msgspec

from kcs.cache import IndexImage
from kcs.core import Codec, Object, ObjectMeta, ObjectMetaWithManagedFields, Resource
from kcs.informer._mapped import MappedColumns, mapped_objects

__all__ = ["Snapshot", "SnapshotError", "read_snapshot", "write_snapshot"]

_KIND = "InformerSnapshot"
_VERSION = 4
_MAGIC_V2 = b"KCSSNAP2\n"
_MAGIC_V3 = b"KCSSNAP3\n"
_MAGIC = b"KCSSNAP4\n"
_CHUNK = 1 << 31  # a MessagePack binary holds less than 4 GiB: bodies go in chunks


class SnapshotError(ValueError):
    """A snapshot file cannot be used: missing, malformed, truncated or for another resource."""


class _Header(msgspec.Struct, rename="camel"):
    """The first line of a version 1 file (JSON lines), and the start of a version 2 one."""

    kind: str
    version: int
    resource: str
    api_version: str
    resource_version: str
    count: int


_header_decoder = msgspec.json.Decoder(_Header)

# --- version 3 ---------------------------------------------------------------------------

_Position = Annotated[int, msgspec.Meta(ge=0)]
_PositionBuckets = tuple[list[_Position], list[list[_Position]]]


class _FieldImage(msgspec.Struct, array_like=True):
    values: list[str]
    buckets: _PositionBuckets


class _Indexes(msgspec.Struct, rename="camel", omit_defaults=True):
    namespace: _PositionBuckets | None = None
    all_labels: bool = False
    labels: dict[str, _PositionBuckets] = {}
    fields: dict[str, _FieldImage] = {}


_Meta = TypeVar("_Meta", ObjectMeta, ObjectMetaWithManagedFields)


class _Payload(msgspec.Struct, Generic[_Meta], rename="camel"):
    """A version 3 file's columns, with the metadata type of the informer reading it
    (with or without managedFields)."""

    types: list[tuple[str, str]]
    type_index: list[_Position]
    metadata: list[_Meta]
    bodies: list[bytes]
    indexes: _Indexes


_encoder = msgspec.msgpack.Encoder()
# One decode of the whole file. The header is checked after it: a file for another
# resource is a mistake, not a case to make fast.
_v3_decoder = msgspec.msgpack.Decoder(tuple[_Header, _Payload[ObjectMeta]])
_v3_decoder_mf = msgspec.msgpack.Decoder(
    tuple[_Header, _Payload[ObjectMetaWithManagedFields]]
)

# --- version 4 ---------------------------------------------------------------------------

_BucketValues = tuple[list[str], list[str]]


class _IndexesV4(_Indexes, rename="camel", omit_defaults=True):
    """Version 3's index image, and each bucket's value beside its positions."""

    namespace_values: _BucketValues | None = None
    label_values: dict[str, _BucketValues] = {}


class _Columns(msgspec.Struct, rename="camel"):
    types: list[tuple[str, str]]
    type_index: list[_Position]
    keys: list[str]
    metadata_ends: list[_Position]
    metadata: memoryview
    body_ends: list[_Position]
    body_chunks: list[_Position]
    indexes: _IndexesV4


# header, CRC-32 of the columns, the columns (a binary: a view of the mapped file), bodies
_v4_decoder = msgspec.msgpack.Decoder(tuple[_Header, int, memoryview, list[memoryview]])
_columns_decoder = msgspec.msgpack.Decoder(_Columns)
_meta_decoder = msgspec.msgpack.Decoder(ObjectMeta)
_meta_mf_decoder = msgspec.msgpack.Decoder(ObjectMetaWithManagedFields)

# --- version 2 ---------------------------------------------------------------------------


class _SnapshotV2(_Header):
    """Version 2: the header's fields, then the objects and their field index values."""

    objects: list[Object]
    fields: dict[str, list[str]] = {}


_v2_decoder = msgspec.msgpack.Decoder(_SnapshotV2)


class Snapshot(msgspec.Struct, frozen=True):
    """What a snapshot holds: the cache's ``resource_version``, its ``objects``, and the
    store's indexes over them (``image``, a :class:`kcs.cache.IndexImage` by position in
    ``objects``; ``None`` before version 3). ``keys`` are the objects' keys in the same
    order (``None`` before version 4, whose objects are decoded on first use: see
    :mod:`kcs.informer._mapped`). ``fields`` are a version 2 file's field index values
    by path, in the order of ``objects`` (empty otherwise). ``version`` is the file's
    format version."""

    resource_version: str
    objects: list[Object]
    image: IndexImage | None = None
    fields: dict[str, list[str]] = {}
    version: int = _VERSION
    keys: list[str] | None = None


def write_snapshot(
    path: str | os.PathLike[str],
    resource: Resource,
    resource_version: str,
    objects: Sequence[Object],
    image: IndexImage | None = None,
    keys: Sequence[str] | None = None,
) -> int:
    """Write ``objects`` (the cache at ``resource_version``) to ``path`` atomically.

    ``image`` is the store's :meth:`~kcs.cache.Store.index_image` by position in
    ``objects``, saved with them; ``keys`` are the objects' keys in that order (the keys
    the image was made with; read from the objects when not given). Returns the number
    of objects written. Raises ``ValueError`` (writing nothing) when the columns would
    exceed 4 GiB, which MessagePack cannot hold (some six million pods). Blocking: run it
    in a worker thread.
    """
    types: dict[tuple[str, str], int] = {}
    type_index = [types.setdefault((o.api_version, o.kind), len(types)) for o in objects]
    if len(types) <= 1:
        type_index = []
    keys = list(keys) if keys is not None else [o.key for o in objects]
    if len(keys) != len(objects):
        raise ValueError(f"{len(keys)} keys for {len(objects)} objects")
    image = image if image is not None else IndexImage()
    indexes = _IndexesV4(
        namespace=image.namespace,
        namespace_values=image.namespace_values,
        all_labels=image.all_labels,
        labels=dict(image.labels),
        label_values=dict(image.label_values),
        fields={p: _FieldImage(values, buckets) for p, (values, buckets) in image.fields.items()},
    )
    encode = _encoder.encode
    metadata = [encode(o.metadata) for o in objects]
    bodies = [o.body for o in objects]
    # Bodies in chunks of less than _CHUNK bytes, split between two objects.
    body_ends: list[int] = []
    body_chunks: list[int] = []
    chunks: list[list[bytes]] = []
    size = _CHUNK
    for i, body in enumerate(bodies):
        if size + len(body) >= _CHUNK:
            body_chunks.append(i)
            chunks.append([])
            size = 0
        size += len(body)
        body_ends.append(size)
        chunks[-1].append(body)
    columns = encode(_Columns(
        types=list(types),
        type_index=type_index,
        keys=keys,
        metadata_ends=list(itertools.accumulate(map(len, metadata))),
        metadata=memoryview(b"".join(metadata)),
        body_ends=body_ends,
        body_chunks=body_chunks,
        indexes=indexes,
    ))
    if len(columns) >= _CHUNK * 2:
        raise ValueError(f"{len(objects)} objects are too many for one snapshot")
    header = _Header(_KIND, _VERSION, str(resource), resource.api_version, resource_version,
                     len(objects))
    head = b"".join([
        b"\x94", encode(header), encode(zlib.crc32(columns)), _bin_head(len(columns)), columns,
        _array_head(len(chunks)),
    ])
    parts: list[bytes] = [head]
    for chunk in chunks:
        parts.append(_bin_head(sum(map(len, chunk))))
        parts.extend(chunk)
    _write_atomically(Path(path), parts)
    return len(objects)


def _bin_head(size: int) -> bytes:
    """The MessagePack head of a binary of ``size`` bytes (bin 32)."""
    return b"\xc6" + size.to_bytes(4, "big")


def _array_head(size: int) -> bytes:
    """The MessagePack head of an array of ``size`` items (array 32)."""
    return b"\xdd" + size.to_bytes(4, "big")


def _write_atomically(target: Path, parts: Iterable[bytes]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC)
            f.writelines(parts)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_snapshot(path: str | os.PathLike[str], resource: Resource, codec: Codec) -> Snapshot:
    """Read a snapshot of ``resource`` (any version); ``codec`` says whether metadata
    keeps its managedFields.

    Raises :class:`SnapshotError` for anything but a complete snapshot of ``resource``.
    Blocking: run it in a worker thread.
    """
    name = os.fspath(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise SnapshotError(f"snapshot {name!r} is empty")
            magic = f.read(len(_MAGIC))
            if magic not in (_MAGIC, _MAGIC_V3, _MAGIC_V2):
                if magic.startswith(_MAGIC[:-2]):
                    raise SnapshotError(
                        f"snapshot {name!r} is in format {magic.decode('ascii', 'replace')!r}, "
                        f"which this version of kcs does not read (it reads versions 1-4)"
                    )
                f.seek(0)
                return _read_v1(name, f.read(), resource, codec)
            if magic == _MAGIC:
                # Not closed here: the objects read from the mapping on first use, and it
                # is unmapped when the last view of it is gone.
                return _read_v4(name, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ),
                                resource, codec)
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
                if magic == _MAGIC_V3:
                    return _read_v3(name, view, resource, codec)
                return _read_v2(name, view, resource)
    except OSError as exc:
        raise SnapshotError(f"cannot read snapshot {name!r}: {exc}") from exc


def _malformed(name: str, exc: Exception) -> SnapshotError:
    return SnapshotError(f"snapshot {name!r} is truncated or malformed: {exc}")


def _read_v4(name: str, view: mmap.mmap, resource: Resource, codec: Codec) -> Snapshot:
    try:
        with memoryview(view) as data:
            header, checksum, columns_view, bodies = _v4_decoder.decode(data[len(_MAGIC):])
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _malformed(name, exc) from exc
    _check(name, header.kind, header.version, header.resource, header.api_version, resource,
           _VERSION)
    if zlib.crc32(columns_view) != checksum:
        raise SnapshotError(f"snapshot {name!r} is damaged: its checksum does not match")
    try:
        columns = _columns_decoder.decode(columns_view)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _malformed(name, exc) from exc
    count = header.count
    _check_columns(name, count, columns, bodies)
    api_versions, kinds = _types(name, count, columns.types, columns.type_index)
    decode = (_meta_mf_decoder if codec.keep_managed_fields else _meta_decoder).decode
    mapped = MappedColumns(columns.metadata, columns.metadata_ends, bodies, columns.body_ends,
                           columns.body_chunks, decode)
    objects = mapped_objects(api_versions, kinds, mapped, count)
    indexes = columns.indexes
    fields = {p: (f.values, f.buckets) for p, f in indexes.fields.items()}
    if any(len(values) != count for values, _ in fields.values()):
        raise SnapshotError(f"snapshot {name!r} is truncated: a field index is short")
    image = IndexImage(namespace=indexes.namespace, labels=indexes.labels,
                       all_labels=indexes.all_labels, fields=fields,
                       namespace_values=indexes.namespace_values,
                       label_values=indexes.label_values)
    return Snapshot(header.resource_version, objects, image, keys=columns.keys)


def _check_columns(name: str, count: int, columns: _Columns, bodies: list[memoryview]) -> None:
    """That every object's metadata and body lie where the columns say, in order."""
    ends = columns.metadata_ends
    if len(columns.keys) != count or len(ends) != count or len(columns.body_ends) != count:
        raise SnapshotError(f"snapshot {name!r} is truncated: a column is short")
    if not _ascending(ends) or (ends[-1] if ends else 0) != len(columns.metadata):
        raise SnapshotError(f"snapshot {name!r} is malformed: bad metadata offsets")
    chunks = columns.body_chunks
    if len(chunks) != len(bodies) or (chunks and chunks[0] != 0) or (count and not chunks):
        raise SnapshotError(f"snapshot {name!r} is malformed: bad body chunks")
    for c, first in enumerate(chunks):
        last = chunks[c + 1] if c + 1 < len(chunks) else count
        in_chunk = columns.body_ends[first:last]
        if not in_chunk or not _ascending(in_chunk) or in_chunk[-1] != len(bodies[c]):
            raise SnapshotError(f"snapshot {name!r} is malformed: bad body offsets")


def _ascending(values: list[int]) -> bool:
    """Whether ``values`` never decrease."""
    return all(map(operator.le, values, itertools.islice(values, 1, None)))


def _types(
    name: str, count: int, types: list[tuple[str, str]], type_index: list[int]
) -> tuple[Iterable[str], Iterable[str]]:
    """Each object's apiVersion and kind, from the distinct pairs and their positions."""
    if type_index:
        if len(type_index) != count or max(type_index) >= len(types):
            raise SnapshotError(f"snapshot {name!r} is malformed: bad object types")
        return [types[i][0] for i in type_index], [types[i][1] for i in type_index]
    if count:
        if len(types) != 1:
            raise SnapshotError(f"snapshot {name!r} is malformed: bad object types")
        return itertools.repeat(types[0][0]), itertools.repeat(types[0][1])
    return (), ()


def _read_v3(name: str, view: mmap.mmap, resource: Resource, codec: Codec) -> Snapshot:
    decoder = _v3_decoder_mf if codec.keep_managed_fields else _v3_decoder
    try:
        with memoryview(view) as data:
            header, payload = decoder.decode(data[len(_MAGIC):])
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _malformed(name, exc) from exc
    _check(name, header.kind, header.version, header.resource, header.api_version, resource, 3)
    count, metadata, bodies = header.count, payload.metadata, payload.bodies
    if len(metadata) != count or len(bodies) != count:
        raise SnapshotError(
            f"snapshot {name!r} is truncated: {len(metadata)} of {count} objects"
        )
    api_versions, kinds = _types(name, count, payload.types, payload.type_index)
    objects = list(map(Object, api_versions, kinds, metadata, bodies))
    indexes = payload.indexes
    fields = {p: (f.values, f.buckets) for p, f in indexes.fields.items()}
    if any(len(values) != count for values, _ in fields.values()):
        raise SnapshotError(f"snapshot {name!r} is truncated: a field index is short")
    image = IndexImage(namespace=indexes.namespace, labels=indexes.labels,
                       all_labels=indexes.all_labels, fields=fields)
    return Snapshot(header.resource_version, objects, image, version=3)


def _read_v2(name: str, view: mmap.mmap, resource: Resource) -> Snapshot:
    try:
        with memoryview(view) as data:
            snap = _v2_decoder.decode(data[len(_MAGIC_V2):])
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _malformed(name, exc) from exc
    _check(name, snap.kind, snap.version, snap.resource, snap.api_version, resource, 2)
    if len(snap.objects) != snap.count or any(
        len(values) != snap.count for values in snap.fields.values()
    ):
        raise SnapshotError(
            f"snapshot {name!r} is truncated: {len(snap.objects)} of {snap.count} objects"
        )
    return Snapshot(snap.resource_version, snap.objects, None, snap.fields, 2)


def _check(
    name: str, kind: str, version: int, holds: str, api_version: str, resource: Resource,
    expected_version: int,
) -> None:
    if kind != _KIND or version != expected_version:
        raise SnapshotError(f"{name!r} is not a version {expected_version} informer snapshot")
    if holds != str(resource) or api_version != resource.api_version:
        raise SnapshotError(
            f"snapshot {name!r} holds {holds} ({api_version}), "
            f"not {resource} ({resource.api_version})"
        )


def _read_v1(name: str, data: bytes, resource: Resource, codec: Codec) -> Snapshot:
    """Version 1: JSON lines."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        raise SnapshotError(f"snapshot {name!r} is empty")
    try:
        header = _header_decoder.decode(lines[0])
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise SnapshotError(f"snapshot {name!r} has no valid header: {exc}") from exc
    _check(name, header.kind, header.version, header.resource, header.api_version, resource, 1)
    if len(lines) - 1 != header.count:
        raise SnapshotError(
            f"snapshot {name!r} is truncated: {len(lines) - 1} of {header.count} objects"
        )
    try:
        objects = [codec.decode_object(line) for line in lines[1:]]
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise SnapshotError(f"snapshot {name!r} holds a malformed object: {exc}") from exc
    return Snapshot(header.resource_version, objects, None, {}, 1)
