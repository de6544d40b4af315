"""docs/logging.md is true: every Python snippet on the page runs, and does what the page
says, checked on what a kcs logger then prints; and with no logging configured, kcs's
routine messages are not seen at all."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "logging.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)

PROBE = """
import logging
logging.getLogger("kcs.manager").info("probe-info")
logging.getLogger("kcs.manager").warning("probe-warning")
logging.getLogger("kcs.client").debug("probe-debug")
logging.getLogger("kcs.informer").info("probe-informer")
"""
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d"


def _stderr(*code: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", "\n".join(code) + PROBE], capture_output=True,
                          text=True, timeout=30, check=True)
    return proc.stderr.splitlines()


def test_the_page_has_the_snippets_this_test_knows() -> None:
    assert len(SNIPPETS) == 4, SNIPPETS


@pytest.mark.timeout(60)
def test_without_configuration_only_bare_warnings_are_seen() -> None:
    assert _stderr("import kcs.manager") == ["probe-warning"]


@pytest.mark.timeout(60)
def test_basic_config() -> None:
    lines = _stderr(SNIPPETS[0])
    assert [line.split(" ", 2)[2] for line in lines] == [
        "INFO kcs.manager: probe-info", "WARNING kcs.manager: probe-warning",
        "INFO kcs.informer: probe-informer"]


@pytest.mark.timeout(60)
def test_kcs_text_format() -> None:
    lines = _stderr(SNIPPETS[1])
    assert len(lines) == 3
    assert re.fullmatch(ISO + r" INFO    kcs\.manager: probe-info", lines[0]), lines[0]


@pytest.mark.timeout(60)
def test_kcs_json_format() -> None:
    records = [json.loads(line) for line in _stderr(SNIPPETS[2])]
    assert [(r["level"], r["logger"], r["message"]) for r in records] == [
        ("INFO", "kcs.manager", "probe-info"), ("WARNING", "kcs.manager", "probe-warning"),
        ("INFO", "kcs.informer", "probe-informer")]
    assert re.fullmatch(ISO, records[0]["time"])


@pytest.mark.timeout(60)
def test_per_package_levels() -> None:
    messages = [line.rsplit(": ", 1)[1] for line in _stderr(SNIPPETS[1], SNIPPETS[3])]
    assert messages == ["probe-info", "probe-warning", "probe-debug"]  # informer silenced
