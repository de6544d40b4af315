"""kcs.testing.eventually: returns the first true value, treats "not there yet" as not
yet, fails with a message naming what it waited for."""

from __future__ import annotations

import anyio
import pytest

from kcs.core import NotFound
from kcs.testing import FakeApiServer, eventually

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]


async def test_returns_the_first_true_value_of_a_sync_or_async_check() -> None:
    calls = []

    def check() -> int:
        calls.append(1)
        return len(calls) if len(calls) >= 3 else 0

    assert await eventually(check, 2) == 3

    async def acheck() -> str:
        await anyio.lowlevel.checkpoint()
        return "ready"

    assert await eventually(acheck, 2) == "ready"


async def test_an_object_not_there_yet_is_waited_for() -> None:
    async with FakeApiServer() as api:
        async def create_later() -> None:
            await anyio.sleep(0.05)
            api.create("configmaps", {"metadata": {"name": "late", "namespace": "default"}})

        async with anyio.create_task_group() as tg:
            tg.start_soon(create_later)
            obj = await eventually(lambda: api.get("configmaps", "late", "default"), 5)
        assert obj["metadata"]["name"] == "late"


async def test_a_timeout_names_what_and_the_last_value_and_the_log() -> None:
    with pytest.raises(AssertionError) as err:
        await eventually(lambda: [], 0.05, "the list to fill", log=lambda: "process said hi")
    message = str(err.value)
    assert message.startswith("timed out after 0.05s waiting for the list to fill; last: []")
    assert message.endswith("\nprocess said hi")

    def missing() -> None:
        raise NotFound({"message": 'configmaps "x" not found'})

    with pytest.raises(AssertionError, match="last: NotFound"):
        await eventually(missing, 0.05, "x")


async def test_other_exceptions_propagate_at_once() -> None:
    def broken() -> None:
        raise ZeroDivisionError

    with anyio.fail_after(1), pytest.raises(ZeroDivisionError):
        await eventually(broken, 5)


async def test_the_write_log_wakes_a_waiter_on_each_write() -> None:
    async with FakeApiServer() as api:
        async def create(n: int) -> None:
            for i in range(n):
                await anyio.lowlevel.checkpoint()
                api.create("configmaps", {"metadata": {"name": f"cm-{i}", "namespace": "default"}})

        async with anyio.create_task_group() as tg:
            tg.start_soon(create, 3)
            with anyio.fail_after(5):
                await api.writes.wait_until(
                    lambda log: sum(w.resource == "configmaps" for w in log.records) >= 3)
        assert [w.name for w in api.writes.records if w.resource == "configmaps"] == [
            "cm-0", "cm-1", "cm-2"]


async def test_a_misspelt_option_is_refused_not_ignored() -> None:
    with pytest.raises(TypeError, match="intervall"):
        await eventually(lambda: True, 1, intervall=0.5)  # type: ignore[call-overload]
