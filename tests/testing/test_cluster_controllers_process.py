"""The cluster's controllers driven over the control channel, in another process."""

from __future__ import annotations

import anyio
import pytest
from apiserver_http import http

from kcs.core import BadRequest
from kcs.testing import ApiServerProcess

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

PODS = "/api/v1/namespaces/default/pods"


def _pod(name: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "busybox"}]}}


async def test_node_agent_and_controllers_over_the_control_channel() -> None:
    async with ApiServerProcess(disabled_controllers=["garbage-collector-controller"]) as proc:
        state = await proc.controllers()
        assert state["enabled"] == ["namespace-controller", "serviceaccount-controller",
                                    "node-agent"]
        assert state["errors"] == [] and state["node_agent"]["mode"] == "immediate"
        await proc.node_agent_mode("never")
        async with http(proc.url) as client:
            assert (await client.post(PODS, _pod("p"))).status == 201
            deleting = await client.delete(f"{PODS}/p")
            assert deleting.body["metadata"]["deletionGracePeriodSeconds"] == 30
            with anyio.fail_after(10):
                await proc.wait_controllers_idle()
            assert await proc.terminating_pods() == ["default/p"]
            assert (await client.get(f"{PODS}/p")).status == 200
            assert await proc.confirm_pod("default", "p")
            assert (await client.get(f"{PODS}/p")).status == 404
            assert not await proc.confirm_pod("default", "p")
            await proc.node_agent_mode("delay", seconds=0.2, node="node-1")
            await client.post(PODS, _pod("q"))
            await client.delete(f"{PODS}/q")
            with anyio.fail_after(10):
                await proc.wait_controllers_idle()
            assert (await client.get(f"{PODS}/q")).status == 404
        with pytest.raises(BadRequest):
            await proc.node_agent_mode("sometimes")


def test_unknown_controller_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown controller"):
        ApiServerProcess(disabled_controllers=["gc"])
