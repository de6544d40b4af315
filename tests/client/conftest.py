"""Fixtures for the HTTP client tests (helpers in client_wire.py)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator

import pytest
from client_wire import TlsFiles, WireServer


@pytest.fixture
async def wire() -> AsyncIterator[WireServer]:
    server = WireServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    proc = subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"openssl could not make a certificate: {proc.stderr.decode()[-200:]}")
    return TlsFiles(cert, key)


@pytest.fixture
async def tls_wire(tls_files: TlsFiles) -> AsyncIterator[WireServer]:
    server = WireServer()
    await server.start(tls_files.server_context())
    try:
        yield server
    finally:
        await server.stop()
