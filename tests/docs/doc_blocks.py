"""The fenced code blocks of the docs pages, as the tests run them and the guard counts them.

A block's ``index`` counts the page's blocks of the same language from 0, in page order,
indented ones (inside list items) included; that is how ``test_docs_pages.EXECUTED`` names
a block (``"client.md#2"``). A block is compiled with the page as its file name and its own
line numbers, so a traceback points at the line of the page that failed.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from types import CodeType
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```", re.M | re.S)


@dataclass(frozen=True)
class Block:
    """One fenced block: its page, language, index among the page's blocks of that
    language, the line of its opening fence (from 1), and its text, dedented."""

    page: str
    lang: str
    index: int
    line: int
    code: str

    @property
    def where(self) -> str:
        return f"docs/{self.page}, {self.lang} block #{self.index} (line {self.line})"

    def compile(self, code: str | None = None) -> CodeType:
        """The block (or ``code``, an edited copy of it) as module code that may use
        top-level ``await``, numbered as on the page."""
        source = "\n" * self.line + (self.code if code is None else code)
        code_object: CodeType = compile(source, str(DOCS / self.page), "exec",
                                        flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        return code_object


def code_blocks(page: str) -> list[Block]:
    """Every fenced block of ``docs/<page>``, in page order."""
    text = (DOCS / page).read_text()
    counts: dict[str, int] = {}
    found = []
    for m in _FENCE.finditer(text):
        lang = m.group("lang")
        index = counts.get(lang, 0)
        counts[lang] = index + 1
        found.append(Block(page, lang, index, text.count("\n", 0, m.start()) + 1,
                           textwrap.dedent(m.group("body"))))
    return found


def python_blocks(page: str) -> list[Block]:
    """The ``python`` blocks of ``docs/<page>``, in page order (index = position)."""
    return [b for b in code_blocks(page) if b.lang == "python"]


async def run_block(block: Block, namespace: dict[str, Any], code: str | None = None) -> None:
    """Run one block in ``namespace`` (top-level ``await`` allowed, as in
    ``python -m asyncio``). The caller bounds it (``anyio.fail_after``)."""
    result = eval(block.compile(code), namespace)
    if inspect.iscoroutine(result):
        await result


async def run_page(name: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """Run every ``python`` block of ``docs/<name>`` in order in ``namespace``, each within
    20 s; returns the namespace for the checks of what the page says."""
    blocks = python_blocks(name)
    assert blocks, f"docs/{name} has no python block"
    for block in blocks:
        with anyio.fail_after(20):
            await run_block(block, namespace)
    return namespace


def pod(name: str, app: str, node: str = "node-1", namespace: str = "default") -> dict[str, Any]:
    """A pod as the pages' examples have them: labelled ``app``, bound to ``node``."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": app}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx"}]}}
