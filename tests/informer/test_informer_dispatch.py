"""A handler's dispatcher on its own: coalescing per key, bounded backlog, sync, errors.

These feed store deltas straight into a dispatcher (no HTTP): the coalescing rules are
a table, and each row is checked here; the end-to-end tests check them under a real watch.
"""

from __future__ import annotations

import anyio
import pytest
from informer_helpers import PODS, Recorder, caught_up, new_pod, running, server_state

from kcs.cache import Added, Deleted, Delta, Updated
from kcs.client import Client
from kcs.core import Object, object_from_dict
from kcs.informer import FunctionHandler, Informer, _dispatch
from kcs.informer._dispatch import Dispatcher
from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]


def pod(name: str, rv: int, uid: str = "u1") -> Object:
    p = new_pod(name)
    p["metadata"].update(resourceVersion=str(rv), uid=uid)
    return object_from_dict(p)


def keyed(objects: list[Object]) -> tuple[list[str], list[Object]]:
    """``objects`` as the informer hands them to a dispatcher: beside their keys."""
    return [o.metadata.key for o in objects], objects


class Log(FunctionHandler):
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        super().__init__(
            on_add=lambda o, i: self.calls.append(("add", o.name, o.resource_version, str(i))),
            on_update=lambda o, n: self.calls.append(
                ("update", n.name, o.resource_version, n.resource_version)
            ),
            on_delete=lambda o: self.calls.append(("delete", o.name, o.resource_version)),
        )


async def deliver(*batches: list[Delta], initial: list[Object] | None = None) -> list[tuple[str, ...]]:
    """Push ``batches`` while the handler is not running, then let it drain."""
    log = Log()
    reg = Dispatcher(log, "log")
    if initial is not None:
        reg.push_initial(*keyed(initial))
    for batch in batches:
        reg.push_deltas(batch)
    assert reg.pending <= len({d.key for b in batches for d in b} | {o.key for o in initial or []})
    async with anyio.create_task_group() as tg:
        tg.start_soon(reg.run)
        assert await reg.wait_idle(5)
        tg.cancel_scope.cancel()
    return log.calls


a1, a2, a3 = pod("a", 1), pod("a", 2), pod("a", 3)


@pytest.mark.parametrize(
    ("batches", "expected"),
    [
        ([[Added(a1)]], [("add", "a", "1", "False")]),
        ([[Updated(a1, a2)]], [("update", "a", "1", "2")]),
        ([[Deleted(a1)]], [("delete", "a", "1")]),
        # Added then Updated -> Added(latest)
        ([[Added(a1)], [Updated(a1, a2)], [Updated(a2, a3)]], [("add", "a", "3", "False")]),
        # Updated x n -> Updated(first old, last new)
        ([[Updated(a1, a2), Updated(a2, a3)]], [("update", "a", "1", "3")]),
        # Added then Deleted -> on_add, on_delete: an owner-mapping handler must hear of it
        ([[Added(a1)], [Deleted(a2)]], [("add", "a", "1", "False"), ("delete", "a", "2")]),
        ([[Added(a1), Updated(a1, a2)], [Deleted(a3)]],
         [("add", "a", "2", "False"), ("delete", "a", "3")]),
        # ... and created again before the handler ran: only the new object
        ([[Added(a1)], [Deleted(a2)], [Added(pod("a", 5, "u2"))]], [("add", "a", "5", "False")]),
        # Updated then Deleted -> Deleted (the last state)
        ([[Updated(a1, a2)], [Deleted(a3)]], [("delete", "a", "3")]),
        # Deleted then Added (re-created) -> on_delete(old), on_add(new)
        ([[Deleted(a1)], [Added(pod("a", 5, "u2"))]],
         [("delete", "a", "1"), ("add", "a", "5", "False")]),
        ([[Deleted(a1), Added(a2), Updated(a2, a3)]],
         [("delete", "a", "1"), ("add", "a", "3", "False")]),
        ([[Deleted(a1), Added(a2), Deleted(a3)]], [("delete", "a", "3")]),
    ],
)
async def test_coalescing_rules(batches: list[list[Delta]], expected: list[tuple[str, ...]]) -> None:
    assert await deliver(*batches) == expected


async def test_initial_adds_coalesce_and_keep_their_flag() -> None:
    b1 = pod("b", 1)
    calls = await deliver([Updated(a1, a2)], [Deleted(b1)], initial=[a1, b1])
    # b was listed and deleted before the handler saw it: it still hears of both
    assert calls == [("add", "a", "2", "True"), ("add", "b", "1", "True"), ("delete", "b", "1")]


async def test_an_initial_object_deleted_unseen_counts_towards_sync_once_delivered() -> None:
    gate = anyio.Event()
    deleted: list[str] = []

    async def slow_add(obj: Object, is_initial: bool) -> None:
        await gate.wait()

    reg = Dispatcher(
        FunctionHandler(on_add=slow_add, on_delete=lambda o: deleted.append(o.metadata.name)),
        "slow",
    )
    a, b = pod("a", 1), pod("b", 1)
    async with anyio.create_task_group() as tg:
        tg.start_soon(reg.run)
        reg.push_initial(*keyed([a, b]))
        reg.push_deltas([Deleted(b)])
        assert not await reg.wait_synced(0.05)  # a's initial add is still in progress
        gate.set()
        assert await reg.wait_synced(5)
        assert deleted == ["b"]
        tg.cancel_scope.cancel()


async def test_keys_are_delivered_in_the_order_they_became_pending() -> None:
    objs = [pod(f"k{i}", 1) for i in range(5)]
    calls = await deliver([Added(o) for o in objs], [Updated(objs[0], pod("k0", 2))])
    assert [c[1] for c in calls] == ["k0", "k1", "k2", "k3", "k4"]
    assert calls[0] == ("add", "k0", "2", "False")


async def test_has_synced_after_the_initial_objects_were_delivered() -> None:
    gate = anyio.Event()

    async def slow_add(obj: Object, is_initial: bool) -> None:
        await gate.wait()

    reg = Dispatcher(FunctionHandler(on_add=slow_add), "slow")
    async with anyio.create_task_group() as tg:
        tg.start_soon(reg.run)
        reg.push_initial(*keyed([pod(f"k{i}", 1) for i in range(3)]))
        assert not await reg.wait_synced(0.05)
        gate.set()
        assert await reg.wait_synced(5)
        assert reg.delivered == 3
        tg.cancel_scope.cancel()
    empty = Dispatcher(Log(), "log")
    empty.push_initial([], [])
    assert empty.has_synced


async def test_a_slow_handler_has_at_most_one_pending_entry_per_key(
    api: FakeApiServer, client: Client
) -> None:
    keys = 10
    api.seed("pods", [new_pod(f"p{i}") for i in range(keys)])
    informer = Informer(client, PODS)
    slow = Recorder()
    slow.gate = anyio.Event()
    fast = Recorder()
    slow_reg = informer.add_handler(slow, name="slow")
    fast_reg = informer.add_handler(fast, name="fast")
    async with running(informer):
        with anyio.fail_after(5):
            await slow.busy.wait()  # the slow handler is stuck in its first call
        most_pending = 0
        for rnd in range(20):
            for i in range(keys):
                await client.patch(PODS, f"p{i}", {"metadata": {"labels": {"r": str(rnd)}}},
                                   "default")
            await caught_up(api, informer, fast_reg)  # the cache and the fast handler keep up
            most_pending = max(most_pending, slow_reg.pending)
            assert slow_reg.pending <= keys
        assert fast.versions() == server_state(api)
        assert most_pending == keys
        assert slow_reg.coalesced >= 19 * keys
        slow.gate.set()
        await caught_up(api, informer, slow_reg)
        assert slow.versions() == server_state(api)
        # 10 initial adds, then at most one update per key after the gate opened
        assert slow_reg.delivered <= 2 * keys
        assert all(o.labels == {"r": "19"} for o in slow.state.values())
    assert not slow.violations and not fast.violations


async def test_removed_registration_cancels_its_call_and_drops_its_backlog() -> None:
    started = anyio.Event()
    cancelled = False

    async def stuck(obj: Object, is_initial: bool) -> None:
        nonlocal cancelled
        started.set()
        try:
            await anyio.sleep_forever()
        finally:
            cancelled = True

    reg = Dispatcher(FunctionHandler(on_add=stuck), "stuck")
    async with anyio.create_task_group() as tg:
        tg.start_soon(reg.run)
        reg.push_deltas([Added(pod(f"k{i}", 1)) for i in range(3)])
        with anyio.fail_after(5):
            await started.wait()
        reg.remove()
        assert reg.removed and reg.pending == 0
    assert cancelled  # the task group ended: the registration's task stopped by itself
    reg.push_deltas([Added(pod("late", 1))])
    assert reg.pending == 0


async def test_async_handler_errors_are_counted_and_each_call_of_a_replace_is_separate(
    caplog: pytest.LogCaptureFixture,
) -> None:
    added: list[str] = []

    async def bad_delete(obj: Object) -> None:
        await anyio.lowlevel.checkpoint()
        raise ValueError("delete failed")

    async def add(obj: Object, is_initial: bool) -> None:
        added.append(obj.resource_version)

    reg = Dispatcher(FunctionHandler(on_add=add, on_delete=bad_delete), "h")
    reg.push_deltas([Deleted(a1), Added(pod("a", 7, "u2"))])  # deleted, then re-created
    async with anyio.create_task_group() as tg:
        tg.start_soon(reg.run)
        assert await reg.wait_idle(5)
        tg.cancel_scope.cancel()
    assert reg.errors == 1 and reg.delivered == 2
    assert added == ["7"]  # the add still happened after the failed delete
    assert "event handler h raised in on_delete(default/a)" in caplog.text
    (record,) = [r for r in caplog.records if r.name == "kcs.informer"]
    assert record.exc_info is not None and "delete failed" in str(record.exc_info[1])
    assert reg.last_error is not None and reg.last_error.key == "default/a"
    assert reg.last_error.method == "on_delete"
    assert isinstance(reg.last_error.exception, ValueError)


async def test_a_large_initial_list_is_queued_in_slices_with_changes_folded_in_after_it() -> None:
    """A handler added to a synced cache gets its objects in slices: the event loop runs
    between them, and a change pushed meanwhile reaches the handler as it would if every
    object had been queued at once."""
    n = 3 * _dispatch._QUEUE_INITIAL_EVERY + 5
    objs = [pod(f"k{i}", 1) for i in range(n)]
    log = Log()
    reg = Dispatcher(log, "log")
    reg.push_initial(*keyed(objs))
    assert reg.pending == n and not reg.has_synced
    assert not reg._pending  # nothing queued by the call itself: the task does it
    async with anyio.create_task_group() as tg:
        tg.start_soon(reg.run)
        while reg.delivered == 0:
            await anyio.lowlevel.checkpoint()
        # the loop ran after the first deliveries, with one slice queued of the list
        assert reg.delivered < n
        assert len(reg._pending) <= _dispatch._QUEUE_INITIAL_EVERY
        last, middle = f"k{n - 1}", f"k{n // 2}"
        reg.push_deltas([Updated(objs[-1], pod(last, 2)), Deleted(objs[n // 2]),
                         Added(pod("new", 1)), Updated(objs[0], pod("k0", 2))])
        assert await reg.wait_synced(5)
        assert await reg.wait_idle(5)
        tg.cancel_scope.cancel()
    adds = [c for c in log.calls if c[0] == "add" and c[3] == "True"]
    assert [c[1] for c in adds] == [o.name for o in objs]  # each once, in the list's order
    assert adds[-1] == ("add", last, "2", "True")  # still pending: folded into its add
    # listed, then deleted before the handler saw it: both, one after the other
    at = log.calls.index(("add", middle, "1", "True"))
    assert log.calls[at + 1] == ("delete", middle, "1")
    # after every initial object: the new one, and the update of one delivered before it
    assert log.calls[-2:] == [("add", "new", "1", "False"), ("update", "k0", "1", "2")]
    assert len(log.calls) == n + 3


async def test_changes_held_past_the_bound_queue_the_rest_of_the_initial_list_at_once() -> None:
    n = 2 * _dispatch._QUEUE_INITIAL_EVERY
    objs = [pod(f"k{i}", 1) for i in range(n)]
    reg = Dispatcher(Log(), "log")
    reg.push_initial(*keyed(objs))
    # the handler is not running: its backlog still stays within its keys
    for rv in range(2, _dispatch._HOLD_AT_MOST + 3):
        reg.push_deltas([Updated(pod("k0", rv - 1), pod("k0", rv))])
    assert reg.pending == n
    assert len(reg._held) <= _dispatch._HOLD_AT_MOST  # the rest was queued, the changes folded
    async with anyio.create_task_group() as tg:
        tg.start_soon(reg.run)
        assert await reg.wait_idle(5)
        tg.cancel_scope.cancel()
    assert reg.delivered == n
    assert reg.has_synced


def test_push_initial_refuses_keys_that_do_not_match_the_objects_one_for_one() -> None:
    reg = Dispatcher(Log(), "log")
    with pytest.raises(ValueError, match="1 keys for 2 initial objects"):
        reg.push_initial(["default/a"], [pod("a", 1), pod("b", 1)])
    assert reg.pending == 0 and not reg.has_synced
