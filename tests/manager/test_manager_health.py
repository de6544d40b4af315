"""The manager in one process: health endpoints, readiness after sync, shutdown."""

from __future__ import annotations

import aiohttp
import anyio
import pytest

from kcs.client import Client
from kcs.demo import DemoController
from kcs.leaderelection import ElectionTimings
from kcs.manager import Manager
from kcs.testing import FakeApiServer, eventually

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

TIMINGS = ElectionTimings(lease_duration=1.5, renew_deadline=1.0, retry_period=0.2)


async def _get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}{path}") as r:
        return r.status, await r.text()


@pytest.mark.parametrize("lease", [None, "health-test"])
async def test_health_endpoints_readiness_and_graceful_shutdown(lease: str | None) -> None:
    api = FakeApiServer()
    await api.start()
    try:
        for i in range(5):
            api.create("configmaps", {"metadata": {"name": f"cm-{i}", "namespace": "default"},
                                      "data": {"value": str(i)}})
        async with Client.from_url(api.url, qps=None) as client:
            manager = Manager(client, lease_name=lease, identity="solo", timings=TIMINGS,
                              handle_signals=False)
            controller = manager.add(DemoController())
            async with anyio.create_task_group() as tg:
                tg.start_soon(manager.run)
                await manager.started.wait()
                assert manager.health is not None
                port = manager.health.port
                assert port > 0
                assert (await _get(port, "/healthz"))[0] == 200
                await manager.informers.wait_synced()
                await eventually(lambda: manager.ready and manager.is_leader
                                 and controller.stats.reconciles >= 5, 5, "leading and ready")
                status, text = await _get(port, "/readyz")
                assert status == 200, text
                status, text = await _get(port, "/leader")
                assert status == 200
                assert '"isLeader": true' in text and '"identity": "solo"' in text
                with anyio.fail_after(5):
                    await manager.shutdown()
                assert not manager.ready
                assert not manager.is_leader
            # the controller wrote every object's annotation while it led
            for i in range(5):
                obj = api.get("configmaps", f"cm-{i}", "default")
                assert obj["metadata"]["annotations"]["kcs-demo/reconciled-value"] == str(i)
    finally:
        await api.stop()


async def test_controllers_are_added_before_run() -> None:
    api = FakeApiServer()
    await api.start()
    try:
        async with Client.from_url(api.url, qps=None) as client:
            manager = Manager(client, handle_signals=False, health_port=None)
            runner = manager.add(DemoController())
            # Adding ran setup(): the sources' informers are requested from the manager's
            # factory at once, so they warm up on every replica.
            assert [i.resource for i in manager.informers.informers] == [runner.primary.resource]
            async with anyio.create_task_group() as tg:
                tg.start_soon(manager.run)
                await manager.started.wait()
                with pytest.raises(RuntimeError, match=r"before Manager\.run"):
                    manager.add(DemoController())
                await manager.shutdown()
    finally:
        await api.stop()


async def test_the_lease_transitions_are_the_same_number_on_every_replica() -> None:
    async with FakeApiServer() as api, Client.from_url(api.url, qps=None) as client:
        first = Manager(client, lease_name="transitions", identity="a", timings=TIMINGS,
                        handle_signals=False, health_port=None)
        second = Manager(client, lease_name="transitions", identity="b", timings=TIMINGS,
                         handle_signals=False, health_port=None)
        first.add(DemoController())
        second.add(DemoController())
        async with anyio.create_task_group() as tg:
            tg.start_soon(first.run)
            await eventually(lambda: first.is_leader, 5, "a leads")
            tg.start_soon(second.run)
            await eventually(lambda: second.status().leader == "a", 5, "b sees a lead")
            assert first.status().lease_transitions == second.status().lease_transitions == 0
            with anyio.fail_after(10):
                assert await first.shutdown("b") == "b"
            await eventually(lambda: second.is_leader, 5, "b leads")
            status = second.status()
            assert status.lease_transitions == 1 and status.to_dict()["leaseTransitions"] == 1
            assert status.term == 1  # b's own first term: counted per replica
            with anyio.fail_after(10):
                await second.shutdown()
