"""Objects read from a memory-mapped snapshot, decoded on first use.

A warm start must not pay a decode per object: restoring 100,000 pods at a few
microseconds each is already most of a list's cost. A snapshot (format 4) keeps every
object's metadata and body in two columns of the mapped file; :func:`mapped_objects`
turns them into :class:`~kcs.core.Object` instances that hold nothing but their row
(their position in the columns) until they are first read.

Guarantees, for each object it returns:

* it is an :class:`~kcs.core.Object` (``isinstance``), ``api_version`` and ``kind``
  are set from the start;
* on the first read of ``metadata`` or ``body`` (or anything built on them: ``key``,
  ``labels``, ``obj["spec"]``, ``to_dict()``...) both are decoded from the mapped file,
  once, and the instance becomes a plain :class:`~kcs.core.Object`: every later read
  returns the same values (zero-copy, as for any cached object), and equality, encoding
  and the mutation detector see exactly the object a list would have decoded;
* ``==`` and ``!=`` against any object, ``copy`` and ``pickle`` decode it first;
  ``msgspec.structs.replace`` keeps the fields it is given and the object decodes the
  others when read. msgspec's encoders read the fields below the attributes and refuse
  an undecoded object (``TypeError``): encode with :func:`kcs.core.encode_object` (or
  read any attribute first).

The mapping stays open while an object of it is still undecoded (the file's pages are
the operating system's page cache, not the process's heap) and is released when the
last of them is decoded or dropped. Snapshots are replaced by renaming a new file over
the old one, which leaves a mapped file intact; never rewrite a snapshot file in place
while an informer may be reading it.
"""

from __future__ import annotations

import bisect
import copy
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, Final

from kcs.core import Object, ObjectMeta

__all__ = ["MappedColumns", "mapped_objects"]

# The slots of Object, read and written below its frozen surface. While an object is
# undecoded its ``metadata`` and ``body`` slots both hold its row, ``range(i, i + 1)`` for
# the object at position i: a range is not tracked by the garbage collector, and no
# msgspec encoder accepts one, so encoding an undecoded object (which reads the slots,
# not the attributes) fails loudly instead of writing a position. Its class is a subclass
# of _MappedObject made for its snapshot, holding the columns. Decoding writes the body,
# then the metadata, and swaps the instance's class to Object last.
_metadata_slot: Final[Any] = Object.__dict__["metadata"]
_body_slot: Final[Any] = Object.__dict__["body"]
_class_slot: Final[Any] = object.__dict__["__class__"]


class MappedColumns:
    """The metadata and body columns of a mapped snapshot (internal).

    ``metadata`` is a view of the file holding every object's metadata, back to back;
    ``metadata_ends[i]`` is the offset just past object ``i``'s. ``bodies`` are views of
    the file holding the bodies, back to back: ``body_chunks[c]`` is the position of the
    first object in ``bodies[c]`` and ``body_ends[i]`` the offset, in its chunk, just past
    object ``i``'s body. ``decode_metadata`` decodes one object's metadata. The reader
    checks the offsets (ascending, within their views) before making objects from them.
    """

    __slots__ = ("bodies", "body_chunks", "body_ends", "decode_metadata", "metadata",
                 "metadata_ends")

    def __init__(
        self,
        metadata: memoryview,
        metadata_ends: Sequence[int],
        bodies: Sequence[memoryview],
        body_ends: Sequence[int],
        body_chunks: Sequence[int],
        decode_metadata: Callable[[memoryview], ObjectMeta],
    ) -> None:
        self.metadata = metadata
        self.metadata_ends = metadata_ends
        self.bodies = bodies
        self.body_ends = body_ends
        self.body_chunks = body_chunks
        self.decode_metadata = decode_metadata

    def metadata_of(self, i: int) -> ObjectMeta:
        """Object ``i``'s metadata, decoded."""
        ends = self.metadata_ends
        return self.decode_metadata(self.metadata[ends[i - 1] if i else 0:ends[i]])

    def body_of(self, i: int) -> bytes:
        """Object ``i``'s body, copied out of the mapping."""
        chunks = self.body_chunks
        c = bisect.bisect_right(chunks, i) - 1 if len(chunks) > 1 else 0
        ends = self.body_ends
        start = ends[i - 1] if i != chunks[c] else 0
        return bytes(self.bodies[c][start:ends[i]])

    def __reduce__(self) -> Any:
        raise TypeError("the columns of a mapped snapshot cannot be pickled")


def _decode(obj: Object) -> None:
    """Decode what ``obj`` (a :class:`_MappedObject`) still holds as a row, then make it
    a plain :class:`~kcs.core.Object`.

    Each slot is decoded on its own, so an object that ``msgspec.structs.replace`` gave a
    new body (or metadata) keeps it and reads the other from the file. Safe when threads
    race (under the GIL): the class (and so the columns) is read before the slots, and a
    thread that still finds a row decodes it again and writes an equal value.
    """
    cls = type(obj)
    metadata = _metadata_slot.__get__(obj)
    body = _body_slot.__get__(obj)
    if type(body) is range:
        _body_slot.__set__(obj, cls._columns.body_of(body.start))  # type: ignore[attr-defined]
    if type(metadata) is range:
        metadata = cls._columns.metadata_of(metadata.start)  # type: ignore[attr-defined]
        _metadata_slot.__set__(obj, metadata)
    _class_slot.__set__(obj, Object)


class _MappedObject(Object, frozen=True, gc=False):
    """An :class:`~kcs.core.Object` not decoded yet (see the module doc)."""

    @property  # type: ignore[misc]
    def metadata(self) -> ObjectMeta:
        _decode(self)
        return _metadata_slot.__get__(self)  # type: ignore[no-any-return]

    @property  # type: ignore[misc]
    def body(self) -> bytes:
        _decode(self)
        return _body_slot.__get__(self)  # type: ignore[no-any-return]

    def __eq__(self, other: object) -> bool:
        _decode(self)
        if isinstance(other, _MappedObject):
            _decode(other)
        return self == other

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]  # as Object's: its metadata holds dicts

    def __copy__(self) -> Object:
        _decode(self)
        return copy.copy(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> Object:
        _decode(self)
        return copy.deepcopy(self, memo)

    def __reduce__(self) -> Any:
        _decode(self)
        return self.__reduce__()


def mapped_objects(
    api_versions: Iterable[str], kinds: Iterable[str], columns: MappedColumns, count: int
) -> list[Object]:
    """``count`` objects of ``columns``, undecoded; ``api_versions`` and ``kinds`` give
    each object's (an :func:`itertools.repeat` when they are all the same)."""

    class _Mapped(_MappedObject, frozen=True, gc=False):
        _columns: ClassVar[MappedColumns] = columns

    # Made through the class, not its typed __init__: the object's row stands in both
    # slots until it is decoded.
    make: Callable[[str, str, range, range], Object] = _Mapped  # type: ignore[assignment]
    rows = list(map(range, range(count), range(1, count + 1)))
    return list(map(make, api_versions, kinds, rows, rows))
