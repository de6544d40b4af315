"""A griffe extension: kcs's reST docstring markup, as mkdocstrings renders Markdown.

kcs's docstrings use Sphinx's cross-reference roles (``:class:`~kcs.core.Object```,
``:meth:`run```), ``.. code-block::`` directives and ``::`` literal blocks. mkdocstrings
renders docstring text as Markdown, where those stay raw text. This extension rewrites
them when the package is loaded, before anything is rendered, so the docstrings in the
code need not change:

* a role whose target resolves to an object the reference renders becomes an autorefs
  link, ``[`Object`][kcs.core.Object]``; relative targets are resolved as Sphinx does:
  in the documented object's class, its module, then the packages above it (where kcs
  re-exports its public names), then absolutely, then by a unique dotted suffix;
* a role whose target is outside kcs, or not rendered, becomes inline code
  (``time.monotonic()``), since there is nothing to link to;
* ``.. code-block:: LANG`` and ``text::`` blocks become fenced code blocks.

``:meth:`` and ``:func:`` get ``()`` after their name, as Sphinx adds them. Every
rewritten docstring is counted; ``docs/_ext/check_site.py`` then fails the build's test
if a built page still shows a raw role.
"""

from __future__ import annotations

import functools
import logging
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import griffe

__all__ = ["SphinxRoles"]

_log = logging.getLogger("mkdocs.plugins.kcs_sphinx_roles")

ROLE = re.compile(
    r":(?:py:)?(?P<role>class|meth|func|attr|mod|exc|data|obj|const|type|property)"
    r":`(?P<tilde>~?)(?P<text>[^`<]+?)(?:\s*<(?P<target>[^`>]+)>)?`"
)
_DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. code-block::\s*(?P<lang>[\w+-]*)\s*$")
_LITERAL = re.compile(r"^(?P<indent>\s*)(?P<text>.*\S)?::\s*$")
_CALLABLE_ROLES = {"meth", "func"}
_AUTODOC = re.compile(r"^:::\s+([\w.]+)", re.MULTILINE)


class _Index:
    """Every object of the package by every path it can be named by (canonical and
    re-exported), and which of those paths the reference renders: under a ``::: module``
    of the reference pages, through each module's ``__all__``, public class members, and
    with a docstring (or documented members) to show."""

    def __init__(self, package: griffe.Module, roots: set[str]) -> None:
        self.by_path: dict[str, griffe.Object | griffe.Alias] = {}
        self.public: dict[str, str] = {}  # canonical path -> the public path rendered
        self.roots = roots
        self._walk(package, package.path, depth=0, shown=package.path in roots)

    def _walk(self, obj: griffe.Object | griffe.Alias, path: str, depth: int,
              shown: bool) -> None:
        if depth > 8:
            return
        known = path in self.by_path
        self.by_path.setdefault(path, obj)
        target = _final(obj)
        if target is None or not target.path.startswith(package_root(path)):
            return  # not resolvable, or another package's object re-exported
        shown = shown or path in self.roots
        if shown and _has_content(target):
            self.public.setdefault(target.path, path)
        if known and not shown:
            return
        if target.is_module or target.is_class:
            exported = _exports(target)
            for name, member in list(target.members.items()):
                visible = shown and (name in exported if exported is not None
                                     else _public(name) and not isinstance(member, griffe.Alias))
                self._walk(member, f"{path}.{name}", depth + 1, visible)

    def resolve(self, name: str, scope: griffe.Object) -> griffe.Object | None:
        """The object ``name`` means in the docstring of ``scope``."""
        name = name.strip().lstrip(".~")
        for prefix in _scopes(scope):
            found = self.by_path.get(f"{prefix}.{name}" if prefix else name)
            if found is not None:
                try:
                    return found.final_target if isinstance(found, griffe.Alias) else found
                except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                    return None
        ends = [o for p, o in self.by_path.items() if p.endswith(f".{name}")]
        targets = {_final(o) for o in ends} - {None}
        return targets.pop() if len(targets) == 1 else None

    def link_path(self, obj: griffe.Object) -> str | None:
        """The path the reference renders ``obj`` under, if it renders it."""
        return self.public.get(obj.path)


def package_root(path: str) -> str:
    return path.split(".", 1)[0]


def _public(name: str) -> bool:
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


def _exports(obj: griffe.Object) -> set[str] | None:
    """A module's ``__all__`` (``None``: it has none, or it is a class)."""
    if not obj.is_module:
        return None
    exports = getattr(obj, "exports", None)
    return {str(e) for e in exports} if exports is not None else None


def _has_content(obj: griffe.Object) -> bool:
    if obj.is_module:
        return True
    return bool(obj.docstring) or (obj.is_class and any(m.docstring for m in _members(obj)))


def _final(obj: griffe.Object | griffe.Alias) -> griffe.Object | None:
    try:
        return obj.final_target if isinstance(obj, griffe.Alias) else obj
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _members(obj: griffe.Object) -> Iterator[griffe.Object]:
    for member in obj.members.values():
        final = _final(member)
        if final is not None:
            yield final


def _scopes(obj: griffe.Object) -> Iterator[str]:
    """Where a relative name is looked for: the class (and the classes around it), the
    module, the packages above it, then nowhere (absolute)."""
    node: griffe.Object | None = obj
    while node is not None:
        if node.is_class or node.is_module:
            yield node.path
        node = node.parent
    yield ""


def _code_blocks(text: str) -> str:
    """``.. code-block::`` and ``::`` literal blocks as fenced Markdown code blocks."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        directive = _DIRECTIVE.match(line)
        literal = None if directive else _LITERAL.match(line)
        if literal and (literal.group("text") or "").endswith(":"):
            literal = None  # "a:::" is not a literal marker
        if not directive and not literal:
            out.append(line)
            i += 1
            continue
        m = directive or literal
        assert m is not None
        indent = len(m.group("indent"))
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        block_start = j
        while j < len(lines) and (not lines[j].strip()
                                  or len(lines[j]) - len(lines[j].lstrip()) > indent):
            j += 1
        block = lines[block_start:j]
        while block and not block[-1].strip():
            block.pop()
        if not block:  # a "::" with nothing indented after it is just text
            out.append(line)
            i += 1
            continue
        pad = " " * indent
        if directive:
            lang = directive.group("lang") or "text"
        else:
            lang = "python"
            text_before = (literal.group("text") if literal else "") or ""
            if text_before:
                out.append(f"{pad}{text_before}:")
        out.append("")
        out.append(f"{pad}```{lang}")
        out.extend(pad + b for b in textwrap.dedent("\n".join(block)).split("\n"))
        out.append(f"{pad}```")
        out.append("")
        i = j
    return "\n".join(out)


class SphinxRoles(griffe.Extension):
    """Rewrites reST roles and code blocks in every docstring of the loaded package."""

    def __init__(self, reference: str = "docs/reference") -> None:
        super().__init__()
        self.reference = Path(reference)
        self.linked = 0
        self.unlinked: dict[str, int] = {}

    def _roots(self) -> set[str]:
        """The modules the reference pages render (their ``::: module`` lines)."""
        return {m.group(1) for page in sorted(self.reference.glob("*.md"))
                for m in _AUTODOC.finditer(page.read_text(encoding="utf-8"))}

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        index = _Index(pkg, self._roots())
        seen: set[int] = set()
        for obj in list(index.by_path.values()):
            target = _final(obj)
            if target is None or id(target) in seen or target.docstring is None:
                continue
            seen.add(id(target))
            target.docstring.value = _code_blocks(
                ROLE.sub(functools.partial(self._role, scope=target, index=index),
                         target.docstring.value))
        if self.unlinked:
            _log.debug("kcs docs: %d roles linked; as code (outside the reference): %s",
                       self.linked, ", ".join(sorted(self.unlinked)))

    def _role(self, m: re.Match[str], scope: griffe.Object, index: _Index) -> str:
        role, text = m.group("role"), m.group("text").strip()
        target = (m.group("target") or text).strip()
        if m.group("target"):
            label = text
        elif m.group("tilde"):
            label = target.lstrip(".~").rsplit(".", 1)[-1]
        else:
            label = target.lstrip(".~")
        if role in _CALLABLE_ROLES and not m.group("target"):
            label += "()"
        obj = index.resolve(target, scope)
        path = index.link_path(obj) if obj is not None else None
        if path is None:
            self.unlinked[target] = self.unlinked.get(target, 0) + 1
            return f"`{label}`"
        self.linked += 1
        return f"[`{label}`][{path}]"
