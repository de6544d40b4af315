"""Helpers of the command-line tests: the ``kcs`` command as a real process, a CA and a
server certificate made with openssl, and a TLS-terminating proxy on 127.0.0.1 in front of
the (plain HTTP) fake apiserver."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import anyio
import anyio.abc
from anyio.streams.text import TextReceiveStream

KCS = [sys.executable, "-m", "kcs"]

# A user's controller file, as ``kcs run`` gets it.
CONTROLLERS = '''
from kcs.testing import eventually
from kcs.controller import Builder, Context, Controller, Result
from kcs.core import ObjectKey, builtin

CONFIGMAPS = builtin("configmaps")


class Stamp(Controller):
    """Copies data.value into the annotation stamp.example/value."""

    name = "stamp"

    def setup(self, builder: Builder) -> None:
        builder.for_(CONFIGMAPS)

    async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
        obj = await ctx.cache.get(CONFIGMAPS, key.name, key.namespace)
        if obj is None:
            return None
        value = (obj.get("data") or {}).get("value", "")
        if obj.annotations.get("stamp.example/value") != value:
            await ctx.client.patch(CONFIGMAPS, key.name,
                                   {"metadata": {"annotations": {"stamp.example/value": value}}},
                                   key.namespace)
        return None


def controllers(manager):
    return [Stamp()]
'''

_HEALTH = re.compile(r"health endpoints on http://([0-9.]+):(\d+)")
_METRICS = re.compile(r"metrics on http://([0-9.]+):(\d+)/metrics")


@dataclass
class Running:
    """A ``kcs`` process and the lines it wrote so far."""

    process: anyio.abc.Process
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    changed: anyio.Event = field(default_factory=anyio.Event)

    def _add(self, where: list[str], line: str) -> None:
        where.append(line)
        self.changed.set()
        self.changed = anyio.Event()

    async def wait_line(self, pattern: re.Pattern[str] | str, within: float = 20.0,
                        stream: str = "stderr") -> re.Match[str]:
        """The first line (of ``stream``) matching ``pattern``, waiting for it."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        lines = self.stderr if stream == "stderr" else self.stdout
        with anyio.fail_after(within):
            while True:
                changed = self.changed
                for line in lines:
                    m = rx.search(line)
                    if m:
                        return m
                if self.process.returncode is not None:
                    raise AssertionError(f"exited {self.process.returncode} before {rx.pattern!r}:"
                                         f"\n{self.text()}")
                await changed.wait()

    async def health_port(self) -> int:
        return int((await self.wait_line(_HEALTH)).group(2))

    async def metrics_port(self) -> int:
        return int((await self.wait_line(_METRICS)).group(2))

    def text(self) -> str:
        return "".join(self.stdout[-100:]) + "\n--- stderr ---\n" + "".join(self.stderr[-100:])

    async def stop(self, within: float = 30.0) -> int:
        """SIGTERM, then the exit status (SIGKILL if it takes longer than ``within``)."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        with anyio.move_on_after(within):
            return await self.process.wait()
        self.process.kill()
        await self.process.wait()
        raise AssertionError(f"did not stop within {within}s after SIGTERM:\n{self.text()}")


async def _pump(stream: anyio.abc.ByteReceiveStream | None, sink: Callable[[str], None]) -> None:
    if stream is None:
        return
    buffer = ""
    async for chunk in TextReceiveStream(stream):
        buffer += chunk
        *lines, buffer = buffer.split("\n")
        for line in lines:
            sink(line + "\n")
    if buffer:
        sink(buffer)


@asynccontextmanager
async def kcs_process(args: Sequence[str], *, env: dict[str, str] | None = None,
                      cwd: Path | None = None) -> AsyncIterator[Running]:
    """``python -m kcs ARGS`` running while the body runs; killed and reaped afterwards."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    process = await anyio.open_process([*KCS, *args], env=full_env, cwd=cwd)
    running = Running(process)
    async with anyio.create_task_group() as tg:
        tg.start_soon(_pump, process.stdout, lambda line: running._add(running.stdout, line))
        tg.start_soon(_pump, process.stderr, lambda line: running._add(running.stderr, line))
        try:
            yield running
        finally:
            if process.returncode is None:
                process.kill()
            with anyio.CancelScope(shield=True):
                await process.wait()
            tg.cancel_scope.cancel()


async def http_get(port: int, path: str) -> tuple[int, str, str]:
    """``GET http://127.0.0.1:port/path``: status, body, content type."""
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}{path}") as r:
        return r.status, await r.text(), r.headers.get("Content-Type", "")


def run_kcs(args: Sequence[str], timeout: float = 60, **kwargs: Any
            ) -> subprocess.CompletedProcess[str]:
    """``python -m kcs ARGS`` to completion."""
    return subprocess.run([*KCS, *args], capture_output=True, text=True, timeout=timeout,
                          check=False, **kwargs)


# -- TLS ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certs:
    ca: Path
    cert: Path
    key: Path


def make_certs(directory: Path) -> Certs:
    """A CA and a server certificate for 127.0.0.1 signed by it (openssl, one day)."""
    d = directory
    def ossl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=kcs-test-ca",
         "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"),
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
         "-keyout", str(d / "server.key"), "-out", str(d / "server.csr"))
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
                               "keyUsage=critical,digitalSignature,keyEncipherment\n"
                               "extendedKeyUsage=serverAuth\n")
    ossl("x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.crt"),
         "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "1",
         "-extfile", str(d / "ext.cnf"), "-out", str(d / "server.crt"))
    return Certs(d / "ca.crt", d / "server.crt", d / "server.key")


@dataclass
class TlsProxy:
    url: str
    connections: int = 0


@asynccontextmanager
async def tls_proxy(upstream: str, certs: Certs) -> AsyncIterator[TlsProxy]:
    """``https://127.0.0.1:PORT`` with ``certs``' server certificate, forwarding every
    connection to the plain-HTTP ``upstream``."""
    parts = urlsplit(upstream)
    assert parts.hostname == "127.0.0.1" and parts.port
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(certs.cert), str(certs.key))
    proxy = TlsProxy("")

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with suppress(ConnectionError, asyncio.CancelledError, ssl.SSLError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with suppress(Exception):
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        proxy.connections += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", parts.port)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    proxy.url = f"https://127.0.0.1:{port}"
    try:
        yield proxy
    finally:
        server.close()
        with suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2)


def write_kubeconfig(path: Path, server: str, *, token: str | None, ca: Path | None,
                     context: str = "kcs-test") -> Path:
    """A kubeconfig with one cluster, user and context (also a decoy current context)."""
    user: dict[str, Any] = {"token": token} if token else {}
    cluster: dict[str, Any] = {"server": server}
    if ca is not None:
        cluster["certificate-authority"] = str(ca)
    config = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster},
                     {"name": "decoy", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}},
                     {"name": "decoy", "context": {"cluster": "decoy", "user": "u"}}],
        "current-context": "decoy",
    }
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path
