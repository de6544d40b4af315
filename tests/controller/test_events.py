"""The Event recorder: series, aggregation, spam filter and bounded memory, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from anyio.lowlevel import checkpoint

from kcs.client import Client
from kcs.controller import EventRecorder
from kcs.core import builtin, object_from_dict
from kcs.testing import FakeApiServer

EVENTS = builtin("Event", "v1")
CONFIGMAPS = builtin("configmaps")


def _configmap(api: FakeApiServer, name: str) -> dict[str, Any]:
    return api.create(CONFIGMAPS, {"metadata": {"name": name, "namespace": "default"}})


@pytest.fixture
async def recorder(client: Client) -> AsyncIterator[EventRecorder]:
    rec = EventRecorder(client, "test-controller", instance="replica-1")
    async with anyio.create_task_group() as tg:
        tg.start_soon(rec.run)
        yield rec
        tg.cancel_scope.cancel()


def _event_writes(api: FakeApiServer) -> list[str]:
    return [w.verb for w in api.writes.records if w.resource == "events"]


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_an_event_is_a_core_v1_event_about_the_object(
    api: FakeApiServer, recorder: EventRecorder
) -> None:
    cm = _configmap(api, "cm")
    recorder.warning(object_from_dict(cm), "Broken", "it broke")
    assert await recorder.flush(timeout=5)
    [event] = api.list(EVENTS, "default")
    assert event["involvedObject"]["kind"] == "ConfigMap"
    assert event["involvedObject"]["name"] == "cm"
    assert event["involvedObject"]["uid"] == cm["metadata"]["uid"]
    assert (event["type"], event["reason"], event["message"]) == ("Warning", "Broken", "it broke")
    assert event["count"] == 1
    assert event["source"] == {"component": "test-controller", "host": "replica-1"}
    assert event["reportingComponent"] == "test-controller"


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_repeated_events_become_one_series_with_a_count(
    api: FakeApiServer, recorder: EventRecorder
) -> None:
    cm = object_from_dict(_configmap(api, "cm"))
    for _ in range(100):
        recorder.normal(cm, "Synced", "synced")
    assert await recorder.flush(timeout=5)
    for _ in range(50):
        recorder.normal(cm, "Synced", "synced")
        await checkpoint()  # let the writer interleave: later writes are PATCHes
    assert await recorder.flush(timeout=5)

    events = api.list(EVENTS, "default")
    assert len(events) == 1, "150 occurrences, one Event object"
    assert events[0]["count"] == 150
    writes = _event_writes(api)
    assert writes[0] == "create" and set(writes[1:]) <= {"patch"}
    assert len(writes) <= 1 + 50, "a burst coalesces into few writes"
    assert recorder.stats.recorded == 150
    assert recorder.stats.created == 1


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_many_similar_messages_are_combined(
    api: FakeApiServer, recorder: EventRecorder
) -> None:
    cm = object_from_dict(_configmap(api, "cm"))
    for i in range(30):
        recorder.warning(cm, "Failed", f"attempt {i} failed")
    assert await recorder.flush(timeout=5)
    events = api.list(EVENTS, "default")
    combined = [e for e in events if e["message"].startswith("(combined from similar events)")]
    assert len(events) == 10, "9 distinct messages, then one combined series"
    assert len(combined) == 1
    assert combined[0]["count"] == 21
    assert combined[0]["message"].endswith("attempt 29 failed")
    assert recorder.stats.aggregated == 21


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_the_spam_filter_limits_writes_per_object(
    api: FakeApiServer, client: Client
) -> None:
    now = [0.0]
    rec = EventRecorder(client, "c", burst=3, refill_seconds=300, clock=lambda: now[0])
    cm = object_from_dict(_configmap(api, "cm"))
    other = object_from_dict(_configmap(api, "other"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(rec.run)
        for i in range(5):
            rec.normal(cm, f"Reason{i}", "m")
            assert await rec.flush(timeout=5)
        rec.normal(other, "Reason", "m")  # another object has its own bucket
        assert await rec.flush(timeout=5)
        now[0] = 300.0  # one token earned back
        rec.normal(cm, "Later", "m")
        assert await rec.flush(timeout=5)
        tg.cancel_scope.cancel()
    reasons = sorted(e["reason"] for e in api.list(EVENTS, "default"))
    assert reasons == ["Later", "Reason", "Reason0", "Reason1", "Reason2"]
    assert rec.stats.spam_dropped == 2


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_memory_is_bounded_by_the_cache_size(api: FakeApiServer, client: Client) -> None:
    rec = EventRecorder(client, "c", cache_size=8, max_pending=5)
    for i in range(100):
        ref = {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": f"cm{i}", "namespace": "default", "uid": f"u{i}"}}
        rec.normal(ref, "R", f"m{i}")
    assert len(rec._series) <= 8
    assert len(rec._similar) <= 8
    assert len(rec._buckets) <= 8
    assert rec.pending == 5
    assert rec.stats.overflow_dropped == 95


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_an_expired_event_is_created_again(
    api: FakeApiServer, recorder: EventRecorder
) -> None:
    cm = object_from_dict(_configmap(api, "cm"))
    recorder.normal(cm, "Synced", "ok")
    assert await recorder.flush(timeout=5)
    [event] = api.list(EVENTS, "default")
    api.delete(EVENTS, event["metadata"]["name"], "default")  # the server's TTL ran out
    recorder.normal(cm, "Synced", "ok")
    assert await recorder.flush(timeout=5)
    [again] = api.list(EVENTS, "default")
    assert again["metadata"]["name"] == event["metadata"]["name"]
    assert again["count"] == 2
    assert again["involvedObject"]["name"] == "cm"
    assert recorder.stats.failed == 0
