"""Deadlines and cancellation: every API call of a reconcile ends with the reconcile.

Each test makes the fake apiserver slow, lets a reconcile's request hang, ends the
reconcile (timeout, or the controller's scope cancelled as on leadership loss) and checks
on the server's side that the client went away and that no request is left running.
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest
from ctl_helpers import Calls, deployment, running

from kcs.client import Client, HedgedReads
from kcs.controller import Builder, Context, Controller, Result, Runner
from kcs.core import ObjectKey, builtin
from kcs.informer import InformerFactory
from kcs.testing import FakeApiServer, eventually

DEPLOYMENTS = builtin("deployments.apps")
CONFIGMAPS = builtin("configmaps")
KEY = ObjectKey("default", "web")


class ReadsLive(Controller):
    """Each reconcile makes a live GET: no deadline or scope is passed to it explicitly."""

    def __init__(self, *, reconcile_timeout: float | None = 60.0) -> None:
        self.calls = Calls()
        self.cancelled = 0
        self.answered = 0
        self.deadlines: list[float] = []
        self.reconcile_timeout = reconcile_timeout

    def setup(self, builder: Builder) -> None:
        builder.for_(DEPLOYMENTS)

    async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
        self.calls.record(key)
        self.deadlines.append(anyio.current_effective_deadline() - anyio.current_time())
        try:
            await ctx.client.get(DEPLOYMENTS, key.name, key.namespace)
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise
        self.answered += 1
        return None


def _delays(*first: float) -> Iterator[float]:
    yield from first
    while True:
        yield 0.0


@pytest.mark.anyio
@pytest.mark.timeout(20)
async def test_the_reconcile_timeout_cancels_its_requests(
    api: FakeApiServer, client: Client, factory: InformerFactory
) -> None:
    delays = _delays(5.0)
    api.faults.delay(lambda: next(delays), verbs="get")
    ctl = ReadsLive(reconcile_timeout=0.3)
    run = Runner(ctl, client, factory)
    async with running(factory, run):
        api.create(DEPLOYMENTS, deployment("web"))
        await eventually(lambda: run.stats.timeouts == 1)
        with anyio.fail_after(3):
            await api.requests.wait_cancelled(1)
        # The GET inherited the reconcile's deadline: abandoned, nothing left running.
        assert [r.verb for r in api.requests.cancelled] == ["get"]
        with anyio.fail_after(3):
            await api.requests.wait_idle()
        # Retried with backoff; the next attempt is fast and succeeds.
        await eventually(lambda: ctl.answered == 1)
    assert ctl.deadlines[0] <= 0.3
    assert run.stats.errors == 1 and run.stats.successes == 1


@pytest.mark.anyio
@pytest.mark.timeout(20)
async def test_cancelling_run_as_on_leadership_loss_stops_everything_at_once(
    api: FakeApiServer, client: Client, factory: InformerFactory
) -> None:
    api.faults.delay(30.0, verbs="get")
    ctl = ReadsLive()
    ctl.max_concurrent_reconciles = 2
    run = Runner(ctl, client, factory)
    api.create(DEPLOYMENTS, deployment("web"))
    api.create(DEPLOYMENTS, deployment("api"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(factory.run)
        leadership = anyio.CancelScope()  # what the manager holds while it leads
        tg.start_soon(_run_in, leadership, run)
        await ctl.calls.wait_until(lambda: ctl.calls.count() == 2)
        await eventually(lambda: api.requests.in_flight == 2)  # both GETs reached the server
        lost = anyio.current_time()
        leadership.cancel()
        await eventually(lambda: run.queue is None)
        stopped = anyio.current_time() - lost
        with anyio.fail_after(3):
            await api.requests.wait_cancelled(2)
            await api.requests.wait_idle()
        assert stopped < 2.0, f"run() took {stopped:.2f}s to stop (the GETs take 30 s)"
        assert ctl.cancelled == 2
        assert run.stats.cancelled == 2
        assert ctl.answered == 0

        # A new term: the same controller runs again, with a fresh queue.
        api.faults.clear()
        tg.start_soon(run.run)
        await eventually(lambda: ctl.answered >= 2)
        tg.cancel_scope.cancel()


async def _run_in(scope: anyio.CancelScope, run: Runner) -> None:
    with scope:
        await run.run()


@pytest.mark.anyio
@pytest.mark.timeout(20)
async def test_a_deadline_set_inside_reconcile_narrows_every_call(
    api: FakeApiServer, client: Client
) -> None:
    """The same propagation, without a controller: the client reads the caller's scope."""
    api.create(CONFIGMAPS, {"metadata": {"name": "cm", "namespace": "default"}})
    api.faults.delay(5.0, verbs=["get", "list"])
    started = anyio.current_time()
    with anyio.move_on_after(0.2) as scope:
        async with anyio.create_task_group() as tg:  # fan-out inherits the deadline too
            tg.start_soon(client.get, CONFIGMAPS, "cm", "default")
            tg.start_soon(client.list, CONFIGMAPS, "default")
    assert scope.cancelled_caught
    assert anyio.current_time() - started < 2.0  # the requests would take 5 s
    with anyio.fail_after(3):
        await api.requests.wait_cancelled(2)
        await api.requests.wait_idle()
    assert sorted(r.verb for r in api.requests.cancelled) == ["get", "list"]


@pytest.mark.anyio
@pytest.mark.timeout(20)
async def test_a_controller_can_hedge_its_live_reads(api: FakeApiServer) -> None:
    delays = _delays(5.0)
    api.faults.delay(lambda: next(delays), verbs="get")
    hedged = HedgedReads(after=0.05)
    # Hedging is the client's policy: every live read of the controller is hedged.
    async with Client.from_url(api.url, hedging=hedged) as client:
        factory = InformerFactory(client)
        ctl = ReadsLive()
        run = Runner(ctl, client, factory)
        async with running(factory, run):
            api.create(DEPLOYMENTS, deployment("web"))
            await eventually(lambda: ctl.answered == 1, within=3)
    assert run.stats.timeouts == 0
    assert hedged.stats.hedge_wins == 1
    with anyio.fail_after(3):
        await api.requests.wait_cancelled(1)
