"""The demo pointed at a cluster instead of its embedded fake: an HTTPS apiserver that
needs a bearer token (the fake behind a TLS proxy with a CA of the test's own), reached by
``--url`` / ``--ca-file`` / ``$KCS_DEMO_TOKEN`` or by a kubeconfig and ``--context``. TLS
stays verified; the token never shows in the output; the demo cleans up after itself."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from cli_helpers import Certs, TlsProxy, make_certs, tls_proxy, write_kubeconfig

from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio]

TOKEN = "demo-token-0123456789abcdef"
TIME = re.compile(r"^\d\d:\d\d:\d\d\.\d{3}  ")


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    return make_certs(tmp_path)


@pytest.fixture
async def https_api(certs: Certs) -> AsyncIterator[tuple[FakeApiServer, TlsProxy]]:
    async with FakeApiServer(token=TOKEN) as api, \
            tls_proxy(api.url, certs) as proxy:
        yield api, proxy


async def _demo(*args: str, env: dict[str, str] | None = None, within: float = 90
                ) -> tuple[int, str, str]:
    full_env = {k: v for k, v in os.environ.items() if k != "KCS_DEMO_TOKEN"}
    full_env.update(env or {})
    with anyio.fail_after(within):
        result = await anyio.run_process([sys.executable, "-m", "kcs.demo", *args],
                                         env=full_env, check=False)
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def _assert_demo_ran(code: int, out: str, err: str, api: FakeApiServer) -> None:
    assert code == 0, out[-3000:] + err[-3000:]
    assert "r2 took over" in out and "no relist" in out and "handed the lease to r3" in out
    assert TOKEN not in out and TOKEN not in err
    # every replica line is stamped with a readable local time, and no dict repr is left
    lines = [line for line in out.splitlines() if line.strip() and not line.startswith(("==",
                                                                                       "summary"))]
    assert all(TIME.match(line) for line in lines), [x for x in lines if not TIME.match(x)]
    assert "{'" not in out
    # it cleaned up: no ConfigMap of its own, no Lease left
    assert not [o for o in api.list("configmaps", "default")
                if (o["metadata"].get("labels") or {}).get("app.kubernetes.io/managed-by")
                == "kcs-demo"]
    assert not api.list("leases.coordination.k8s.io", "default")


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_demo_against_an_https_server_with_a_ca_file_and_a_token(
    https_api: tuple[FakeApiServer, TlsProxy], certs: Certs,
) -> None:
    api, proxy = https_api
    code, out, err = await _demo("--url", proxy.url, "--ca-file", str(certs.ca),
                                 "--objects", "40", env={"KCS_DEMO_TOKEN": TOKEN})
    _assert_demo_ran(code, out, err, api)
    assert proxy.connections >= 7  # the demo and two clients per replica, all over TLS
    # the term is the Lease's, counted across replicas: 1, 2 (after the crash), 3 (hand-off)
    terms = re.findall(r"(r\d)\s+leading: term (\d+)", out)
    assert terms == [("r1", "1"), ("r2", "2"), ("r3", "3")], terms


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_demo_against_a_kubeconfig_context(
    https_api: tuple[FakeApiServer, TlsProxy], certs: Certs, tmp_path: Path,
) -> None:
    api, proxy = https_api
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", proxy.url, token=TOKEN, ca=certs.ca)
    code, out, err = await _demo("--kubeconfig", str(kubeconfig), "--context", "kcs-test",
                                 "--objects", "40")
    _assert_demo_ran(code, out, err, api)


@pytest.mark.timeout(60)
async def test_demo_without_the_ca_fails_verification_clearly(
    https_api: tuple[FakeApiServer, TlsProxy],
) -> None:
    _, proxy = https_api
    code, out, err = await _demo("--url", proxy.url, env={"KCS_DEMO_TOKEN": TOKEN}, within=40)
    assert code == 1, out + err
    assert "certificate verify failed" in err or "CERTIFICATE_VERIFY_FAILED" in err, err
    assert "Traceback" not in err
    assert TOKEN not in out + err


@pytest.mark.timeout(60)
async def test_demo_without_a_token_says_the_credentials_were_refused(
    https_api: tuple[FakeApiServer, TlsProxy], certs: Certs,
) -> None:
    _, proxy = https_api
    code, out, err = await _demo("--url", proxy.url, "--ca-file", str(certs.ca), within=40)
    assert code == 1, out + err
    assert "refused the credentials" in err and "401" in err, err
    assert "Traceback" not in err


@pytest.mark.timeout(30)
async def test_demo_refuses_a_token_without_url_and_two_connections() -> None:
    code, _, err = await _demo("--token", "x", "--kubeconfig", "/nonexistent", within=20)
    assert code == 2 and "--token and --ca-file go with --url" in err
    code, _, err = await _demo("--url", "http://127.0.0.1:9", "--in-cluster", within=20)
    assert code == 2 and "choose one of" in err
