"""The parts of crash detection that need no second process: settings, the advertised
endpoint, the listener's greeting and its closing order."""

from __future__ import annotations

import socket
from collections.abc import Callable

import anyio
import anyio.abc
import pytest

from kcs.client import Client
from kcs.core import object_from_dict
from kcs.leaderelection import (
    ANNOTATION_LIVENESS,
    CrashDetection,
    ElectionEvent,
    ElectionTimings,
    Endpoint,
    LeaseLock,
    LeaseObserver,
    candidate_lease_name,
    parse_endpoint,
    wait_until_gone,
)
from kcs.leaderelection._context import Election, Wakeup
from kcs.leaderelection._liveness import LivenessEndpoint
from kcs.leaderelection._monitor import HolderMonitor
from kcs.testing import FakeApiServer

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


# -- the standby's monitor, in one process ---------------------------------------------------

TIMINGS = ElectionTimings(lease_duration=1.5, renew_deadline=1.0, retry_period=0.2)


class _Standby:
    """A HolderMonitor of replica "me" following holder "h", whose candidate Lease says
    where its liveness endpoint is; every election event is recorded."""

    def __init__(self, api: FakeApiServer, client: Client, advertised: str) -> None:
        api.create("leases", {
            "metadata": {"name": candidate_lease_name("el", "h"), "namespace": "default",
                         "annotations": {ANNOTATION_LIVENESS: advertised}},
            "spec": {"holderIdentity": "h"},
        })
        lease = object_from_dict(api.create("leases", {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "el", "namespace": "default"},
            "spec": {"holderIdentity": "h", "leaseDurationSeconds": 2},
        }))
        self.events: list[ElectionEvent] = []
        lock = LeaseLock(client, "el", "default")
        wakeup = Wakeup()
        observer = LeaseObserver(lock, TIMINGS, lambda new, old: wakeup.notify())
        self.election = Election(lock, "me", TIMINGS, observer, self.events.append, wakeup)
        observer.observe(lease)
        self.monitor = HolderMonitor(self.election, CrashDetection(connect_timeout=0.3))

    def kinds(self) -> list[str]:
        return [str(e.kind) for e in self.events]

    def gone(self) -> bool:
        obs = self.election.observer.current
        return obs is not None and self.monitor.proves_gone(obs)


def _serve(tg: anyio.abc.TaskGroup, endpoint: LivenessEndpoint) -> anyio.CancelScope:
    """Serve ``endpoint`` in ``tg`` until the returned scope is cancelled (the process
    "dies": its listener closes)."""
    scope = anyio.CancelScope()

    async def serve() -> None:
        with scope:
            await endpoint.serve()

    tg.start_soon(serve)
    return scope


async def _until(condition: Callable[[], bool], within: float = 5.0) -> None:
    with anyio.fail_after(within):
        while not condition():  # noqa: ASYNC110 (state of a socket peer: no event)
            await anyio.sleep(0.01)


@pytest.mark.anyio
async def test_the_monitor_proves_a_holder_gone_only_after_it_greeted_then_refused(
    fake_apiserver: FakeApiServer,
) -> None:
    endpoint = LivenessEndpoint(CrashDetection(), lambda: None)
    advertised = await endpoint.open()
    async with Client.from_url(fake_apiserver.url, qps=None) as client:
        standby = _Standby(fake_apiserver, client, str(advertised))
        async with anyio.create_task_group() as tg:
            serving = _serve(tg, endpoint)
            tg.start_soon(standby.monitor.run)
            await _until(lambda: "watching_holder" in standby.kinds())
            assert not standby.gone()
            serving.cancel()  # the "process" closes its listener and its connections
            await _until(standby.gone)
            assert standby.kinds()[-1] == "holder_crashed"
            assert standby.events[-1].holder == "h"
            tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_an_endpoint_that_never_greeted_or_keeps_accepting_proves_nothing(
    fake_apiserver: FakeApiServer,
) -> None:
    """A refusal from an address that never greeted us (nothing ever listened there) and a
    connection that ends while the endpoint still accepts are no proof."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    greetings = 0

    async def greet_then_hang_up(stream: anyio.abc.SocketStream) -> None:
        nonlocal greetings
        greetings += 1
        async with stream:
            await stream.send(b"kcs-liveness/1 abc\n")
            await anyio.sleep(0.05)  # then it ends the connection, and keeps listening

    async with Client.from_url(fake_apiserver.url, qps=None) as client:
        standby = _Standby(fake_apiserver, client, f"127.0.0.1:{port} abc")
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, greet_then_hang_up)
            tg.start_soon(standby.monitor.run)
            await _until(lambda: greetings >= 3)
            assert not standby.gone() and "holder_crashed" not in standby.kinds()
            tg.cancel_scope.cancel()
    await listener.aclose()
    with pytest.raises(OSError):  # refused from now on
        await anyio.connect_tcp("127.0.0.1", port)

    # Nothing listens there, and nothing ever greeted this standby: refused, no proof.
    async with Client.from_url(fake_apiserver.url, qps=None) as client:
        fake_apiserver.delete("leases", candidate_lease_name("el", "h"), "default")
        fake_apiserver.delete("leases", "el", "default")
        standby = _Standby(fake_apiserver, client, f"127.0.0.1:{port} abc")
        async with anyio.create_task_group() as tg:
            tg.start_soon(standby.monitor.run)
            await anyio.sleep(1.0)  # long enough for several attempts; nothing to await
            assert not standby.gone() and standby.kinds() == []
            tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_wait_until_gone_returns_once_a_greeting_endpoint_refuses() -> None:
    """The follower's primitive the sharder uses: it holds a connection while the endpoint
    lives, through its connections ending, and returns only once it refuses."""
    endpoint = LivenessEndpoint(CrashDetection(), lambda: None)
    advertised = await endpoint.open()
    greeted = 0

    def on_greeted() -> None:
        nonlocal greeted
        greeted += 1

    gone = anyio.Event()

    async def follow() -> None:
        await wait_until_gone(advertised, CrashDetection(), retry=0.05, on_greeted=on_greeted)
        gone.set()

    async with anyio.create_task_group() as tg:
        serving = _serve(tg, endpoint)
        tg.start_soon(follow)
        await _until(lambda: greeted >= 1)
        assert not gone.is_set()
        serving.cancel()  # the process "dies": its listener closes
        with anyio.fail_after(5):
            await gone.wait()
    assert greeted == 1


@pytest.mark.anyio
async def test_wait_until_gone_takes_no_refusal_before_a_greeting_as_proof() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()  # nothing listens there: every attempt is refused
    with anyio.move_on_after(0.5) as waited:
        await wait_until_gone(Endpoint("127.0.0.1", port, "abc"), CrashDetection(), retry=0.05)
    assert waited.cancelled_caught  # it kept trying, and never took that for a proof
