"""SharedProbes: who shares a probe, and what a failed or cancelled one does to the rest."""

from __future__ import annotations

import anyio
import pytest

from kcs.informer._probe import SharedProbes

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]


async def test_readers_of_one_tick_share_a_probe_and_later_ones_send_their_own() -> None:
    probes: SharedProbes[int] = SharedProbes()
    sent = 0
    gate = anyio.Event()

    async def probe() -> int:
        nonlocal sent
        sent += 1
        mine = sent
        await gate.wait()
        return mine

    answers: list[int] = []

    async def read() -> None:
        answers.append(await probes.run("k", probe))

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(read)
        await anyio.wait_all_tasks_blocked()
        assert sent == 1  # five readers, one probe in flight
        tg.start_soon(read)  # arrives after it was sent: must not use it
        await anyio.wait_all_tasks_blocked()
        assert sent == 2
        tg.start_soon(probes.run, "other", probe)  # another key: its own probe
        await anyio.wait_all_tasks_blocked()
        assert sent == 3
        gate.set()
    assert sorted(answers) == [1, 1, 1, 1, 1, 2]


async def test_a_failed_probe_fails_every_reader_that_shared_it() -> None:
    probes: SharedProbes[int] = SharedProbes()

    async def probe() -> int:
        await anyio.sleep(0.01)
        raise ConnectionError("down")

    errors: list[BaseException] = []

    async def read() -> None:
        try:
            await probes.run("k", probe)
        except ConnectionError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(read)
    assert len(errors) == 3


async def test_a_cancelled_sender_leaves_the_others_to_send_their_own() -> None:
    probes: SharedProbes[str] = SharedProbes()
    calls = 0

    never = anyio.Event()

    async def probe() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            await never.wait()  # the first probe hangs until its sender is cancelled
        return "answer"

    got: list[str] = []

    async def read() -> None:
        got.append(await probes.run("k", probe))

    async def send_then_be_cancelled(scope: anyio.CancelScope) -> None:
        with scope:
            await probes.run("k", probe)

    sender = anyio.CancelScope()
    async with anyio.create_task_group() as tg:
        tg.start_soon(send_then_be_cancelled, sender)
        tg.start_soon(read)  # same tick: joins the sender's probe
        await anyio.wait_all_tasks_blocked()
        assert calls == 1
        sender.cancel()
    assert got == ["answer"] and calls == 2  # the joiner sent its own, and got an answer
