"""Sets of field paths and their wire format, ``FieldsV1``, as server-side apply uses them.

A path is a tuple of path elements; a path element is written as in ``FieldsV1``:

* ``f:<name>`` a field of a struct or a key of a map;
* ``k:<json>`` an item of an associative list, by its key fields (compact JSON, keys sorted);
* ``v:<json>`` an item of a set list, by its value;
* ``i:<n>`` an item by index (atomic lists are never descended into, so this is rare).

A :class:`FieldSet` is a tree of path elements in which any node may be a *member* (the
path it ends is in the set). ``FieldsV1`` writes a member with children as
``{".": {}, ...children}``, a member without children as ``{}`` and a node that is not a
member as its children alone, with keys in structured-merge-diff's order (fields, then keys,
then values, then indexes). :meth:`FieldSet.path_string` writes a path as kube-apiserver
writes it in conflict messages (``.spec.containers[name="app"].image``).

All operations return new sets and never mutate their inputs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson

__all__ = ["FieldSet", "Path", "field_pe", "index_pe", "key_pe", "value_pe"]

Path = tuple[str, ...]

_RANK = {"f": 0, "k": 1, "v": 2, "i": 3}


def field_pe(name: str) -> str:
    """The path element of a struct field or map key."""
    return "f:" + name


def key_pe(keys: Mapping[str, Any]) -> str:
    """The path element of an associative-list item with these key fields."""
    return "k:" + orjson.dumps(dict(keys), option=orjson.OPT_SORT_KEYS).decode()


def value_pe(value: Any) -> str:
    """The path element of a set-list item."""
    return "v:" + orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def index_pe(index: int) -> str:
    """The path element of a list item by position."""
    return f"i:{index}"


def _value_key(v: Any) -> tuple[int, Any]:
    if v is None:
        return (0, 0)
    if isinstance(v, bool):
        return (1, v)
    if isinstance(v, int | float):
        return (2, v)
    if isinstance(v, str):
        return (3, v)
    return (4, orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode())


def _pe_sort_key(pe: str) -> tuple[Any, ...]:
    kind, _, rest = pe.partition(":")
    if kind == "f":
        return (0, rest)
    if kind == "k":
        try:
            keys = orjson.loads(rest)
        except orjson.JSONDecodeError:
            return (1, (), rest)
        return (1, tuple((k, _value_key(keys[k])) for k in sorted(keys)), rest)
    if kind == "v":
        try:
            return (2, _value_key(orjson.loads(rest)), rest)
        except orjson.JSONDecodeError:
            return (2, (5, rest), rest)
    if kind == "i":
        return (3, int(rest) if rest.lstrip("-").isdigit() else 0, rest)
    return (4, pe)


def _pe_string(pe: str) -> str:
    kind, _, rest = pe.partition(":")
    if kind == "f":
        return "." + rest
    if kind == "k":
        keys = orjson.loads(rest)
        return "[" + ",".join(f"{k}={_go_value(keys[k])}" for k in sorted(keys)) + "]"
    if kind == "v":
        return f"[={_go_value(orjson.loads(rest))}]"
    return f"[{rest}]"


def _go_value(v: Any) -> str:
    # structured-merge-diff's value.ToString: strings quoted, numbers and booleans bare.
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return orjson.dumps(v).decode()
    if isinstance(v, int | float):
        return str(v)
    return orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()


class _Node:
    __slots__ = ("children", "member")

    def __init__(self) -> None:
        self.member = False
        self.children: dict[str, _Node] = {}

    def empty(self) -> bool:
        return not self.member and not self.children

    def copy(self) -> _Node:
        n = _Node()
        n.member = self.member
        n.children = {k: c.copy() for k, c in self.children.items()}
        return n


class FieldSet:
    """An immutable set of field paths (see the module doc)."""

    __slots__ = ("_root",)

    def __init__(self, root: _Node | None = None) -> None:
        self._root = root if root is not None else _Node()

    # --- construction -----------------------------------------------------------------------

    @classmethod
    def of(cls, paths: Iterator[Path] | list[Path] | tuple[Path, ...]) -> FieldSet:
        """The set of ``paths``."""
        root = _Node()
        for p in paths:
            _insert(root, p)
        return cls(root)

    @classmethod
    def from_fields_v1(cls, fields: Any) -> FieldSet:
        """Decode ``FieldsV1`` (a JSON object); raises :class:`ValueError` if malformed."""
        if not isinstance(fields, Mapping):
            raise ValueError("FieldsV1 must be a JSON object")
        root = _decode(fields) if fields else _Node()
        root.member = False  # the top level is never a member
        return cls(root)

    def with_path(self, path: Path) -> FieldSet:
        """This set plus ``path``."""
        root = self._root.copy()
        _insert(root, path)
        return FieldSet(root)

    # --- queries ----------------------------------------------------------------------------

    def empty(self) -> bool:
        """Whether the set has no member."""
        return _empty(self._root)

    def has(self, path: Path) -> bool:
        """Whether ``path`` is a member."""
        node = self._root
        for pe in path:
            nxt = node.children.get(pe)
            if nxt is None:
                return False
            node = nxt
        return node.member

    def has_prefix_of(self, path: Path) -> bool:
        """Whether some member is ``path`` or a prefix of it."""
        node = self._root
        if node.member:
            return True
        for pe in path:
            nxt = node.children.get(pe)
            if nxt is None:
                return False
            node = nxt
            if node.member:
                return True
        return False

    def child(self, pe: str) -> FieldSet:
        """The subtree below path element ``pe`` (paths relative to it)."""
        node = self._root.children.get(pe)
        return FieldSet(node) if node is not None else _EMPTY

    def child_elements(self) -> list[str]:
        """The path elements directly below the root."""
        return list(self._root.children)

    @property
    def root_member(self) -> bool:
        """Whether the empty path (the root itself) is a member."""
        return self._root.member

    def paths(self) -> Iterator[Path]:
        """Every member, in structured-merge-diff's iteration order (members of a node
        before the subtrees below it, each sorted)."""
        yield from _iterate(self._root, ())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldSet) and _equal(self._root, other._root)

    def __hash__(self) -> int:
        return hash(tuple(self.paths()))

    def __repr__(self) -> str:
        return f"FieldSet({[self.path_string(p) for p in self.paths()]})"

    # --- algebra ----------------------------------------------------------------------------

    def union(self, other: FieldSet) -> FieldSet:
        """Members of either."""
        return FieldSet(_union(self._root, other._root))

    def difference(self, other: FieldSet) -> FieldSet:
        """Members of ``self`` that are not members of ``other``."""
        return FieldSet(_difference(self._root, other._root) or _Node())

    def intersection(self, other: FieldSet) -> FieldSet:
        """Members of both."""
        return FieldSet(_intersection(self._root, other._root) or _Node())

    def recursive_difference(self, other: FieldSet) -> FieldSet:
        """Members of ``self`` that are neither members of ``other`` nor below one."""
        return FieldSet(_difference(self._root, other._root, recursive=True) or _Node())

    # --- wire format ------------------------------------------------------------------------

    def to_fields_v1(self) -> dict[str, Any]:
        """``FieldsV1``: nested objects, keys in structured-merge-diff's order."""
        return _encode(self._root, top=True)

    @staticmethod
    def path_string(path: Path) -> str:
        """``.spec.containers[name="app"].image``, as kube writes paths in messages."""
        return "".join(_pe_string(pe) for pe in path)


_EMPTY = FieldSet()


def _insert(root: _Node, path: Path) -> None:
    node = root
    for pe in path:
        nxt = node.children.get(pe)
        if nxt is None:
            nxt = node.children[pe] = _Node()
        node = nxt
    node.member = True


def _empty(node: _Node) -> bool:
    return not node.member and all(_empty(c) for c in node.children.values())


def _equal(a: _Node, b: _Node) -> bool:
    if a.member != b.member:
        return False
    ka = {k for k, c in a.children.items() if not _empty(c)}
    kb = {k for k, c in b.children.items() if not _empty(c)}
    return ka == kb and all(_equal(a.children[k], b.children[k]) for k in ka)


def _union(a: _Node, b: _Node) -> _Node:
    out = _Node()
    out.member = a.member or b.member
    for k in a.children.keys() | b.children.keys():
        ca, cb = a.children.get(k), b.children.get(k)
        if ca is None:
            assert cb is not None
            out.children[k] = cb.copy()
        elif cb is None:
            out.children[k] = ca.copy()
        else:
            out.children[k] = _union(ca, cb)
    return out


def _difference(a: _Node, b: _Node, recursive: bool = False) -> _Node | None:
    """``a`` without the members of ``b``; ``recursive``: a member of ``b`` takes away all
    that is below it in ``a`` too."""
    if recursive and b.member:
        return None
    out = _Node()
    out.member = a.member and not b.member
    for k, ca in a.children.items():
        cb = b.children.get(k)
        c = ca.copy() if cb is None else _difference(ca, cb, recursive)
        if c is not None and not _empty(c):
            out.children[k] = c
    return None if out.empty() else out


def _intersection(a: _Node, b: _Node) -> _Node | None:
    out = _Node()
    out.member = a.member and b.member
    for k, ca in a.children.items():
        cb = b.children.get(k)
        if cb is None:
            continue
        c = _intersection(ca, cb)
        if c is not None:
            out.children[k] = c
    return None if out.empty() else out


def _iterate(node: _Node, prefix: Path) -> Iterator[Path]:
    ordered = sorted(node.children, key=_pe_sort_key)
    for k in ordered:
        if node.children[k].member:
            yield (*prefix, k)
    for k in ordered:
        child = node.children[k]
        if child.children:
            yield from _iterate(child, (*prefix, k))


def _encode(node: _Node, *, top: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if node.member and not top and node.children:
        out["."] = {}
    for k in sorted(node.children, key=_pe_sort_key):
        child = node.children[k]
        if _empty(child):
            continue
        out[k] = _encode(child)
    return out


def _decode(fields: Mapping[str, Any]) -> _Node:
    node = _Node()
    if not fields:
        node.member = True
        return node
    for k, v in fields.items():
        if k == ".":
            node.member = True
            continue
        if not isinstance(k, str) or k[:2] not in ("f:", "k:", "v:", "i:"):
            raise ValueError(f"invalid path element {k!r}")
        if not isinstance(v, Mapping):
            raise ValueError(f"the value of {k!r} must be a JSON object")
        node.children[k] = _decode(v)
    return node

