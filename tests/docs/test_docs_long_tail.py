"""docs/long-tail-requests.md runs as written and does what it says, checked on the fake
apiserver's side: the reconcile's fan-out is cut by its ``move_on_after(2)`` (the server
sees the client go away), a call's ``timeout=`` raises ``ApiTimeoutError``, a hedged client
reads, and the slow-request counter counts a slow list."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from doc_blocks import pod, python_blocks, run_block

from kcs.client import ApiTimeoutError, Client, HedgedReads, SlowRequestCounter
from kcs.controller import Builder, Context, Controller, Result, Runner
from kcs.core import ObjectKey, builtin
from kcs.informer import InformerFactory
from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

PAGE = "long-tail-requests.md"
PODS = builtin("pods")
SECRETS = builtin("secrets")


@pytest.fixture
async def api() -> AsyncIterator[FakeApiServer]:
    async with FakeApiServer() as server:
        web = pod("web-0", "web")
        web["spec"]["volumes"] = [{"name": n, "secret": {"secretName": n}} for n in ("tls", "db")]
        server.create("pods", web)
        for name in ("tls", "db"):
            server.create("secrets", {"metadata": {"name": name, "namespace": "default"}})
        yield server


async def test_long_tail_requests_page(api: FakeApiServer) -> None:
    reconcile, per_call, hedging, counting = python_blocks(PAGE)
    scope: dict[str, Any] = {"anyio": anyio, "Context": Context, "ObjectKey": ObjectKey,
                             "Result": Result, "PODS": PODS, "SECRETS": SECRETS}
    await run_block(reconcile, scope)  # defines the page's reconcile method
    done: list[tuple[Context, ObjectKey, float]] = []

    class SecretsOfPods(Controller):
        name = "secrets-of-pods"

        def setup(self, builder: Builder) -> None:
            builder.for_(PODS)

        async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
            started = anyio.current_time()
            result: Result | None = await scope["reconcile"](self, ctx, key)
            done.append((ctx, key, anyio.current_time() - started))
            return result

    api.faults.delay(5.0, verbs="get")  # every GET hangs: only the page's scopes end them
    async with Client.from_url(api.url, qps=None) as client:
        informers = InformerFactory(client)
        runner = Runner(SecretsOfPods(), client, informers)
        async with anyio.create_task_group() as tg:
            tg.start_soon(informers.run)
            tg.start_soon(runner.run)
            with anyio.fail_after(10):
                await api.requests.wait_cancelled(2)
                while not done:  # noqa: ASYNC110
                    await anyio.sleep(0.01)  # the reconcile's return: no event marks it
            tg.cancel_scope.cancel()
        ctx, key, seconds = done[0]
        assert key == ObjectKey("default", "web-0")
        assert 1.9 <= seconds < 4.0, seconds  # cut by move_on_after(2), long before the 5 s
        assert sorted(r.path for r in api.requests.cancelled if r.verb == "get") == [
            "/api/v1/namespaces/default/secrets/db", "/api/v1/namespaces/default/secrets/tls"]

        scope.update(ctx=ctx, name="web-0", ns="default")  # the reconcile's context
        started = anyio.current_time()
        with anyio.fail_after(10), pytest.raises(ApiTimeoutError):
            await run_block(per_call, scope)
        assert 1.9 <= anyio.current_time() - started < 4.0

    api.faults.clear()
    scope.update(url=api.url, Client=Client, HedgedReads=HedgedReads)
    with anyio.fail_after(10):
        await run_block(hedging, scope)
    assert scope["obj"] is not None and scope["obj"].name == "web-0"
    assert scope["hedged"].stats.calls == 1 and scope["client"].hedging is scope["hedged"]
    await scope["client"].close()

    scope["SlowRequestCounter"] = SlowRequestCounter
    with anyio.fail_after(10):
        await run_block(counting, scope)  # its "..." is where the program's calls go
    client, counter = scope["client"], scope["counter"]
    async with client:
        api.faults.delay(1.05, verbs="list")
        await client.list(PODS, "default")
        api.faults.clear()
        await client.get(PODS, "web-0", "default")
    assert counter.slow == Counter({("list", "pods"): 1})
    assert (counter.slow_total, counter.total) == (1, 2)
