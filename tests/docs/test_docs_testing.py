"""docs/testing.md runs as written: the server block (a URL on 127.0.0.1, a kubeconfig, the
file mode 0600), and the pytest block as the project it describes, run by pytest in a
directory of its own: the ``fake_apiserver`` fixture comes from the installed plugin, with
no ``-p`` and no conftest import (the test gives the block's empty test body one assert)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from doc_blocks import python_blocks, run_block

PAGE = "testing.md"


@pytest.mark.anyio
@pytest.mark.timeout(30)
async def test_the_server_and_its_kubeconfig(tmp_path: Path) -> None:
    ns: dict[str, Any] = {"tmp_path": tmp_path}
    with anyio.fail_after(10):
        await run_block(python_blocks(PAGE)[0], ns)
    url = ns["api"].url
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url), url
    written = tmp_path / "kc"
    assert written.stat().st_mode & 0o777 == 0o600
    assert json.loads(written.read_text()) == ns["api"].kubeconfig()
    assert ns["api"].kubeconfig()["clusters"][0]["cluster"]["server"] == url


@pytest.mark.timeout(90)
def test_the_pytest_fixture_in_a_project(tmp_path: Path) -> None:
    block = python_blocks(PAGE)[1]
    conftest, marker, test = block.code.partition("# test_something.py\n")
    assert marker and conftest.startswith("# conftest.py\n"), block.code
    (tmp_path / "conftest.py").write_text(conftest)
    (tmp_path / "test_something.py").write_text(
        test + "    assert fake_apiserver.url.startswith('http://127.0.0.1:')\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=80, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout, proc.stdout
