"""A controller that cannot sync fails visibly: readiness names the cause while it waits,
and the manager's run ends with an error naming it once the controller's sync_timeout
runs out (never a replica that shows Running and does nothing)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import anyio
import pytest

from kcs.client import Client
from kcs.controller import Builder, CacheSyncTimeout, Context, Controller, Result
from kcs.core import ObjectKey, Resource, builtin
from kcs.manager import Manager
from kcs.testing import FakeApiServer, eventually

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

WIDGETS = Resource("example.com", "v1", "widgets", "Widget", namespaced=True)


class WidgetController(Controller):
    sync_timeout = 2.0

    def setup(self, builder: Builder) -> None:
        builder.for_(WIDGETS)

    async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
        return None


class ConfigMapController(WidgetController):
    def setup(self, builder: Builder) -> None:
        builder.for_(builtin("configmaps"))


def _causes(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [c for e in exc.exceptions for c in _causes(e)]
    return [exc]


@asynccontextmanager
async def _client_of(case: str) -> AsyncIterator[tuple[Client, Controller]]:
    if case == "crd":  # the CRD of widgets is not installed
        async with FakeApiServer() as api, Client.from_url(api.url, qps=None) as client:
            yield client, WidgetController()
        return
    # RBAC: a service account that no role lets list configmaps
    async with FakeApiServer(tls=True, authorization="RBAC") as api:
        api.create("serviceaccounts", {"metadata": {"name": "bot", "namespace": "default"}})
        assert api.ca_pem is not None
        async with Client.from_url(api.url, token=api.issue_token("default", "bot"),
                                   ca_data=api.ca_pem.decode(), qps=None) as client:
            yield client, ConfigMapController()


CASES = {
    "crd": ("widgets.example.com", "404 Not Found", "CustomResourceDefinition"),
    "rbac": ("configmaps", "403 Forbidden", "(RBAC)"),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_readiness_names_the_cause_and_the_run_fails_with_it(case: str) -> None:
    resource, status, hint = CASES[case]
    async with _client_of(case) as (client, controller):
        manager = Manager(client, identity="solo", lease_name=None, handle_signals=False,
                          health_port=0)
        manager.add(controller)
        failure: list[BaseException] = []
        ended = anyio.Event()

        async def run() -> None:
            try:
                await manager.run()
            except BaseException as exc:
                failure.append(exc)
            finally:
                ended.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await manager.started.wait()
            assert manager.health is not None
            port = manager.health.port
            await eventually(lambda: status in manager.status().reason, 5,
                             f"readiness names the {status}")
            async with aiohttp.ClientSession() as s, \
                    s.get(f"http://127.0.0.1:{port}/readyz") as r:
                assert r.status == 503
                text = await r.text()
            assert resource in text and status in text and hint in text, text
            with anyio.fail_after(10):
                await ended.wait()
        (exc,) = failure
        causes = [c for c in _causes(exc) if isinstance(c, CacheSyncTimeout)]
        assert causes, f"the run ended with {exc!r}, not a CacheSyncTimeout"
        message = str(causes[0])
        name = type(controller).__name__
        assert message.startswith(f"{name}: caches not synced after 2s"), message
        assert status in message and hint in message, message
