"""ApiServerProcess: the fake apiserver in its own OS process, driven over ``/_fake/``."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import ssl
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import anyio

from kcs.core import Resource, error_from_status
from kcs.testing._cluster import CONTROLLERS
from kcs.testing._kubeconfig import kubeconfig_for, write_kubeconfig_file
from kcs.testing._lifecycle import Started

__all__ = ["TOKEN_ENV", "ApiServerProcess"]

TOKEN_ENV = "KCS_FAKE_APISERVER_TOKEN"
"""The variable through which the command takes its bearer token (argv is readable by
every user of the machine). Defined here, not in :mod:`kcs.testing.apiserver`: importing
that module while the package loads would make ``python -m`` run a module already imported."""


class ApiServerProcess(Started):
    """Run ``python -m kcs.testing.apiserver`` in a child process and control it.

    For benchmarks (the server does not share the client's CPU time slice or event loop)
    and multi-process tests (several clients, one server). ``async with
    ApiServerProcess() as api:`` starts it, reads the URL it prints and stops it (SIGTERM,
    then SIGKILL) on exit. The fault and inspection methods mirror
    :class:`~kcs.testing.FakeApiServer`'s and call its control channel.

    Guarantees: the child listens on 127.0.0.1 only; the token, if any, is passed in the
    environment, not on the command line; :meth:`stop` never leaves the child running.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        token: str | None = None,
        bookmark_frequency: float | None = None,
        fast_bookmarks: float | None = None,
        tls: bool = False,
        authorization: str | None = None,
        history_size: int | None = None,
        too_large_wait: float | None = None,
        python: str | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 20.0,
        disabled_controllers: Iterable[str] = (),
    ) -> None:
        self._args = [python or sys.executable, "-m", "kcs.testing.apiserver",
                      "--port", str(port)]
        for name in disabled_controllers:
            if name not in CONTROLLERS:
                raise ValueError(f"unknown controller {name!r}; the controllers are "
                                 f"{list(CONTROLLERS)}")
            self._args += ["--disable-controller", name]
        if bookmark_frequency is not None:
            self._args += ["--bookmark-frequency", str(bookmark_frequency)]
        if fast_bookmarks is not None:
            self._args += ["--fast-bookmarks", str(fast_bookmarks)]
        if authorization is not None:
            self._args += ["--authorization", authorization]
        self._tls_dir: tempfile.TemporaryDirectory[str] | None = None
        if tls:
            self._tls_dir = tempfile.TemporaryDirectory(prefix="kcs-fake-tls-")
            self._args += ["--tls", "--tls-dir", self._tls_dir.name]
        self.ca_pem: bytes | None = None
        if history_size is not None:
            self._args += ["--history-size", str(history_size)]
        if too_large_wait is not None:
            self._args += ["--too-large-wait", str(too_large_wait)]
        self._args += list(extra_args)
        self._token = token
        self._startup_timeout = startup_timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the child and wait for the URL line it prints when listening."""
        env = dict(os.environ)
        env.pop(TOKEN_ENV, None)
        if self._token:
            env[TOKEN_ENV] = self._token
        self._proc = await asyncio.create_subprocess_exec(
            *self._args, stdout=asyncio.subprocess.PIPE, env=env
        )
        assert self._proc.stdout is not None
        try:
            async with asyncio.timeout(self._startup_timeout):
                line = await self._proc.stdout.readline()
        except BaseException:
            await self.stop()
            raise
        self.url = line.decode().strip()
        scheme = "https://" if self._tls_dir is not None else "http://"
        if not self.url.startswith(scheme):
            await self.stop()
            raise RuntimeError(f"the fake apiserver did not start (said {self.url!r})")
        connector = None
        if self._tls_dir is not None:
            self.ca_pem = await anyio.Path(self._tls_dir.name, "ca.crt").read_bytes()
            ctx = ssl.create_default_context(cadata=self.ca_pem.decode())
            connector = aiohttp.TCPConnector(ssl=ctx)
        self._session = aiohttp.ClientSession(
            headers={"User-Agent": "kcs-fake-control"}, timeout=aiohttp.ClientTimeout(total=60),
            connector=connector,
        )

    async def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM the child, SIGKILL it after ``grace`` seconds; returns its exit code."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(grace):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        return proc.returncode

    async def kill(self) -> None:
        """SIGKILL the child (a crash: no graceful shutdown, every connection reset)."""
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()
            await self._proc.wait()
        await self.stop()

    @property
    def pid(self) -> int | None:
        """The child's process id, while it runs."""
        return self._proc.pid if self._proc is not None else None

    @property
    def port(self) -> int:
        """The port the child listens on."""
        return int(self.url.rsplit(":", 1)[1])

    def kubeconfig(self, *, namespace: str = "default",
                   token: str | None = None) -> dict[str, Any]:
        """A kubeconfig (as a dict) pointing at the child, trusting its CA (HTTPS), with
        ``token`` (default: its admin token, if it has one)."""
        return kubeconfig_for(self.url, self.ca_pem, token or self._token, namespace)

    def write_kubeconfig(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`kubeconfig` to ``path`` (JSON, mode 0600)."""
        return write_kubeconfig_file(path, self.kubeconfig())

    # --- control channel --------------------------------------------------------------------

    async def _call(self, method: str, name: str, body: Mapping[str, Any] | None = None,
                    params: Mapping[str, str] | None = None) -> Any:
        if self._session is None:
            raise RuntimeError("the fake apiserver process is not running")
        async with self._session.request(method, f"{self.url}/_fake/{name}", json=body,
                                         params=params) as resp:
            data = await resp.json(content_type=None)
            if resp.status >= 400:
                raise error_from_status(data, resp.status)
            return data

    async def state(self) -> dict[str, Any]:
        """Revision, open watches, in-flight requests, write count and fault counts."""
        result: dict[str, Any] = await self._call("GET", "state")
        return result

    async def counts(self) -> dict[str, int]:
        """``faults.counts``: fault name -> how many times it was injected."""
        result: dict[str, int] = await self._call("GET", "counts")
        return result

    async def writes(self, since: int = 0) -> list[dict[str, Any]]:
        """The write log from position ``since`` (dicts of :class:`~kcs.testing.WriteRecord`)."""
        result: list[dict[str, Any]] = await self._call("GET", "writes",
                                                        params={"since": str(since)})
        return result

    async def requests(self) -> dict[str, Any]:
        """In-flight count, active and client-abandoned requests."""
        result: dict[str, Any] = await self._call("GET", "requests")
        return result

    async def wait_for_watchers(self, count: int = 1, resource: str | None = None) -> None:
        """Wait until at least ``count`` watches are open, within the caller's deadline
        (``with anyio.fail_after(5):``); :class:`TimeoutError` when the server gives up."""
        deadline = anyio.current_effective_deadline()
        left = 3600.0 if deadline == math.inf else max(0.0, deadline - anyio.current_time())
        params = {"count": str(count), "timeout": str(left)}
        if resource:
            params["resource"] = resource
        try:
            await self._call("GET", "watchers", params=params)
        except Exception as e:
            if getattr(e, "code", None) == 408:
                raise TimeoutError(str(e)) from None
            raise

    async def compact(self) -> int:
        """Compact the history; returns the revision compacted to."""
        return int((await self._call("POST", "compact"))["revision"])

    async def restart(self, downtime: float = 0.0, *, compact: bool = False,
                      patience: float = 10.0) -> None:
        """Restart the server inside the child (connections cut, state kept) and wait (up to
        ``patience`` seconds after ``downtime``) until it answers again."""
        before = (await self.counts()).get("restart", 0)
        await self._call("POST", "restart", {"downtime": downtime, "compact": compact})
        assert self._session is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience + downtime
        while True:
            try:
                async with self._session.get(f"{self.url}/_fake/state") as resp:
                    if resp.status == 200:
                        data = await resp.json()
                        if data["counts"].get("restart", 0) > before:
                            return
            except aiohttp.ClientError:
                pass
            if loop.time() > deadline:
                raise TimeoutError("the fake apiserver did not come back")
            await asyncio.sleep(0.02)

    async def issue_token(self, namespace: str, service_account: str, *,
                          expiration_seconds: int = 3600) -> str:
        """A service-account token (see :meth:`kcs.testing.FakeApiServer.issue_token`)."""
        body = {"namespace": namespace, "service_account": service_account,
                "expiration_seconds": expiration_seconds}
        return str((await self._call("POST", "tokens", body))["token"])

    async def append_log(self, pod: str, text: str, namespace: str = "default",
                         container: str | None = None) -> None:
        """Append to a pod's log (see :meth:`kcs.testing.FakeApiServer.append_log`)."""
        await self._call("POST", "logs", {"pod": pod, "text": text, "namespace": namespace,
                                          "container": container})

    async def delay(self, seconds: float, *, verbs: Iterable[str] | None = None,
                    jitter: float = 0.0, seed: int | None = None) -> None:
        """See :meth:`kcs.testing.Faults.delay` (fixed seconds plus seeded jitter)."""
        await self._call("POST", "faults/delay", {
            "seconds": seconds, "verbs": list(verbs) if verbs else None,
            "jitter": jitter, "seed": seed})

    async def fail(self, code: int = 429, *, share: float = 1.0,
                   verbs: Iterable[str] | None = None, retry_after: int = 1,
                   times: int | None = None, seed: int | None = None) -> None:
        """See :meth:`kcs.testing.Faults.fail`."""
        await self._call("POST", "faults/fail", {
            "code": code, "share": share, "verbs": list(verbs) if verbs else None,
            "retry_after": retry_after, "times": times, "seed": seed})

    async def drop_watches(self, *, user_agent: str | None = None) -> int:
        """See :meth:`kcs.testing.Faults.drop_watches`."""
        body = {"user_agent": user_agent} if user_agent else {}
        return int((await self._call("POST", "faults/drop-watches", body))["dropped"])

    async def drop_watches_every(self, events: int | None) -> None:
        """See :meth:`kcs.testing.Faults.drop_watches_every`."""
        await self._call("POST", "faults/drop-watches-every", {"events": events})

    async def stall(self) -> None:
        """See :meth:`kcs.testing.Faults.stall`."""
        await self._call("POST", "faults/stall")

    async def unstall(self) -> None:
        """See :meth:`kcs.testing.Faults.unstall`."""
        await self._call("POST", "faults/unstall")

    async def partition(self, *, user_agent: str | None = None, token: str | None = None,
                        mode: str = "hang") -> None:
        """See :meth:`kcs.testing.Faults.partition`."""
        await self._call("POST", "faults/partition",
                         {"user_agent": user_agent, "token": token, "mode": mode})

    async def heal(self) -> None:
        """See :meth:`kcs.testing.Faults.heal`."""
        await self._call("POST", "faults/heal")

    async def clear_faults(self) -> None:
        """See :meth:`kcs.testing.Faults.clear`."""
        await self._call("POST", "faults/clear")

    async def register(self, resource: Resource) -> None:
        """Serve a custom resource (see :meth:`kcs.testing.FakeApiServer.register`)."""
        await self._call("POST", "resources", {
            "group": resource.group, "version": resource.version, "plural": resource.plural,
            "kind": resource.kind, "namespaced": resource.namespaced,
            "singular": resource.singular, "short_names": list(resource.short_names),
            "subresources": sorted(resource.subresources), "verbs": list(resource.verbs)})

    async def seed(self, resource: Resource | str, objects: Iterable[Mapping[str, Any]]) -> int:
        """Bulk-load objects (see :meth:`kcs.testing.FakeApiServer.seed`)."""
        name = str(resource)
        return int((await self._call("POST", "seed", {
            "resource": name, "objects": list(objects)}))["revision"])

    async def touch(self, resource: Resource | str, keys: Iterable[str] | None = None,
                    *, times: int = 1) -> int:
        """A burst of MODIFIED events (see :meth:`kcs.testing.FakeApiServer.touch`)."""
        return int((await self._call("POST", "touch", {
            "resource": str(resource), "keys": list(keys) if keys is not None else None,
            "times": times}))["revision"])

    # --- the cluster's controllers ----------------------------------------------------------

    async def controllers(self) -> dict[str, Any]:
        """``{"enabled": [...], "busy": bool, "errors": [...], "node_agent": {...}}``."""
        result: dict[str, Any] = await self._call("GET", "controllers")
        return result

    async def wait_controllers_idle(self) -> None:
        """Wait until the cluster's controllers have nothing queued or scheduled, within the
        caller's deadline; :class:`TimeoutError` when the server gives up."""
        deadline = anyio.current_effective_deadline()
        left = 3600.0 if deadline == math.inf else max(0.0, deadline - anyio.current_time())
        try:
            await self._call("GET", "controllers/idle", params={"timeout": str(left)})
        except Exception as e:
            if getattr(e, "code", None) == 408:
                raise TimeoutError(str(e)) from None
            raise

    async def node_agent_mode(self, mode: str, *, seconds: float = 0.0,
                              node: str | None = None) -> None:
        """See :meth:`kcs.testing.NodeAgent.set_mode`."""
        await self._call("POST", "node-agent", {"mode": mode, "seconds": seconds, "node": node})

    async def confirm_pod(self, namespace: str, name: str) -> bool:
        """See :meth:`kcs.testing.NodeAgent.confirm`."""
        return bool((await self._call("POST", "node-agent/confirm",
                                      {"namespace": namespace, "name": name}))["confirmed"])

    async def terminating_pods(self) -> list[str]:
        """See :meth:`kcs.testing.NodeAgent.terminating`."""
        return list((await self._call("GET", "node-agent"))["terminating"])
