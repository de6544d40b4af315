"""The Prometheus snippet of docs/observability.md runs as written: a Manager built by it
serves /metrics beside /healthz, with the leader-election metrics of its Lease."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "observability.md"

DRIVER = '''
import aiohttp, anyio
from kcs.testing import FakeApiServer

async def drive() -> None:
    async with FakeApiServer() as api, Client.from_url(api.url) as client:
        manager = make_manager(client)
        manager.handle_signals = False
        async with anyio.create_task_group() as tg:
            tg.start_soon(manager.run)
            await manager.started.wait()
            url = f"http://127.0.0.1:{manager.health.port}/metrics"
            with anyio.fail_after(10):
                while not manager.is_leader:
                    await anyio.sleep(0.05)
            async with aiohttp.ClientSession() as s, s.get(url) as r:
                print(r.status, r.headers["Content-Type"])
                print(await r.text())
            await manager.shutdown()

anyio.run(drive)
'''


@pytest.mark.timeout(60)
def test_the_prometheus_snippet_serves_metrics_beside_the_probes() -> None:
    snippet = next(s for s in re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
                   if "install_prometheus" in s)
    proc = subprocess.run([sys.executable, "-c", snippet + DRIVER], capture_output=True,
                          text=True, timeout=50, check=False)
    assert proc.returncode == 0, proc.stderr
    status, _, body = proc.stdout.partition("\n")
    assert status.startswith("200 text/plain"), status
    assert re.search(r'^kcs_leader_is_leader\{[^}]*lease="my-controller"[^}]*\} 1\.0$', body,
                     re.M), body[-2000:]
    assert "kcs_leader_transitions_total{" in body
