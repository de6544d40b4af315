"""The "simple JSON paths" of CRD printer columns, as kube-apiserver evaluates them.

A path is a chain of steps from the object's root: ``.field``, ``['field']``, ``[n]``
(an index; negative counts from the end), ``[*]`` (every element) and a filter
``[?(@.a.b == "x")]`` (``==`` or ``!=`` against a quoted string, a number, ``true`` or
``false``; ``[?(@.a)]`` keeps the elements where ``a`` exists). A missing key gives no
result, as with kube's ``AllowMissingKeys(true)``. Anything else is a ``ValueError``
when the CRD is accepted (kube refuses such a CRD too).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["compile_json_path"]

Step = Callable[[Any], Iterator[Any]]

_TOKEN = re.compile(
    r"""\.(?P<field>[A-Za-z0-9_\-$]+)
      | \[\s*'(?P<quoted>[^']*)'\s*\]
      | \[\s*(?P<index>-?\d+)\s*\]
      | \[\s*\*\s*\]
      | \[\s*\?\(\s*@(?P<fpath>(?:\.[A-Za-z0-9_\-]+)+)\s*
            (?:(?P<op>==|!=)\s*(?P<value>"[^"]*"|'[^']*'|-?\d+(?:\.\d+)?|true|false))?\s*\)\s*\]""",
    re.X,
)


def _get(value: Any, key: str) -> Iterator[Any]:
    if isinstance(value, dict) and key in value:
        yield value[key]


def _index(value: Any, i: int) -> Iterator[Any]:
    if isinstance(value, list) and -len(value) <= i < len(value):
        yield value[i]


def _each(value: Any) -> Iterator[Any]:
    if isinstance(value, list):
        yield from value
    elif isinstance(value, dict):
        yield from value.values()


def _literal(text: str) -> Any:
    if text[0] in "\"'":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    return float(text) if "." in text else int(text)


def _filter(path: list[str], op: str | None, literal: Any) -> Step:
    def matches(element: Any) -> bool:
        value: Any = element
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return False
            value = value[key]
        if op is None:
            return True
        return (value == literal) is (op == "==")

    def step(value: Any) -> Iterator[Any]:
        for element in _each(value):
            if matches(element):
                yield element

    return step


def _step(m: re.Match[str]) -> Step:
    if m.group("field") is not None or m.group("quoted") is not None:
        key = m.group("field") if m.group("field") is not None else m.group("quoted")
        return lambda v: _get(v, key)
    if m.group("index") is not None:
        i = int(m.group("index"))
        return lambda v: _index(v, i)
    if m.group("fpath") is not None:
        value = m.group("value")
        return _filter(m.group("fpath").lstrip(".").split("."), m.group("op"),
                       None if value is None else _literal(value))
    return _each


@functools.lru_cache(maxsize=512)
def compile_json_path(path: str) -> Callable[[Any], list[Any]]:
    """A function giving every value ``path`` selects in an object (``[]``: none).

    Raises ``ValueError`` naming the part of ``path`` it does not understand."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    steps: list[Step] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"unsupported JSON path {path!r} at {text[pos:]!r}")
        steps.append(_step(m))
        pos = m.end()
    if not steps:
        raise ValueError(f"empty JSON path {path!r}")

    def evaluate(obj: Any) -> list[Any]:
        values = [obj]
        for step in steps:
            values = [found for value in values for found in step(value)]
        return values

    return evaluate
