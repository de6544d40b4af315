"""``kcs fake-apiserver``: the same server as ``python -m kcs.testing.apiserver``, usable
by kubectl through the kubeconfig it writes, stopped by SIGTERM."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from cli_helpers import kcs_process

pytestmark = [pytest.mark.anyio]


@pytest.mark.timeout(60)
async def test_kcs_fake_apiserver_serves_kubectl_and_stops_on_sigterm(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    async with kcs_process(["fake-apiserver", "--kubeconfig", str(kubeconfig)]) as proc:
        url = (await proc.wait_line(r"^http://127\.0\.0\.1:\d+$", stream="stdout")).group(0)
        manifest = tmp_path / "cm.json"
        manifest.write_text('{"apiVersion": "v1", "kind": "ConfigMap", '
                            '"metadata": {"name": "c", "namespace": "default"}, '
                            '"data": {"k": "v"}}')
        result = await anyio.run_process(
            ["kubectl", "--kubeconfig", str(kubeconfig), "apply", "--validate=false", "-f", str(manifest)],
            check=False)
        assert result.returncode == 0, result.stderr.decode()
        result = await anyio.run_process(
            ["kubectl", "--kubeconfig", str(kubeconfig), "get", "configmap", "c",
             "-o", "jsonpath={.data.k}"], check=False)
        assert result.stdout.decode() == "v", result.stderr.decode()
        assert url.startswith("http://127.0.0.1:")
        assert await proc.stop() == 0


@pytest.mark.timeout(30)
def test_it_refuses_to_bind_anything_but_loopback() -> None:
    proc = subprocess.run([str(Path(sys.executable).parent / "kcs"), "fake-apiserver", "--host", "0.0.0.0"], capture_output=True,
                          text=True, timeout=20, check=False)
    assert proc.returncode == 2 and "loopback" in proc.stderr, proc.stderr
