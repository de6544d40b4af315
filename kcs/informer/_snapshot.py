"""Informer snapshots: a cache written to disk, to warm-start an informer without a list.

Format, version 3 (what :func:`write_snapshot` writes): the 9 bytes ``KCSSNAP3\\n``, then
one MessagePack array of two items. The first is the header, a map: ``kind``
``"InformerSnapshot"``, ``version`` 3, ``resource``, ``apiVersion``, ``resourceVersion``,
``count``; it is checked before the rest is decoded. The second is the payload, a map of
columns, one entry per object in the same order: ``types`` (the distinct
``[apiVersion, kind]`` pairs) and ``typeIndex`` (each object's pair, empty when there is
one pair), ``metadata`` (each object's typed metadata), ``bodies`` (each object's body
bytes), and ``indexes``: the store's namespace, label and field indexes as a
:class:`kcs.cache.IndexImage` (``namespace``, ``allLabels``, ``labels``, ``fields``:
buckets as positions in the columns, field values as a column). Reading it is one binary
decode of the memory-mapped file per column, and every index bucket is restored whole;
nothing is decoded from the bodies, and no object is indexed one by one.

Version 2 (one MessagePack map with the objects and the field values) and version 1
(JSON lines: a header line, then each object as :func:`kcs.core.encode_object` writes
it) are still read. A file that is truncated, malformed or for another resource is
rejected as a whole (:class:`SnapshotError`).

Writes are atomic: the file is written beside its final name, flushed to disk, then
renamed over it, so a reader sees the previous snapshot or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated

import msgspec

from kcs.cache import IndexImage
from kcs.core import Codec, Object, ObjectMeta, ObjectMetaWithManagedFields, Resource

__all__ = ["Snapshot", "SnapshotError", "read_snapshot", "write_snapshot"]

_KIND = "InformerSnapshot"
_VERSION = 3
_MAGIC_V2 = b"KCSSNAP2\n"
_MAGIC = b"KCSSNAP3\n"


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


class _Payload(msgspec.Struct, rename="camel"):
    types: list[tuple[str, str]]
    type_index: list[_Position]
    metadata: list[ObjectMeta]
    bodies: list[bytes]
    indexes: _Indexes


class _PayloadWithManagedFields(msgspec.Struct, rename="camel"):
    """The same, read by an informer that keeps managedFields."""

    types: list[tuple[str, str]]
    type_index: list[_Position]
    metadata: list[ObjectMetaWithManagedFields]
    bodies: list[bytes]
    indexes: _Indexes


_v3_encoder = msgspec.msgpack.Encoder()
# One decode of the whole file. The header is checked after it: a file for another
# resource is a mistake, not a case to make fast.
_v3_decoder = msgspec.msgpack.Decoder(tuple[_Header, _Payload])
_v3_decoder_mf = msgspec.msgpack.Decoder(tuple[_Header, _PayloadWithManagedFields])

# --- version 2 ---------------------------------------------------------------------------


class _SnapshotV2(_Header):
    """Version 2: the header's fields, then the objects and their field index values."""

    objects: list[Object]
    fields: dict[str, list[str]] = {}


_v2_decoder = msgspec.msgpack.Decoder(_SnapshotV2)


class Snapshot(msgspec.Struct, frozen=True):
    """What a snapshot holds: the cache's ``resource_version``, its ``objects``, and the
    store's indexes over them (``image``, a :class:`kcs.cache.IndexImage` by position in
    ``objects``; ``None`` before version 3). ``fields`` are a version 2 file's field index
    values by path, in the order of ``objects`` (empty otherwise). ``version`` is the
    file's format version."""

    resource_version: str
    objects: list[Object]
    image: IndexImage | None = None
    fields: dict[str, list[str]] = {}
    version: int = _VERSION


def write_snapshot(
    path: str | os.PathLike[str],
    resource: Resource,
    resource_version: str,
    objects: Sequence[Object],
    image: IndexImage | None = None,
) -> int:
    """Write ``objects`` (the cache at ``resource_version``) to ``path`` atomically.

    ``image`` is the store's :meth:`~kcs.cache.Store.index_image` by position in
    ``objects``, saved with them. Returns the number of objects written. Blocking: run
    it in a worker thread.
    """
    types: dict[tuple[str, str], int] = {}
    type_index = [types.setdefault((o.api_version, o.kind), len(types)) for o in objects]
    if len(types) <= 1:
        type_index = []
    image = image if image is not None else IndexImage()
    indexes = _Indexes(
        namespace=image.namespace,
        all_labels=image.all_labels,
        labels=dict(image.labels),
        fields={p: _FieldImage(values, buckets) for p, (values, buckets) in image.fields.items()},
    )
    payload = _Payload(
        types=list(types),
        type_index=type_index,
        metadata=[o.metadata for o in objects],
        bodies=[o.body for o in objects],
        indexes=indexes,
    )
    header = _Header(_KIND, _VERSION, str(resource), resource.api_version, resource_version,
                     len(objects))
    data = _v3_encoder.encode((header, payload))
    _write_atomically(Path(path), data)
    return len(objects)


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC)
            f.write(data)
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
            if magic not in (_MAGIC, _MAGIC_V2):
                if magic.startswith(_MAGIC[:-2]):
                    raise SnapshotError(
                        f"snapshot {name!r} is in format {magic.decode('ascii', 'replace')!r}, "
                        f"which this version of kcs does not read (it reads versions 1-3)"
                    )
                f.seek(0)
                return _read_v1(name, f.read(), resource, codec)
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
                if magic == _MAGIC:
                    return _read_v3(name, view, resource, codec)
                return _read_v2(name, view, resource)
    except OSError as exc:
        raise SnapshotError(f"cannot read snapshot {name!r}: {exc}") from exc


def _malformed(name: str, exc: Exception) -> SnapshotError:
    return SnapshotError(f"snapshot {name!r} is truncated or malformed: {exc}")


def _read_v3(name: str, view: mmap.mmap, resource: Resource, codec: Codec) -> Snapshot:
    decoder = _v3_decoder_mf if codec.keep_managed_fields else _v3_decoder
    try:
        with memoryview(view) as data:
            header, payload = decoder.decode(data[len(_MAGIC):])
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _malformed(name, exc) from exc
    _check(name, header.kind, header.version, header.resource, header.api_version, resource,
           _VERSION)
    count, metadata, bodies, types = header.count, payload.metadata, payload.bodies, payload.types
    if len(metadata) != count or len(bodies) != count:
        raise SnapshotError(
            f"snapshot {name!r} is truncated: {len(metadata)} of {count} objects"
        )
    api_versions: Iterable[str]
    kinds: Iterable[str]
    if payload.type_index:
        if len(payload.type_index) != count or max(payload.type_index) >= len(types):
            raise SnapshotError(f"snapshot {name!r} is malformed: bad object types")
        api_versions = [types[i][0] for i in payload.type_index]
        kinds = [types[i][1] for i in payload.type_index]
    elif count:
        if len(types) != 1:
            raise SnapshotError(f"snapshot {name!r} is malformed: bad object types")
        api_versions, kinds = itertools.repeat(types[0][0]), itertools.repeat(types[0][1])
    else:
        api_versions = kinds = ()
    objects = list(map(Object, api_versions, kinds, metadata, bodies))
    indexes = payload.indexes
    fields = {p: (f.values, f.buckets) for p, f in indexes.fields.items()}
    if any(len(values) != count for values, _ in fields.values()):
        raise SnapshotError(f"snapshot {name!r} is truncated: a field index is short")
    image = IndexImage(namespace=indexes.namespace, labels=indexes.labels,
                       all_labels=indexes.all_labels, fields=fields)
    return Snapshot(header.resource_version, objects, image)


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
