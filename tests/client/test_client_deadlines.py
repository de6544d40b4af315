"""Deadlines come from the caller's scope; cancelling the caller aborts the HTTP request."""

from __future__ import annotations

import asyncio
import time

import anyio
import pytest
from aiohttp import web
from client_wire import WireServer, json_response

from kcs.client import ApiTimeoutError, Client, RequestRecord
from kcs.core import Object, builtin

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

PODS = builtin("pods")


def _kind(obj: Object | None) -> str | None:
    return None if obj is None else obj.kind


def slow(wire: WireServer, seconds: float = 5.0) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return json_response({"kind": "Pod"})

    wire.handler = handler


async def server_saw_disconnect(wire: WireServer) -> None:
    with anyio.fail_after(5):
        await wire.disconnected.wait()
    assert wire.disconnects == 1


async def test_caller_deadline_bounds_the_request(wire: WireServer) -> None:
    slow(wire)
    async with Client.from_url(wire.url) as client:
        started = time.monotonic()
        with pytest.raises(TimeoutError), anyio.fail_after(0.2):
            await client.get(PODS, "p", "ns")
        elapsed = time.monotonic() - started
        assert elapsed < 1.5, elapsed
        await server_saw_disconnect(wire)


async def test_move_on_after_cancels_quietly(wire: WireServer) -> None:
    slow(wire)
    async with Client.from_url(wire.url) as client:
        with anyio.move_on_after(0.2) as scope:
            await client.list(PODS)
        assert scope.cancelled_caught
        await server_saw_disconnect(wire)


async def test_per_call_timeout_raises_api_timeout_error(wire: WireServer) -> None:
    slow(wire)
    records: list[RequestRecord] = []

    class Keep:
        def request_done(self, record: RequestRecord) -> None:
            records.append(record)

    async with Client.from_url(wire.url, observer=Keep()) as client:
        with pytest.raises(ApiTimeoutError) as caught:
            await client.get(PODS, "p", "ns", timeout=0.2)
        assert isinstance(caught.value, TimeoutError)
        await server_saw_disconnect(wire)
    assert isinstance(records[0].error, ApiTimeoutError)
    assert records[0].code is None


async def test_per_call_timeout_is_narrowed_by_the_callers_deadline(wire: WireServer) -> None:
    slow(wire)
    async with Client.from_url(wire.url) as client:
        with pytest.raises(TimeoutError) as caught, anyio.fail_after(0.2):
            await client.get(PODS, "p", "ns", timeout=30)
        # The caller's own scope fired, not the call's timeout.
        assert not isinstance(caught.value, ApiTimeoutError)


async def test_default_request_timeout_applies_without_a_deadline(wire: WireServer) -> None:
    slow(wire)
    async with Client.from_url(wire.url, request_timeout=0.2) as client:
        with pytest.raises(ApiTimeoutError):
            await client.delete(PODS, "p", "ns")
        await server_saw_disconnect(wire)


async def test_default_request_timeout_does_not_shorten_a_longer_deadline(
    wire: WireServer,
) -> None:
    slow(wire, 0.4)
    async with Client.from_url(wire.url, request_timeout=0.1) as client:
        with anyio.fail_after(5):
            assert _kind(await client.get(PODS, "p", "ns")) == "Pod"
    assert wire.disconnects == 0


async def test_cancelling_the_caller_aborts_the_request(wire: WireServer) -> None:
    slow(wire, 30)
    async with Client.from_url(wire.url) as client, anyio.create_task_group() as tg:
        finished = []

        async def work() -> None:
            await client.get(PODS, "p", "ns")
            finished.append(True)

        tg.start_soon(work)
        with anyio.fail_after(5):
            await wire.arrived.wait()
        tg.cancel_scope.cancel()
    await server_saw_disconnect(wire)
    assert finished == []


async def test_cancelled_rate_limit_wait_sends_nothing(wire: WireServer) -> None:
    wire.reply({"kind": "Pod"})
    async with Client.from_url(wire.url, qps=0.5, burst=1) as client:
        await client.get(PODS, "p", "ns")
        with anyio.move_on_after(0.2) as scope:
            await client.get(PODS, "p", "ns")
        assert scope.cancelled_caught
        assert client.rate_limiter is not None
    assert len(wire.seen) == 1
