"""Operations on objects seen through their :class:`~._shapes.Shape`: structured-merge-diff's
field set of a value, comparison of two values, merge of an applied configuration into a
live object, and the removal of fields a manager stopped applying.

The semantics follow structured-merge-diff (sigs.k8s.io/structured-merge-diff), which
kube-apiserver uses for server-side apply:

* :func:`to_set`: every scalar, every list item, every atomic value, and every map key
  (or struct field whose value is null or empty) is a member;
* :func:`compare`: leaves (scalars and atomic values) are added, removed or modified;
  a struct, map or list that appears or disappears is itself added or removed;
* :func:`merge`: structs and maps merge key by key, associative and set lists merge item by
  item (the applied items in the applied order, items only in the live object keep their
  place), everything else is replaced by the applied value;
* :func:`prune`: a node the manager applied before, applies no more and that no manager
  owns (or owns anything below, for struct fields) is removed with everything below it.

:class:`TypedError` reports a value the shape cannot hold (an associative-list item without
a key field, duplicate keys in an applied list), with structured-merge-diff's wording.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kcs.testing._fieldpath import FieldSet, Path, field_pe, key_pe, value_pe
from kcs.testing._shapes import Shape

__all__ = ["TypedError", "compare", "item_pe", "merge", "prune", "to_set"]


class TypedError(ValueError):
    """A value that does not fit its shape."""


class _Missing:
    __slots__ = ()


MISSING: Any = _Missing()


def _where(path: Path) -> str:
    return FieldSet.path_string(path) or "."


def item_pe(shape: Shape, item: Any, index: int, path: Path = ()) -> str:
    """The path element of list item ``item`` (the ``index``-th) of a list of ``shape``."""
    if shape.kind == "list_map":
        if not isinstance(item, Mapping):
            raise TypedError(f"{_where(path)}: element {index}: expected a map, got {item!r}")
        keys: dict[str, Any] = {}
        for k in shape.keys:
            v = item.get(k)
            if v is not None:
                keys[k] = v
            elif k in shape.key_defaults:
                keys[k] = shape.key_defaults[k]
            else:
                raise TypedError(
                    f'{_where(path)}: element {index}: associative list with keys has an element '
                    f'that omits key field "{k}" (and doesn\'t have default value)'
                )
        return key_pe(keys)
    return value_pe(item)


def _items(shape: Shape, items: list[Any], path: Path, *, strict: bool) -> dict[str, Any]:
    """Items by path element, first occurrence winning (``strict``: duplicates are errors)."""
    out: dict[str, Any] = {}
    for i, item in enumerate(items):
        if shape.kind == "list_set" and isinstance(item, Mapping | list):
            raise TypedError(f"{_where(path)}: element {i}: set items must be scalars")
        pe = item_pe(shape, item, i, path)
        if pe in out:
            if strict:
                raise TypedError(f"{_where(path)}: duplicate entries for key {pe[2:]}")
            continue
        out[pe] = item
    return out


def _declares(shape: Shape, name: str) -> bool:
    if shape.kind != "struct":
        return False
    if shape.source == "crd" and shape.trail != ("<root>",):
        props = (shape.schema or {}).get("properties")
        return isinstance(props, Mapping) and name in props
    return True


# --- field sets ----------------------------------------------------------------------------


def to_set(value: Any, shape: Shape, *, strict: bool = False) -> FieldSet:
    """structured-merge-diff's ``ToFieldSet`` of ``value``."""
    out: list[Path] = []
    _collect(value, shape, (), out, strict)
    return FieldSet.of(out)


def _collect(v: Any, shape: Shape, path: Path, out: list[Path], strict: bool) -> None:
    if shape.leaf or not shape.fits(v):
        if path:
            out.append(path)
        return
    if shape.kind in ("struct", "map"):
        for k, val in v.items():
            p = (*path, field_pe(k))
            _collect(val, shape.field(k, val), p, out, strict)
            if val is None or (isinstance(val, Mapping) and not val) or not _declares(shape, k):
                out.append(p)
        return
    for pe, item in _items(shape, v, path, strict=strict).items():
        p = (*path, pe)
        if shape.kind == "list_map":
            _collect(item, shape.item(item), p, out, strict)
        out.append(p)


# --- compare -------------------------------------------------------------------------------


class Comparison:
    """What changed between two values: added, modified and removed paths."""

    __slots__ = ("added", "modified", "removed")

    def __init__(self) -> None:
        self.added: list[Path] = []
        self.modified: list[Path] = []
        self.removed: list[Path] = []

    def sets(self) -> tuple[FieldSet, FieldSet, FieldSet]:
        """``(added, modified, removed)`` as field sets."""
        return FieldSet.of(self.added), FieldSet.of(self.modified), FieldSet.of(self.removed)


def compare(old: Any, new: Any, shape: Shape) -> Comparison:
    """structured-merge-diff's ``Compare``: what changed from ``old`` to ``new``."""
    c = Comparison()
    _compare(old, new, shape, (), c)
    return c


def _compare(a: Any, b: Any, shape: Shape, path: Path, c: Comparison) -> None:
    present_a, present_b = a is not MISSING, b is not MISSING
    if present_a and present_b and a == b:
        return
    # null is a wildcard: it takes the form of the other side (and was not "added")
    leaf = shape.leaf or (present_a and a is not None and not shape.fits(a)) or (
        present_b and b is not None and not shape.fits(b))
    if leaf:
        if not present_a:
            c.added.append(path)
        elif not present_b:
            c.removed.append(path)
        else:
            c.modified.append(path)
        return
    if shape.kind in ("struct", "map"):
        ma: Mapping[str, Any] = a if present_a and a is not None else {}
        mb: Mapping[str, Any] = b if present_b and b is not None else {}
        for k in list(ma) + [k for k in mb if k not in ma]:
            va, vb = ma.get(k, MISSING), mb.get(k, MISSING)
            sample = vb if vb is not MISSING else va
            _compare(va, vb, shape.field(k, sample), (*path, field_pe(k)), c)
    else:
        ia = _items(shape, a if present_a and a is not None else [], path, strict=False)
        ib = _items(shape, b if present_b and b is not None else [], path, strict=False)
        for pe in list(ia) + [pe for pe in ib if pe not in ia]:
            va, vb = ia.get(pe, MISSING), ib.get(pe, MISSING)
            p = (*path, pe)
            if shape.kind == "list_set":
                if va is MISSING:
                    c.added.append(p)
                elif vb is MISSING:
                    c.removed.append(p)
                continue
            sample = vb if vb is not MISSING else va
            _compare(va, vb, shape.item(sample), p, c)
    if path:
        if not present_a:
            c.added.append(path)
        elif not present_b:
            c.removed.append(path)


# --- merge ---------------------------------------------------------------------------------


def merge(live: Any, config: Any, shape: Shape) -> Any:
    """Merge an applied configuration into a live value (structured-merge-diff's ``Merge``).

    Raises :class:`TypedError` for a configuration its shape cannot hold.
    """
    return _merge(live, config, shape, ())


def _merge(a: Any, b: Any, shape: Shape, path: Path) -> Any:
    if b is MISSING:
        return a
    if shape.leaf or not shape.fits(b):
        return b
    if a is MISSING or not shape.fits(a):
        a = {} if shape.kind in ("struct", "map") else []
    if shape.kind in ("struct", "map"):
        out = dict(a)
        for k, v in b.items():
            if v is None:
                out.pop(k, None)
                continue
            out[k] = _merge(a.get(k, MISSING), v, shape.field(k, v), (*path, field_pe(k)))
        return out
    ia = _items(shape, a, path, strict=False)
    ib = _items(shape, b, path, strict=True)
    merged: dict[str, Any] = {}
    for pe, item in ib.items():
        if shape.kind == "list_map":
            merged[pe] = _merge(ia.get(pe, MISSING), item, shape.item(item), (*path, pe))
        else:
            merged[pe] = item
    return [merged.get(pe, ia.get(pe)) for pe in _merge_order(list(ia), list(ib))]


def _merge_order(live: list[str], applied: list[str]) -> list[str]:
    """The order of a merged list, as structured-merge-diff walks it: live items are kept in
    place until the next item both lists share; applied items come in their own order."""
    in_applied = set(applied)
    in_live = set(live)
    shared = [pe for pe in applied if pe in in_live]
    nxt = 0  # shared[nxt]: the next shared item, in the applied order
    out: list[str] = []
    merged: set[str] = set()
    li = ai = 0
    while li < len(live) or ai < len(applied):
        if li < len(live) and ai < len(applied):
            pe = live[li]
            if pe == applied[ai]:
                out.append(pe)
                merged.add(pe)
                li, ai, nxt = li + 1, ai + 1, nxt + 1
                continue
            if pe in in_applied and nxt < len(shared) and shared[nxt] != pe:
                li += 1  # shared, but later in the applied order: it comes then
                continue
        if li < len(live):
            pe = live[li]
            if pe not in in_applied:
                out.append(pe)
                li += 1
                continue
            if pe in merged:
                li += 1
                continue
        if ai < len(applied):
            pe = applied[ai]
            out.append(pe)
            merged.add(pe)
            ai += 1
            if nxt < len(shared) and shared[nxt] == pe:
                nxt += 1
        else:
            li += 1
    return out


# --- prune ---------------------------------------------------------------------------------


def prune(value: Any, shape: Shape, last: FieldSet, owned: FieldSet) -> Any:
    """Remove what the manager applied last time (``last``) and nobody owns now (``owned``,
    the union of every manager's set after this apply)."""
    return _prune(value, shape, last, owned, ())


def _owns(s: FieldSet, pe: str, named: bool) -> bool:
    # A member, or (for a named struct field) the prefix of one: structured-merge-diff's
    # EnsureNamedFieldsAreMembers.
    return s.has((pe,)) or (named and not s.child(pe).empty())


def _prune(v: Any, shape: Shape, last: FieldSet, owned: FieldSet, path: Path) -> Any:
    if shape.leaf or not shape.fits(v) or last.empty():
        return v
    if shape.kind in ("struct", "map"):
        out: dict[str, Any] = {}
        for k, val in v.items():
            pe = field_pe(k)
            sub_last = last.child(pe)
            if not last.has((pe,)) and sub_last.empty():
                out[k] = val
                continue
            named = _declares(shape, k)
            if _owns(last, pe, named) and not _owns(owned, pe, named):
                continue
            out[k] = _prune(val, shape.field(k, val), sub_last, owned.child(pe), (*path, pe))
        return out
    kept: list[Any] = []
    for i, item in enumerate(v):
        pe = item_pe(shape, item, i, path)
        if last.has((pe,)) and not owned.has((pe,)):
            continue
        if shape.kind == "list_map":
            kept.append(_prune(item, shape.item(item), last.child(pe), owned.child(pe),
                               (*path, pe)))
        else:
            kept.append(item)
    return kept
