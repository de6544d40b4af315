"""No docs page can rot: every ``python`` block on every page in docs/ runs in the tests.

A block is either included from a tested example's files (``--8<--`` lines only; the
examples' own tests and tests/examples/ exercise those files) or run by a test named in
:data:`EXECUTED`. A new block that is neither fails here, with what to do. The yaml blocks
of the example pages are held to the same rule (included from what tests/examples/ applies).
"""

from __future__ import annotations

import re

import pytest
from doc_blocks import DOCS, ROOT, Block, code_blocks

EXECUTED: dict[str, str] = {
    # "page.md": the test that runs every python block of the page, in order (its blocks
    #     included from an example aside), e.g. with doc_blocks.run_page;
    # "page.md#N": the test that runs the page's python block #N (counted from 0, in page
    #     order, included ones too).
    # A test is named "tests/<dir>/<file>.py::<function>".
    "caches-and-indexes.md": "tests/docs/test_docs_guides.py::test_caches_and_indexes_page",
    "client.md#0": "tests/docs/test_docs_client.py::test_the_first_example_runs_as_a_program",
    "client.md#1": "tests/docs/test_docs_client.py::test_resources_verbs_and_deadlines",
    "client.md#2": "tests/docs/test_docs_client.py::test_resources_verbs_and_deadlines",
    "client.md#3": "tests/docs/test_docs_client.py::test_resources_verbs_and_deadlines",
    "consistency.md": "tests/docs/test_docs_guides.py::test_consistency_page",
    "informers.md": "tests/docs/test_docs_guides.py::test_informers_page",
    "leader-election.md#0": "tests/docs/test_docs_leader_election.py::test_leader_election_page",
    "leader-election.md#1": "tests/leaderelection/test_le_docs.py::"
                            "test_the_crash_detection_example_builds_an_elector_that_advertises"
                            "_its_endpoint",
    "logging.md#0": "tests/docs/test_docs_logging.py::test_basic_config",
    "logging.md#1": "tests/docs/test_docs_logging.py::test_kcs_text_format",
    "logging.md#2": "tests/docs/test_docs_logging.py::test_kcs_json_format",
    "logging.md#3": "tests/docs/test_docs_logging.py::test_per_package_levels",
    "long-tail-requests.md": "tests/docs/test_docs_long_tail.py::test_long_tail_requests_page",
    "manager.md": "tests/docs/test_docs_manager.py::test_the_manager_runs_until_sigterm",
    "observability.md#0": "tests/docs/test_docs_observability.py::"
                          "test_the_otlp_snippet_exports_to_a_collector",
    "observability.md#1": "tests/docs/test_docs_observability.py::"
                          "test_the_prometheus_snippet_serves_metrics_beside_the_probes",
    "sharding.md": "tests/sharding/test_sharding_docs.py::test_the_sharding_page_runs_as_written",
    "testing.md#0": "tests/docs/test_docs_testing.py::test_the_server_and_its_kubeconfig",
    "testing.md#1": "tests/docs/test_docs_testing.py::test_the_pytest_fixture_in_a_project",
    "testing.md#2": "tests/chaos/test_chaos_docs.py::test_the_convergence_example_runs",
    "testing.md#3": "tests/chaos/test_chaos_docs.py::test_the_election_example_runs",
    "watch.md": "tests/docs/test_docs_guides.py::test_watch_page",
    "workqueue.md": "tests/docs/test_docs_workqueue.py::test_workqueue_page",
    "writing-a-controller.md#0": "tests/controller/test_docs_snippets.py::"
                                 "test_the_first_controller_and_its_runner_work_as_written",
    "writing-a-controller.md#1": "tests/controller/test_docs_snippets.py::"
                                 "test_the_first_controller_and_its_runner_work_as_written",
}

YAML_FROM_EXAMPLES = ("tutorial.md", "custom-resources.md", "writing-a-controller.md")
"""The pages whose yaml blocks must be included from what tests/examples/ applies."""

TESTED_FILES = re.compile(
    r"^examples/(image-policy|static-site)/"
    r"(\w+\.py|conftest\.py|\w+\.yaml|deploy/\w+\.yaml)$")
"""What the examples' tests exercise: their modules and tests, the sample objects they
apply, and the manifests tests/examples/ renders and applies."""

_INCLUDE = re.compile(r'^--8<-- "(?P<path>[^":]+)(?::(?P<section>[\w-]+))?"$')

PAGES = sorted(p.name for p in DOCS.glob("*.md"))


def included(block: Block) -> bool:
    """Whether ``block`` is only ``--8<--`` lines, each naming a tested example file (and
    a section the file has)."""
    lines = [line for line in block.code.splitlines() if line.strip()]
    matches = [_INCLUDE.match(line) for line in lines]
    if not lines or not all(matches):
        return False
    for m in matches:
        assert m is not None
        assert TESTED_FILES.match(m.group("path")), (
            f"{block.where} includes {m.group('path')}, which no example test exercises "
            f"(tested: {TESTED_FILES.pattern})")
        text = (ROOT / m.group("path")).read_text()
        if m.group("section"):
            assert f"--8<-- [start:{m.group('section')}]" in text, f"{block.where}: {m.group(0)}"
    return True


def untested_message(block: Block) -> str:
    page, n = block.page, block.index
    name = "test_" + re.sub(r"\W", "_", page.removesuffix(".md")) + "_page"
    snippet = textwrap_block(block.code)
    return f"""{block.where} is run by no test:
{snippet}
Every python block on a docs page must run in the tests. Do one of these:
  * include it from a tested example file: a block of only lines like
      --8<-- "examples/image-policy/image_policy.py:section"
  * or run it in a test and register that test in EXECUTED in tests/docs/test_docs_pages.py.
    tests/docs/doc_blocks.py runs blocks against the fake apiserver the way
    tests/docs/test_docs_guides.py does (`ns = await run_page("{page}", {{"client": client}})`
    runs every block of the page in order; `run_block(python_blocks("{page}")[{n}], ns)`
    runs one), then assert what the page says. Register it as one of
      "{page}": "tests/docs/<file>.py::{name}",  # runs every python block of the page
      "{page}#{n}": "tests/docs/<file>.py::<test>",  # runs this block
"""


def textwrap_block(code: str, lines: int = 8) -> str:
    shown = code.splitlines()[:lines]
    more = "\n    ..." if len(code.splitlines()) > lines else ""
    return "\n".join("    " + line for line in shown) + more


@pytest.mark.parametrize("page", PAGES)
def test_every_python_block_is_included_from_a_tested_example_or_run(page: str) -> None:
    for block in code_blocks(page):
        if block.lang == "yaml" and page in YAML_FROM_EXAMPLES:
            assert included(block), (
                f"{block.where} is not included from an example that tests/examples/ applies: "
                f'make it a line `--8<-- "examples/<example>/<file>.yaml"`')
        elif (block.lang == "python" and not included(block)
              and page not in EXECUTED and f"{page}#{block.index}" not in EXECUTED):
            pytest.fail(untested_message(block), pytrace=False)


def _test_source(test: str) -> tuple[str, str]:
    path, _, function = test.partition("::")
    assert function, f"{test}: name a test as tests/<dir>/<file>.py::<function>"
    file = ROOT / path
    assert file.is_file(), f"{test}: there is no {path}"
    return file.read_text(), function


@pytest.mark.parametrize("entry", sorted(EXECUTED))
def test_every_registered_run_exists_and_reads_its_page(entry: str) -> None:
    """An entry names a test function that exists and reads the page (so the registry cannot
    point at an unrelated test), and a block that exists and is not an include."""
    page, _, index = entry.partition("#")
    assert (DOCS / page).is_file(), f"EXECUTED[{entry!r}]: there is no docs/{page}"
    blocks = [b for b in code_blocks(page) if b.lang == "python"]
    if index:
        assert int(index) < len(blocks), (
            f"EXECUTED[{entry!r}]: docs/{page} has {len(blocks)} python blocks (#0-#"
            f"{len(blocks) - 1}); renumber the entries of {page} after adding or removing one")
        assert not included(blocks[int(index)]), (
            f"EXECUTED[{entry!r}] is included from an example: drop the entry")
    else:
        assert any(not included(b) for b in blocks), (
            f"EXECUTED[{entry!r}]: docs/{page} has no python block to run: drop the entry")
    source, function = _test_source(EXECUTED[entry])
    assert re.search(rf"^(async )?def {function}\(", source, re.M), (
        f"EXECUTED[{entry!r}]: no test {function} in {EXECUTED[entry].partition('::')[0]}")
    assert page in source, f"EXECUTED[{entry!r}]: {EXECUTED[entry]} never names {page}"
