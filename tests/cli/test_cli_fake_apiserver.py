"""``kcs fake-apiserver``: the same server as ``python -m kcs.testing.apiserver``, usable
by kubectl through the kubeconfig it writes, stopped by SIGTERM."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from cli_helpers import kcs_process

from kcs.testing import FakeApiServer
from kcs.testing._process import TOKEN_ENV
from kcs.testing.apiserver import _COMMAND_ONLY, _parser, _server_options

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


ALL_SERVER_FLAGS = ["--host", "::1", "--port", "8123", "--token", "t", "--bookmark-frequency", "5",
                    "--fast-bookmarks", "0.5", "--min-request-timeout", "30", "--tls",
                    "--authorization", "RBAC", "--anonymous", "--history-size", "7",
                    "--max-body-bytes", "1024", "--too-large-wait", "0.25", "--no-control",
                    "--disable-controller", "node-agent", "--disable-controller", "gc"]


def test_each_flag_sets_the_fake_apiserver_keyword_of_its_dest() -> None:
    parser = _parser()
    options = _server_options(parser.parse_args([*ALL_SERVER_FLAGS, "--kubeconfig", "k",
                                                 "--tls-dir", "d"]))
    assert options == {
        "host": "::1", "port": 8123, "token": "t", "bookmark_frequency": 5.0,
        "fast_bookmarks": 0.5, "min_request_timeout": 30.0, "tls": True,
        "authorization": "RBAC", "anonymous": True, "history_size": 7, "max_body_bytes": 1024,
        "too_large_wait": 0.25, "control": False, "disabled_controllers": ["node-agent", "gc"],
    }
    dests = {a.dest for a in parser._actions if a.dest != "help"}
    assert dests - set(_COMMAND_ONLY) == set(options)  # the list above names every flag
    assert set(options) <= set(inspect.signature(FakeApiServer).parameters)


def test_a_flag_left_out_leaves_the_constructors_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert _server_options(_parser().parse_args([])) == {"token": None}
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    assert _server_options(_parser().parse_args([])) == {"token": "from-env"}
    assert _server_options(_parser().parse_args(["--token", "flag"])) == {"token": "flag"}
