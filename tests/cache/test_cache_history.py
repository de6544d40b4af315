"""History: watching the store from a resourceVersion, relists in it, expiry (the 410)."""

from __future__ import annotations

import anyio
import pytest
from cache_objects import bump, pod

from kcs.cache import (
    Added,
    Deleted,
    Delta,
    HistoryExpired,
    HistoryWatch,
    Store,
    StoreOptions,
    Updated,
)
from kcs.core import Gone

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]

ALWAYS = StoreOptions(history_retention="always")
"""The tests of a watch from before it was opened need every change recorded."""


async def take(watch: HistoryWatch, n: int) -> list[Delta]:
    out: list[Delta] = []
    with anyio.fail_after(2):
        async for delta in watch:
            out.append(delta)
            if len(out) == n:
                break
    return out


def nothing_pending(watch: HistoryWatch) -> bool:
    """Whether the watch has no delta ready (it would wait for the next change)."""
    return watch._next == watch._history.end


async def test_watch_from_an_rv_yields_every_change_after_it_in_order() -> None:
    store = Store(ALWAYS)
    a = pod("a", rv="1")
    store.replace([a], "1")
    a2 = bump(a, "2", phase="Failed")
    b = pod("b", rv="3")
    store.apply(a2)
    store.apply(b)
    store.delete(pod("a", rv="4"))
    watch = store.watch("2")
    got = await take(watch, 2)
    assert got == [Added(b), Deleted(pod("a", rv="4"))]
    assert watch.resource_version == "4"
    assert nothing_pending(watch)
    from_one = await take(store.watch("1"), 3)
    assert from_one == [Updated(a, a2), Added(b), Deleted(pod("a", rv="4"))]


async def test_watch_from_the_empty_store_includes_the_first_relist() -> None:
    store = Store(ALWAYS)
    objs = [pod("a", rv="1"), pod("b", rv="2")]
    store.replace(objs, "5")
    store.apply(pod("c", rv="6"))
    got = await take(store.watch(""), 3)
    assert got == [Added(objs[0]), Added(objs[1]), Added(pod("c", rv="6"))]


async def test_watch_from_now_sees_only_later_changes_and_waits_for_them() -> None:
    store = Store()
    store.apply(pod("old", rv="1"))
    watch = store.watch()
    assert nothing_pending(watch)
    received: list[Delta] = []

    async def consume() -> None:
        received.extend(await take(watch, 2))

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        await anyio.wait_all_tasks_blocked()
        assert received == []
        store.apply(pod("x", rv="2"))
        store.observe_resource_version("3")  # a bookmark is not a change
        deltas = store.replace([pod("old", rv="1"), pod("x", rv="2"), pod("y", rv="4")], "4")
    assert deltas == [Added(pod("y", rv="4"))]
    assert received == [Added(pod("x", rv="2")), Added(pod("y", rv="4"))]


async def test_a_relist_contributes_its_true_differences() -> None:
    store = Store(ALWAYS)
    a, b = pod("a", rv="1"), pod("b", rv="2")
    store.replace([a, b], "2")
    b2 = bump(b, "7", phase="Failed")
    store.replace([b2, pod("c", rv="8")], "9")
    got = await take(store.watch("2"), 3)
    assert got == [Updated(b, b2), Added(pod("c", rv="8")), Deleted(a)]
    # Every relist delta is recorded at the relist's resourceVersion.
    watch = store.watch("9")
    assert nothing_pending(watch)


async def test_too_old_an_rv_raises_history_expired_a_410() -> None:
    store = Store(StoreOptions(history_size=3, history_retention="always"))
    for i in range(1, 6):
        store.apply(pod(f"p{i}", rv=str(i)))
    # Entries for rv 1 and 2 fell out: the history is complete from rv 2 on.
    with pytest.raises(HistoryExpired) as info:
        store.watch("1")
    assert isinstance(info.value, Gone)
    assert info.value.code == 410
    with pytest.raises(HistoryExpired):
        store.watch("")
    got = await take(store.watch("2"), 3)
    assert [d.key for d in got] == ["default/p3", "default/p4", "default/p5"]


async def test_a_consumer_that_falls_behind_gets_history_expired() -> None:
    store = Store(StoreOptions(history_size=4))
    store.apply(pod("p0", rv="1"))
    watch = store.watch("1")
    for i in range(2, 8):  # six changes, only four kept
        store.apply(pod(f"p{i}", rv=str(i)))
    with pytest.raises(HistoryExpired, match="fell more than 4 events behind"):
        await watch.__anext__()


async def test_a_since_rv_newer_than_the_store_skips_changes_up_to_it() -> None:
    store = Store()
    store.apply(pod("a", rv="5"))
    watch = store.watch("8")  # e.g. from another replica's newer view
    store.apply(pod("b", rv="7"))
    store.apply(pod("c", rv="9"))
    got = await take(watch, 1)
    assert got == [Added(pod("c", rv="9"))]


async def test_non_numeric_rvs_are_found_by_equality() -> None:
    store = Store(ALWAYS)
    store.apply(pod("a", rv="x1"))
    store.apply(pod("b", rv="x2"))
    store.apply(pod("c", rv="x3"))
    got = await take(store.watch("x2"), 1)
    assert got == [Added(pod("c", rv="x3"))]
    with pytest.raises(HistoryExpired):
        store.watch("unknown")


async def test_no_history() -> None:
    store = Store(StoreOptions(history_size=0))
    store.apply(pod("a"))
    with pytest.raises(HistoryExpired):
        store.watch()
    with pytest.raises(ValueError):
        Store(StoreOptions(history_size=-1))


# --- recorded only while watched (the default) --------------------------------------------


async def test_by_default_nothing_is_recorded_while_nobody_watches() -> None:
    """No replaced object is kept for a watch that does not exist, so a store's memory
    does not grow with churn; a watch then starts the history at the store's rv."""
    store = Store()
    a = pod("a", rv="1")
    store.replace([a], "1")
    store.apply(bump(a, "2", phase="Failed"))
    history = store._history
    assert history is not None and len(history) == 0
    with pytest.raises(HistoryExpired):
        store.watch("1")  # that change was not recorded: a 410, never a silent gap
    assert len(history) == 0 and not history.recording  # a refused watch records nothing
    watch = store.watch(store.resource_version)
    assert nothing_pending(watch)
    store.apply(pod("b", rv="3"))
    assert await take(watch, 1) == [Added(pod("b", rv="3"))]
    # A second watch from an rv recorded while the first was open.
    assert await take(store.watch("2"), 1) == [Added(pod("b", rv="3"))]


async def test_the_history_is_freed_when_the_last_watch_goes_away() -> None:
    import gc

    store = Store()
    watch = store.watch()
    other = store.watch()
    a = pod("a", rv="1")
    store.apply(a)
    store.apply(bump(a, "2", phase="Failed"))
    history = store._history
    assert history is not None and len(history) == 2
    del watch
    assert (history.recording, len(history)) == (True, 2)  # `other` still watches
    del other
    gc.collect()
    assert not history.recording and len(history) == 0
    store.apply(pod("b", rv="3"))
    assert len(history) == 0
    with pytest.raises(HistoryExpired):
        store.watch("2")
    watch = store.watch("3")
    store.apply(pod("c", rv="4"))
    got = await take(watch, 1)
    assert got == [Added(pod("c", rv="4"))]


async def test_a_watch_left_with_break_stops_the_recording() -> None:
    store = Store()
    store.apply(pod("a", rv="1"))
    seen: list[Delta] = []

    async def consume() -> None:
        async for delta in store.watch("1"):
            seen.append(delta)
            break

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        await anyio.wait_all_tasks_blocked()
        store.apply(pod("b", rv="2"))
    assert seen == [Added(pod("b", rv="2"))]
    history = store._history
    assert history is not None and not history.recording and len(history) == 0
    store.apply(pod("c", rv="3"))
    with pytest.raises(HistoryExpired):
        store.watch("2")  # nothing watched while c was applied


def test_history_retention_is_checked() -> None:
    with pytest.raises(ValueError, match="history_retention"):
        StoreOptions(history_retention="sometimes")  # type: ignore[arg-type]
