"""The fake apiserver in its own process: the CLI, ApiServerProcess and the control channel."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp
import anyio
import pytest
from apiserver_http import CM, configmap, http, summary

from kcs.core import Resource
from kcs.testing import ApiServerProcess, FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

CMS = CM.format(ns="default")


async def test_process_serves_and_is_controlled_over_the_channel(tmp_path: Path) -> None:
    async with ApiServerProcess(token="proc-token") as proc:
        assert proc.url.startswith("http://127.0.0.1:") and proc.pid
        cmdline = await anyio.Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert b"proc-token" not in cmdline  # the token travels in the environment
        assert proc.write_kubeconfig(tmp_path / "kc").stat().st_mode & 0o777 == 0o600
        rev = await proc.seed("configmaps", [configmap(f"s{i}") for i in range(3)])
        async with http(proc.url, token="proc-token", user_agent="worker/1") as c:
            assert (await c.get(CMS)).names() == ["s0", "s1", "s2"]
            async with c.watch(CMS, resourceVersion=str(rev)) as w:
                with anyio.fail_after(10):
                    await proc.wait_for_watchers(1)
                await proc.touch("configmaps", ["default/s1"], times=2)
                assert summary(await w.take(2)) == [("MODIFIED", "s1")] * 2
                assert await proc.drop_watches() == 1
                with pytest.raises(aiohttp.ClientError):
                    await w.rest()
            await proc.fail(429, verbs=["list"], times=1, retry_after=2)
            r = await c.get(CMS)
            assert r.status == 429 and r.headers["Retry-After"] == "2"
            await c.post(CMS, configmap("written"))
            writes = await proc.writes()
            assert [(w["verb"], w["name"], w["user_agent"]) for w in writes] == [
                ("create", "written", "worker/1")]
            assert "proc-token" not in str(writes)
            counts = await proc.counts()
            assert counts["fail_429"] == 1 and counts["drop_watch"] == 1
            state = await proc.state()
            assert state["revision"] == int(writes[-1]["resource_version"])
            assert state["in_flight"] == 0
        assert await proc.stop() == 0  # SIGTERM is a clean shutdown


async def test_process_restart_partition_stall_and_compact() -> None:
    async with ApiServerProcess() as proc:
        await proc.register(Resource("example.com", "v1", "widgets", "Widget", True))
        async with http(proc.url, user_agent="victim") as c, \
                http(proc.url, user_agent="other") as other:
            made = await c.post("/apis/example.com/v1/namespaces/default/widgets",
                                {"apiVersion": "example.com/v1", "kind": "Widget",
                                 "metadata": {"name": "w"}})
            assert made.status == 201
            await proc.restart()
            again = await other.get("/apis/example.com/v1/namespaces/default/widgets/w")
            assert again.status == 200 and again.rv == made.rv
            await proc.partition(user_agent="victim", mode="close")
            with pytest.raises(aiohttp.ClientError):
                await c.get(CMS)
            await proc.heal()
            assert (await c.get(CMS)).status == 200
            async with other.watch(CMS) as w:
                with anyio.fail_after(10):
                    await proc.wait_for_watchers(1)
                await proc.stall()
                await other.post(CMS, configmap("held"))
                await proc.unstall()
                assert summary(await w.take(1)) == [("ADDED", "held")]
            await proc.compact()
            async with other.watch(CMS, resourceVersion=made.rv) as w:
                assert summary(await w.rest()) == [("ERROR", "410")]
            await proc.delay(0.01, verbs=["get"], seed=1)
            await proc.clear_faults()
        counts = await proc.counts()
        assert counts["restart"] == 1 and counts["partition"] >= 1
        assert counts["stall"] == 1 and counts["compact"] == 1
        requests = await proc.requests()
        assert requests["in_flight"] == 0 and requests["total"] > 5
        await proc.fail(429)
        assert await proc.seed("configmaps", []) > 0  # the control channel is exempt
        async with http(proc.url) as c:
            assert (await c.get(CMS)).status == 429


async def test_cli_refuses_non_loopback_addresses() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kcs.testing.apiserver", "--host", "0.0.0.0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 2 and out == b""
    assert b"loopback" in err


def test_constructor_refuses_non_loopback_addresses() -> None:
    for host in ("0.0.0.0", "192.168.1.1", "example.com", "::"):
        with pytest.raises(ValueError, match="loopback"):
            FakeApiServer(host=host)
    assert FakeApiServer(host="localhost").host == "127.0.0.1"
    assert FakeApiServer(host="::1").url.startswith("http://[::1]:")


async def test_pytest_fixture(fake_apiserver: FakeApiServer) -> None:
    async with http(fake_apiserver.url) as c:
        assert (await c.get("/api/v1/namespaces/default")).status == 200
    assert fake_apiserver.running and fake_apiserver.fast_bookmarks is None  # faithful
