"""docs/sharding.md runs as written, against the fake apiserver over HTTP."""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from pathlib import Path
from typing import Any

import anyio
import pytest

from kcs.client import Client
from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

PAGE = Path(__file__).resolve().parents[2] / "docs" / "sharding.md"


def python_blocks(text: str) -> list[str]:
    found = re.finditer(r"^([ \t]*)```python\n(.*?)^\1```", text, flags=re.M | re.S)
    return [textwrap.dedent(m.group(2)) for m in found]


async def test_the_sharding_page_runs_as_written() -> None:
    async with FakeApiServer() as api:
        for name in ("a", "b", "c"):
            api.create("configmaps", {"metadata": {"name": name, "namespace": "default"}})
        async with Client.from_url(api.url, qps=None) as client:
            namespace: dict[str, Any] = {"client": client, "anyio": anyio}
            blocks = python_blocks(PAGE.read_text())
            assert len(blocks) == 3
            for i, code in enumerate(blocks):
                compiled = compile(code, f"{PAGE}[block {i + 1}]", "exec",
                                   flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
                with anyio.fail_after(30):
                    result = eval(compiled, namespace)
                    if inspect.iscoroutine(result):
                        await result
            crash = namespace["sharding"].crash_detection
            assert crash is not None and crash.advertise == "10.1.2.3"
