"""Informer snapshots: a cache written to disk, to warm-start an informer without a list.

Format, version 2 (what :func:`write_snapshot` writes): the 9 bytes ``KCSSNAP2\\n``, then one
MessagePack map: ``kind`` ``"InformerSnapshot"``, ``version`` 2, ``resource``,
``apiVersion``, ``resourceVersion``, ``count``, ``objects`` (each one as the cache held
it: ``api_version``, ``kind``, its typed ``metadata``, the ``body`` bytes) and
``fields``: for each indexed field path, the value of every object in the same order,
so that a warm start does not decode any path from the bodies again. Reading it is one
binary decode of the whole file (memory-mapped), a few times faster than decoding as
many JSON objects.

Version 1 (JSON lines: a header line, then each object as
:func:`kcs.core.encode_object` writes it) is still read. A file that is truncated,
malformed or for another resource is rejected as a whole (:class:`SnapshotError`).

Writes are atomic: the file is written beside its final name, flushed to disk, then
renamed over it, so a reader sees the previous snapshot or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import msgspec

from kcs.core import Codec, Object, Resource

__all__ = ["Snapshot", "SnapshotError", "read_snapshot", "write_snapshot"]

_KIND = "InformerSnapshot"
_VERSION = 1
_MAGIC = b"KCSSNAP2\n"


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


class _SnapshotV2(_Header):
    """Version 2: the header's fields, then the objects and their field index values."""

    objects: list[Object]
    fields: dict[str, list[str]] = {}


class Snapshot(msgspec.Struct, frozen=True):
    """What a snapshot holds: the cache's ``resource_version``, its ``objects`` and, per
    indexed field path, the values of the objects in the same order (``fields``; empty
    for a version 1 file)."""

    resource_version: str
    objects: list[Object]
    fields: dict[str, list[str]]


_v2_encoder = msgspec.msgpack.Encoder()
_v2_decoder = msgspec.msgpack.Decoder(_SnapshotV2)


def write_snapshot(
    path: str | os.PathLike[str],
    resource: Resource,
    resource_version: str,
    objects: Iterable[Object],
    field_values: Mapping[str, Mapping[str, str]] | None = None,
) -> int:
    """Write ``objects`` (the cache at ``resource_version``) to ``path`` atomically.

    ``field_values`` are the store's field index values (path -> key -> value), saved
    with the objects. Returns the number of objects written. Blocking: run it in a worker
    thread.
    """
    items = list(objects)
    fields = {
        path_: [values.get(obj.metadata.key, "") for obj in items]
        for path_, values in (field_values or {}).items()
    }
    payload = _v2_encoder.encode(
        _SnapshotV2(_KIND, 2, str(resource), resource.api_version, resource_version,
                    len(items), items, fields)
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)
    return len(items)


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
    """Read a snapshot of ``resource`` (either version).

    Raises :class:`SnapshotError` for anything but a complete snapshot of ``resource``.
    Blocking: run it in a worker thread.
    """
    name = os.fspath(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise SnapshotError(f"snapshot {name!r} is empty")
            if f.read(len(_MAGIC)) != _MAGIC:
                f.seek(0)
                return _read_v1(name, f.read(), resource, codec)
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
                try:
                    snap = _v2_decoder.decode(memoryview(view)[len(_MAGIC):])
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    raise SnapshotError(
                        f"snapshot {name!r} is truncated or malformed: {exc}"
                    ) from exc
    except OSError as exc:
        raise SnapshotError(f"cannot read snapshot {name!r}: {exc}") from exc
    _check(name, snap.kind, snap.version, snap.resource, snap.api_version, resource, 2)
    if len(snap.objects) != snap.count or any(
        len(values) != snap.count for values in snap.fields.values()
    ):
        raise SnapshotError(
            f"snapshot {name!r} is truncated: {len(snap.objects)} of {snap.count} objects"
        )
    return Snapshot(snap.resource_version, snap.objects, snap.fields)


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
    _check(name, header.kind, header.version, header.resource, header.api_version, resource,
           _VERSION)
    if len(lines) - 1 != header.count:
        raise SnapshotError(
            f"snapshot {name!r} is truncated: {len(lines) - 1} of {header.count} objects"
        )
    try:
        objects = [codec.decode_object(line) for line in lines[1:]]
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise SnapshotError(f"snapshot {name!r} holds a malformed object: {exc}") from exc
    return Snapshot(header.resource_version, objects, {})
