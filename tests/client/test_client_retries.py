"""429 / Retry-After, retries of idempotent requests only, connection errors, the observer."""

from __future__ import annotations

import socket

import pytest
from aiohttp import web
from client_wire import WireServer, json_response

from kcs.client import ApiConnectionError, Client, RequestRecord, RetryPolicy, parse_retry_after
from kcs.core import (
    InternalError,
    Object,
    ServiceUnavailable,
    TooManyRequests,
    builtin,
    status_body,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

PODS = builtin("pods")
FAST = RetryPolicy(backoff_initial=0.001, backoff_max=0.005)
OK_POD: dict[str, object] = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p", "namespace": "ns"}}
OK_POD_LIST: dict[str, object] = {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "7"},
               "items": [OK_POD]}


def ok_for(verb: str) -> dict[str, object]:
    """The server's success answer to ``verb`` (a list for list, the pod otherwise)."""
    return OK_POD_LIST if verb == "list" else OK_POD
THROTTLED = status_body(429, "TooManyRequests", "slow down", retry_after_seconds=1)
UNAVAILABLE = status_body(503, "ServiceUnavailable", "not ready")


class Records:
    """A RequestObserver that keeps what it sees."""

    def __init__(self) -> None:
        self.records: list[RequestRecord] = []

    def request_done(self, record: RequestRecord) -> None:
        self.records.append(record)


async def call(client: Client, verb: str) -> dict[str, object]:
    """Call ``verb`` and return the pod it answered with, as JSON."""
    answer: Object | None
    if verb == "get":
        answer = await client.get(PODS, "p", "ns")
    elif verb == "list":
        items = await client.list(PODS, "ns")
        assert items.resource_version == "7"
        (answer,) = items
    elif verb == "create":
        answer = await client.create(PODS, OK_POD)
    elif verb == "replace":
        answer = await client.replace(PODS, OK_POD)
    elif verb == "patch":
        answer = await client.patch(PODS, "p", {"metadata": {"labels": {"a": "b"}}}, "ns")
    else:
        assert verb == "delete"
        answer = await client.delete(PODS, "p", "ns")
    assert answer is not None
    return answer.to_dict()


ALL_VERBS = ["get", "list", "create", "replace", "patch", "delete"]


@pytest.mark.parametrize("verb", ALL_VERBS)
async def test_429_is_waited_out_for_every_verb(wire: WireServer, verb: str) -> None:
    wire.script((429, THROTTLED, {"Retry-After": "0.3"}), (200, ok_for(verb)))
    observed = Records()
    async with Client.from_url(wire.url, observer=observed) as client:
        assert await call(client, verb) == OK_POD
    assert len(wire.seen) == 2
    # The second attempt came no sooner than the server asked.
    assert wire.seen[1].at - wire.seen[0].at >= 0.3
    (record,) = observed.records
    assert (record.code, record.throttled, record.retries, record.error) == (200, 1, 0, None)


async def test_429_without_retry_after_header_uses_the_status_details(wire: WireServer) -> None:
    body = status_body(429, "TooManyRequests", "slow down", retry_after_seconds=0)
    wire.script((429, body), (429, body), (201, OK_POD))
    async with Client.from_url(wire.url) as client:
        assert (await client.create(PODS, OK_POD)).to_dict() == OK_POD
    assert len(wire.seen) == 3


async def test_429_retries_are_bounded(wire: WireServer) -> None:
    wire.reply(THROTTLED, 429, {"Retry-After": "0"})
    observed = Records()
    policy = RetryPolicy(max_throttle_retries=3)
    async with Client.from_url(wire.url, retry=policy, observer=observed) as client:
        with pytest.raises(TooManyRequests) as caught:
            await client.get(PODS, "p", "ns")
    assert caught.value.retry_after == 0.0
    assert len(wire.seen) == 4
    assert observed.records[0].throttled == 4
    assert observed.records[0].code == 429


async def test_retry_after_beyond_the_deadline_raises_at_once(wire: WireServer) -> None:
    import anyio

    wire.reply(THROTTLED, 429, {"Retry-After": "30"})
    async with Client.from_url(wire.url) as client:
        with anyio.fail_after(10), pytest.raises(TooManyRequests) as caught:
            await client.get(PODS, "p", "ns")
    assert caught.value.retry_after == 30.0
    assert len(wire.seen) == 1


async def test_retry_after_above_the_policy_maximum_raises(wire: WireServer) -> None:
    wire.reply(THROTTLED, 429, {"Retry-After": "5"})
    policy = RetryPolicy(max_retry_after=1.0)
    async with Client.from_url(wire.url, retry=policy) as client:
        with pytest.raises(TooManyRequests):
            await client.create(PODS, OK_POD)
    assert len(wire.seen) == 1


@pytest.mark.parametrize("verb", ["get", "list"])
async def test_5xx_is_retried_for_reads(wire: WireServer, verb: str) -> None:
    wire.script(
        (503, UNAVAILABLE), (500, status_body(500, "InternalError", "boom")), (200, ok_for(verb))
    )
    observed = Records()
    async with Client.from_url(wire.url, retry=FAST, observer=observed) as client:
        assert await call(client, verb) == OK_POD
    assert len(wire.seen) == 3
    assert observed.records[0].retries == 2
    assert observed.records[0].verb == verb


@pytest.mark.parametrize("verb", ["create", "replace", "patch", "delete"])
async def test_5xx_is_never_retried_for_writes(wire: WireServer, verb: str) -> None:
    wire.script((503, UNAVAILABLE), (200, OK_POD))
    async with Client.from_url(wire.url, retry=FAST) as client:
        with pytest.raises(ServiceUnavailable):
            await call(client, verb)
    assert len(wire.seen) == 1


async def test_5xx_retries_are_bounded(wire: WireServer) -> None:
    wire.reply(status_body(500, "InternalError", "boom"), 500)
    policy = RetryPolicy(max_retries=2, backoff_initial=0.001)
    async with Client.from_url(wire.url, retry=policy) as client:
        with pytest.raises(InternalError):
            await client.get(PODS, "p", "ns")
    assert len(wire.seen) == 3


async def test_retry_methods_are_configurable(wire: WireServer) -> None:
    wire.script((503, UNAVAILABLE), (200, OK_POD))
    policy = RetryPolicy(retry_methods=frozenset({"GET", "PUT"}), backoff_initial=0.001)
    async with Client.from_url(wire.url, retry=policy) as client:
        assert (await client.replace(PODS, OK_POD)).to_dict() == OK_POD
    assert [s.method for s in wire.seen] == ["PUT", "PUT"]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(("verb", "retried"), [("get", 3), ("create", 0), ("delete", 0)])
async def test_connection_refused(verb: str, retried: int) -> None:
    observed = Records()
    policy = RetryPolicy(max_retries=3, backoff_initial=0.001)
    url = f"http://127.0.0.1:{closed_port()}"
    async with Client.from_url(url, retry=policy, observer=observed) as client:
        with pytest.raises(ApiConnectionError) as caught:
            await call(client, verb)
    assert caught.value.__cause__ is not None
    assert caught.value.url.startswith(url)
    (record,) = observed.records
    assert record.retries == retried
    assert record.code is None
    assert isinstance(record.error, ApiConnectionError)


async def test_connection_dropped_mid_answer(wire: WireServer) -> None:
    drops = [True]

    async def handler(request: web.Request) -> web.StreamResponse:
        if drops and drops.pop():
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        return json_response(OK_POD)

    wire.handler = handler
    async with Client.from_url(wire.url, retry=FAST) as client:
        assert await call(client, "get") == OK_POD
        assert len(wire.seen) == 2
        drops.append(True)
        with pytest.raises(ApiConnectionError):
            await client.create(PODS, OK_POD)
    assert len(wire.seen) == 3


async def test_observer_errors_do_not_break_requests(wire: WireServer) -> None:
    class Broken:
        def request_done(self, record: RequestRecord) -> None:
            raise RuntimeError("observer bug")

    wire.reply(OK_POD)
    async with Client.from_url(wire.url) as client:
        client.observer = Broken()
        assert await call(client, "get") == OK_POD


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0.25 ") == 0.25
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("inf") is None
    when = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert parse_retry_after(when, now=1445412480.0 - 10) == pytest.approx(10.0)
    assert parse_retry_after(when, now=1445412480.0 + 10) == 0.0


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(backoff_initial=0.1, backoff_factor=2, backoff_max=1.0, jitter=0.5)
    assert [policy.backoff(n, rand=0.0) for n in range(6)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    )
    assert policy.backoff(1, rand=1.0) == pytest.approx(0.1)
    for n in range(8):
        assert 0.05 * 2**0 <= policy.backoff(n) <= 1.0
