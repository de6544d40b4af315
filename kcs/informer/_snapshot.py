"""Informer snapshots: a cache written to disk, to warm-start an informer without a list.

Format (JSON lines, UTF-8): the first line is a header
``{"kind": "InformerSnapshot", "version": 1, "resource": "pods", "apiVersion": "v1",
"resourceVersion": "1234", "count": N}``; each of the next ``N`` lines is one object as
the cache held it (see :func:`kcs.core.encode_object`). A file that is truncated,
malformed or for another resource is rejected as a whole (:class:`SnapshotError`).

Writes are atomic: the file is written beside its final name, flushed to disk, then
renamed over it, so a reader sees the previous snapshot or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import msgspec

from kcs.core import Codec, Object, Resource, encode_object

__all__ = ["SnapshotError", "read_snapshot", "write_snapshot"]

_KIND = "InformerSnapshot"
_VERSION = 1


class SnapshotError(ValueError):
    """A snapshot file cannot be used: missing, malformed, truncated or for another resource."""


class _Header(msgspec.Struct, rename="camel"):
    kind: str
    version: int
    resource: str
    api_version: str
    resource_version: str
    count: int


_header_decoder = msgspec.json.Decoder(_Header)
_encoder = msgspec.json.Encoder()


def write_snapshot(
    path: str | os.PathLike[str],
    resource: Resource,
    resource_version: str,
    objects: Iterable[Object],
) -> int:
    """Write ``objects`` (the cache at ``resource_version``) to ``path`` atomically.

    Returns the number of objects written. Blocking: run it in a worker thread.
    """
    items = list(objects)
    header = _Header(_KIND, _VERSION, str(resource), resource.api_version,
                     resource_version, len(items))
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_encoder.encode(header) + b"\n")
            for obj in items:
                f.write(encode_object(obj) + b"\n")
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


def read_snapshot(
    path: str | os.PathLike[str], resource: Resource, codec: Codec
) -> tuple[str, list[Object]]:
    """Read a snapshot of ``resource``: ``(resource_version, objects)``.

    Raises :class:`SnapshotError` for anything but a complete snapshot of ``resource``.
    Blocking: run it in a worker thread.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SnapshotError(f"cannot read snapshot {os.fspath(path)!r}: {exc}") from exc
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        raise SnapshotError(f"snapshot {os.fspath(path)!r} is empty")
    try:
        header = _header_decoder.decode(lines[0])
    except msgspec.DecodeError as exc:
        raise SnapshotError(f"snapshot {os.fspath(path)!r} has no valid header: {exc}") from exc
    if header.kind != _KIND or header.version != _VERSION:
        raise SnapshotError(f"{os.fspath(path)!r} is not a version {_VERSION} informer snapshot")
    if header.resource != str(resource) or header.api_version != resource.api_version:
        raise SnapshotError(
            f"snapshot {os.fspath(path)!r} holds {header.resource} "
            f"({header.api_version}), not {resource} ({resource.api_version})"
        )
    if len(lines) - 1 != header.count:
        raise SnapshotError(
            f"snapshot {os.fspath(path)!r} is truncated: "
            f"{len(lines) - 1} of {header.count} objects"
        )
    try:
        objects = [codec.decode_object(line) for line in lines[1:]]
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise SnapshotError(
            f"snapshot {os.fspath(path)!r} holds a malformed object: {exc}"
        ) from exc
    return header.resource_version, objects
