"""docs/manager.md's program runs as written, in a process of its own: the Manager leads,
its controller reconciles, and SIGTERM makes ``manager.run()`` return after the hand-off
(here a release: there is no standby). The one change: the health endpoints bind a free
port on 127.0.0.1 instead of the page's ``0.0.0.0:8081`` for in-cluster probes, since a
test binds loopback only."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import pytest
from anyio.streams.text import TextReceiveStream
from doc_blocks import python_blocks

from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

PAGE = "manager.md"
PAGE_BINDING = 'health_port=8081, health_host="0.0.0.0"'
TEST_BINDING = 'health_port=0, health_host="127.0.0.1"'

PROGRAM = '''\
import sys

import anyio

from kcs.client import Client
from kcs.controller import Builder, Context, Controller, Result
from kcs.core import ObjectKey, builtin
from kcs.manager import Manager

url = sys.argv[1]


class MyController(Controller):
    name = "my-controller"

    def setup(self, builder: Builder) -> None:
        builder.for_(builtin("configmaps"))

    async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
        print("reconciled", key.namespace, key.name, flush=True)
        return None


async def main() -> None:
{block}
    print("returned", runner.controller.name, flush=True)

anyio.run(main)
'''


async def test_the_manager_runs_until_sigterm(tmp_path: Path) -> None:
    (block,) = python_blocks(PAGE)
    assert PAGE_BINDING in block.code, "the page's health binding changed: update this test"
    script = tmp_path / "manager_program.py"
    script.write_text(PROGRAM.format(
        block=textwrap.indent(block.code.replace(PAGE_BINDING, TEST_BINDING), "    ")))
    async with FakeApiServer() as api:
        api.create("configmaps", {"metadata": {"name": "settings", "namespace": "default"}})
        async with await anyio.open_process(
                [sys.executable, str(script), api.url], stderr=subprocess.STDOUT) as proc:
            assert proc.stdout is not None
            lines = TextReceiveStream(proc.stdout)
            output = ""
            with anyio.fail_after(30):
                async for chunk in lines:
                    output += chunk
                    if "reconciled default settings\n" in output:
                        break
                proc.send_signal(signal.SIGTERM)
                async for chunk in lines:
                    output += chunk
                assert await proc.wait() == 0, output
        lease = api.get("leases", "my-controller", "default")
    assert output.splitlines()[-1] == "returned my-controller", output
    assert not lease["spec"].get("holderIdentity"), lease  # handed off: released
