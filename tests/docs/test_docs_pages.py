"""The tutorial, the custom resources guide and the controller reference cannot rot: every
code block on them is either included from an example's files (which the suite tests:
the examples' own tests, the end-to-end and RBAC tests of tests/examples/) or is one of
the blocks a named test runs. A new block that is neither fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

PAGES = ("tutorial.md", "custom-resources.md", "writing-a-controller.md")

EXECUTED = {
    # (page, index of the block among the page's python blocks): the test that runs it
    ("writing-a-controller.md", 0): "tests/controller/test_docs_snippets.py",
    ("writing-a-controller.md", 1): "tests/controller/test_docs_snippets.py",
}

TESTED_FILES = re.compile(
    r"^examples/(image-policy|static-site)/"
    r"(\w+\.py|conftest\.py|\w+\.yaml|deploy/\w+\.yaml)$")
"""What the examples' tests exercise: their modules and tests, the sample objects they
apply, and the manifests tests/examples/ renders and applies."""

_FENCE = re.compile(r"```(?P<lang>\w+)\n(?P<body>.*?)```", re.S)
_INCLUDE = re.compile(r'^--8<-- "(?P<path>[^":]+)(?::(?P<section>[\w-]+))?"$')


def blocks(page: str) -> list[tuple[str, str]]:
    return [(m.group("lang"), m.group("body")) for m in _FENCE.finditer((DOCS / page).read_text())]


@pytest.mark.parametrize("page", PAGES)
def test_every_code_block_is_included_from_a_tested_example_or_run(page: str) -> None:
    python = 0
    for lang, body in blocks(page):
        if lang not in ("python", "yaml"):
            continue  # shell blocks: tests/examples/test_examples_docs.py; text: output
        lines = [line for line in body.splitlines() if line.strip()]
        includes = [_INCLUDE.match(line) for line in lines]
        if lines and all(includes):
            for m in includes:
                assert m is not None
                assert TESTED_FILES.match(m.group("path")), m.group("path")
                text = (ROOT / m.group("path")).read_text()
                if m.group("section"):
                    assert f"--8<-- [start:{m.group('section')}]" in text, m.group(0)
        else:
            assert lang == "python" and (page, python) in EXECUTED, (
                f"{page}: a {lang} block that is neither included from an example nor run "
                f"by a test:\n{body[:300]}")
        if lang == "python":
            python += 1


def test_the_runs_named_here_exist() -> None:
    for test in set(EXECUTED.values()):
        assert (ROOT / test).is_file(), test
