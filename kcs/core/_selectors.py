"""Label and field selectors, parsed once and matched many times.

The syntax is kube-apiserver's:

* labels: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x,y)``, ``a`` (exists),
  ``!a`` (does not exist), joined by commas (all must hold); also the structured
  ``{"matchLabels": ..., "matchExpressions": ...}`` form of ``metav1.LabelSelector``.
* fields: ``path=value``, ``path==value``, ``path!=value`` joined by commas.

A selector that cannot be parsed raises :class:`SelectorError` (a :class:`ValueError`),
which the fake apiserver turns into a 400 BadRequest, as kube-apiserver does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "FieldSelectorLike",
    "LabelRequirement",
    "LabelSelector",
    "LabelSelectorLike",
    "SelectorError",
    "get_path",
]

LabelOp = Literal["=", "!=", "in", "notin", "exists", "!exists"]


class SelectorError(ValueError):
    """A label or field selector that cannot be parsed."""


_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def _check_key(key: str) -> str:
    if len(key) > 316 or not _KEY.match(key):
        raise SelectorError(f"invalid label key {key!r}")
    return key


def _check_value(value: str) -> str:
    if len(value) > 63 or not _VALUE.match(value):
        raise SelectorError(f"invalid label value {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class LabelRequirement:
    """One term of a label selector: ``key``, an operator and the values it takes."""

    key: str
    op: LabelOp
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this term."""
        op = self.op
        if op == "exists":
            return self.key in labels
        if op == "!exists":
            return self.key not in labels
        value = labels.get(self.key)
        if op in ("=", "in"):
            return value is not None and value in self.values
        # "!=" and "notin" match objects that lack the label, as in kube-apiserver.
        return value is None or value not in self.values

    def __str__(self) -> str:
        vals = sorted(self.values)
        if self.op == "exists":
            return self.key
        if self.op == "!exists":
            return f"!{self.key}"
        if self.op in ("=", "!="):
            return f"{self.key}{self.op}{vals[0]}"
        return f"{self.key} {self.op} ({','.join(vals)})"


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    out: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError(f"unbalanced parentheses in {text!r}")
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth != 0:
        raise SelectorError(f"unbalanced parentheses in {text!r}")
    out.append("".join(cur))
    return out


_SET_TERM = re.compile(r"^\s*(\S+)\s+(in|notin)\s*\((.*)\)\s*$")


def _parse_label_term(term: str) -> LabelRequirement:
    t = term.strip()
    if not t:
        raise SelectorError("empty term in label selector")
    m = _SET_TERM.match(t)
    if m:
        key, op, raw = m.group(1), m.group(2), m.group(3)
        values = frozenset(_check_value(v.strip()) for v in raw.split(",")) if raw.strip() else None
        if not values:
            raise SelectorError(f"{op} needs at least one value in {term!r}")
        return LabelRequirement(_check_key(key), "in" if op == "in" else "notin", values)
    eq_ops: tuple[tuple[str, LabelOp], ...] = (("!=", "!="), ("==", "="), ("=", "="))
    for sym, op2 in eq_ops:
        if sym in t:
            key, _, value = t.partition(sym)
            return LabelRequirement(
                _check_key(key.strip()), op2, frozenset({_check_value(value.strip())})
            )
    if t.startswith("!"):
        return LabelRequirement(_check_key(t[1:].strip()), "!exists")
    return LabelRequirement(_check_key(t), "exists")


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A conjunction of :class:`LabelRequirement`. The empty selector matches everything."""

    requirements: tuple[LabelRequirement, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        """Parse the string form (``labelSelector=`` in a URL)."""
        if text is None or not text.strip():
            return cls()
        return cls(tuple(_parse_label_term(t) for t in _split_top(text)))

    @classmethod
    def from_dict(cls, selector: Mapping[str, Any] | None) -> LabelSelector:
        """Build from a ``metav1.LabelSelector`` (``matchLabels`` / ``matchExpressions``)."""
        if not selector:
            return cls()
        reqs: list[LabelRequirement] = []
        for k, v in (selector.get("matchLabels") or {}).items():
            reqs.append(LabelRequirement(_check_key(k), "=", frozenset({_check_value(str(v))})))
        ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
        for expr in selector.get("matchExpressions") or []:
            op = ops.get(expr.get("operator", ""))
            if op is None:
                raise SelectorError(f"unknown operator {expr.get('operator')!r}")
            values = frozenset(_check_value(str(v)) for v in expr.get("values") or [])
            if op in ("in", "notin") and not values:
                raise SelectorError(f"{expr.get('operator')} needs values")
            reqs.append(LabelRequirement(_check_key(str(expr.get("key", ""))), op, values))  # type: ignore[arg-type]
        return cls(tuple(reqs))

    @classmethod
    def of(cls, selector: LabelSelector | str | Mapping[str, str] | None) -> LabelSelector:
        """Accept a selector, its string form, or a plain ``{key: value}`` equality map."""
        if isinstance(selector, LabelSelector):
            return selector
        if selector is None or isinstance(selector, str):
            return cls.parse(selector)
        return cls(
            tuple(
                LabelRequirement(_check_key(k), "=", frozenset({_check_value(v)}))
                for k, v in selector.items()
            )
        )

    @property
    def empty(self) -> bool:
        """True when the selector matches every object."""
        return not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether ``labels`` satisfy every requirement."""
        lab = labels or {}
        return all(r.matches(lab) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    """One term of a field selector: ``path`` (such as ``spec.nodeName``) = or != ``value``."""

    path: str
    op: Literal["=", "!="]
    value: str

    def matches(self, get_field: Callable[[str], str | None]) -> bool:
        """Whether the field read through ``get_field`` (missing reads as ``""``) satisfies it."""
        actual = get_field(self.path) or ""
        return (actual == self.value) if self.op == "=" else (actual != self.value)

    def __str__(self) -> str:
        return f"{self.path}{self.op}{self.value}"


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """A conjunction of :class:`FieldRequirement`. The empty selector matches everything."""

    requirements: tuple[FieldRequirement, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> FieldSelector:
        """Parse the string form (``fieldSelector=`` in a URL)."""
        if text is None or not text.strip():
            return cls()
        reqs = []
        for term in text.split(","):
            t = term.strip()
            for sym, op in (("!=", "!="), ("==", "="), ("=", "=")):
                if sym in t:
                    path, _, value = t.partition(sym)
                    path = path.strip()
                    if not path or not re.match(r"^[A-Za-z0-9_.\-]+$", path):
                        raise SelectorError(f"invalid field path in {term!r}")
                    reqs.append(FieldRequirement(path, op, value.strip()))  # type: ignore[arg-type]
                    break
            else:
                raise SelectorError(f"invalid field selector term {term!r}: expected path=value")
        return cls(tuple(reqs))

    @classmethod
    def of(cls, selector: FieldSelector | str | Mapping[str, str] | None) -> FieldSelector:
        """Accept a selector, its string form, or a plain ``{path: value}`` equality map."""
        if isinstance(selector, FieldSelector):
            return selector
        if selector is None or isinstance(selector, str):
            return cls.parse(selector)
        return cls(tuple(FieldRequirement(k, "=", v) for k, v in selector.items()))

    @property
    def empty(self) -> bool:
        """True when the selector matches every object."""
        return not self.requirements

    @property
    def paths(self) -> frozenset[str]:
        """The field paths this selector reads."""
        return frozenset(r.path for r in self.requirements)

    def matches(self, get_field: Callable[[str], str | None]) -> bool:
        """Whether the object whose fields ``get_field`` reads satisfies every term."""
        return all(r.matches(get_field) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def get_path(obj: Mapping[str, Any], path: str) -> str | None:
    """Read a dotted path such as ``spec.nodeName`` from a JSON object, as a string."""
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(part)
        if cur is None:
            return None
    if isinstance(cur, bool):
        return "true" if cur else "false"
    if isinstance(cur, str | int | float):
        return str(cur)
    return None


LabelSelectorLike = LabelSelector | str | Mapping[str, str] | None
"""Anything :meth:`LabelSelector.of` accepts: a selector, its text, ``{key: value}``, or
``None`` (every object)."""

FieldSelectorLike = FieldSelector | str | Mapping[str, str] | None
"""Anything :meth:`FieldSelector.of` accepts: a selector, its text, ``{path: value}``, or
``None`` (every object)."""
