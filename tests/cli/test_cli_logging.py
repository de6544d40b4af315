"""The command's logging: ISO-8601 local times with milliseconds, the logger's name, the
level and the message; one JSON object per line on request. The library configures none."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime

import pytest

from kcs.logs import configure_logging

TEXT = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d) (\w+) +([\w.]+): (.*)$")


@pytest.fixture(autouse=True)
def _restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_text_lines_have_a_local_iso_time_to_the_millisecond_the_level_and_the_logger() -> None:
    out = io.StringIO()
    configure_logging("info", "text", out)
    before = datetime.now().astimezone()
    logging.getLogger("kcs.manager").info("leading (term %d)", 3)
    logging.getLogger("kcs.manager").debug("not shown at info")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1, lines
    m = TEXT.match(lines[0])
    assert m, lines[0]
    stamp = datetime.fromisoformat(m.group(1))
    assert stamp.utcoffset() == before.utcoffset()  # local time, with its offset
    assert abs((stamp - before).total_seconds()) < 5
    assert m.group(2, 3, 4) == ("INFO", "kcs.manager", "leading (term 3)")


def test_json_is_one_object_per_line_even_with_newlines_and_a_traceback() -> None:
    out = io.StringIO()
    configure_logging("debug", "json", out)
    log = logging.getLogger("kcs.controller")
    log.debug("two\nlines")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("reconcile failed")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2, lines
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "two\nlines" and first["level"] == "DEBUG"
    assert first["logger"] == "kcs.controller"
    datetime.fromisoformat(first["time"])
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exception"]


def test_configuring_twice_replaces_the_handler_and_bad_names_are_refused() -> None:
    out = io.StringIO()
    configure_logging("info", "text", out)
    configure_logging("info", "text", out)
    logging.getLogger("kcs").info("once")
    assert out.getvalue().count("once") == 1
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        configure_logging("loud")
    with pytest.raises(ValueError, match="unknown log format 'xml'"):
        configure_logging("info", "xml")  # type: ignore[arg-type]


LIBRARY = ["kcs", "kcs.core", "kcs.client", "kcs.watch", "kcs.cache", "kcs.informer",
           "kcs.workqueue", "kcs.controller", "kcs.sharding", "kcs.leaderelection", "kcs.manager",
           "kcs.observability", "kcs.testing"]


@pytest.mark.timeout(60)
def test_importing_the_library_configures_no_logging() -> None:
    code = (f"import importlib, logging\nfor m in {LIBRARY!r}: importlib.import_module(m)\n"
            "root = logging.getLogger()\n"
            "kcs = [n for n, l in logging.root.manager.loggerDict.items()\n"
            "       if n.startswith('kcs') and isinstance(l, logging.Logger) and l.handlers]\n"
            "print(len(root.handlers), root.level, kcs)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=50, check=True)
    assert proc.stdout.split(None, 2) == ["0", str(logging.WARNING), "[]\n"], proc.stdout
