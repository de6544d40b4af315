"""The parts of crash detection that need no second process: settings, the advertised
endpoint, the listener's greeting and its closing order."""

from __future__ import annotations

import socket

import anyio
import pytest

from kcs.leaderelection import CrashDetection, Endpoint, parse_endpoint
from kcs.leaderelection._liveness import LivenessEndpoint

pytestmark = pytest.mark.timeout(20)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"host": "0.0.0.0"}, "give advertise="),
    ({"host": "my-host"}, "give advertise="),
    ({"advertise": "pod.example"}, "must be an IP address"),
    ({"advertise": "0.0.0.0:80"}, "must be an IP address"),
    ({"advertise": "10.0.0.1:http"}, "bad port"),
    ({"port": 70000}, "port must be"),
    ({"connect_timeout": 0}, "connect_timeout"),
])
def test_settings_that_cannot_be_advertised_are_refused(kwargs: dict[str, object],
                                                        message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CrashDetection(**kwargs)  # type: ignore[arg-type]


def test_settings_for_a_pod() -> None:
    CrashDetection(host="0.0.0.0", advertise="10.1.2.3")
    CrashDetection(host="::", advertise="[fd00::5]:7000")


@pytest.mark.parametrize(("text", "expected"), [
    ("10.0.0.5:41234 abc123", Endpoint("10.0.0.5", 41234, "abc123")),
    ("[fd00::1]:80 n0nce", Endpoint("fd00::1", 80, "n0nce")),
    ("10.0.0.5 abc", None),  # no port
    ("host:80 abc", None),  # not an IP: proves nothing
    ("10.0.0.5:0 abc", None),
    ("10.0.0.5:80", None),  # no nonce
    ("10.0.0.5:80 not/alnum", None),
    ("", None),
])
def test_advertised_endpoints_are_read_strictly(text: str, expected: Endpoint | None) -> None:
    assert parse_endpoint(text) == expected
    if expected is not None:
        assert parse_endpoint(str(expected)) == expected


@pytest.mark.anyio
async def test_the_endpoint_greets_with_its_nonce_and_fences_before_it_closes() -> None:
    order: list[str] = []
    endpoint: LivenessEndpoint

    def before_close() -> None:
        # The listening socket is still open when the fence is closed.
        host, port = endpoint.listening or ("", 0)
        with socket.create_connection((host, port), timeout=1):
            order.append("fenced while still listening")

    endpoint = LivenessEndpoint(CrashDetection(), before_close)
    advertised = await endpoint.open()
    assert advertised.host == "127.0.0.1" and advertised.nonce == endpoint.nonce
    assert endpoint.listening == ("127.0.0.1", advertised.port)
    async with anyio.create_task_group() as tg:
        tg.start_soon(endpoint.serve)
        stream = await anyio.connect_tcp(advertised.host, advertised.port)
        async with stream:
            line = await stream.receive()
            assert line == f"kcs-liveness/1 {endpoint.nonce}\n".encode()
            tg.cancel_scope.cancel()
    assert order == ["fenced while still listening"] and endpoint.closed
    with pytest.raises(OSError):
        await anyio.connect_tcp(advertised.host, advertised.port)


@pytest.mark.anyio
async def test_an_advertised_address_replaces_the_bound_one() -> None:
    endpoint = LivenessEndpoint(CrashDetection(advertise="127.0.0.1:5999"), lambda: None)
    advertised = await endpoint.open()
    try:
        assert (advertised.host, advertised.port) == ("127.0.0.1", 5999)
        assert endpoint.listening is not None and endpoint.listening[1] != 0
    finally:
        async with anyio.create_task_group() as tg:
            tg.start_soon(endpoint.serve)
            tg.cancel_scope.cancel()
