"""Metrics and spans from a real informer + work queue + controller run on the fake apiserver."""

from __future__ import annotations

import base64
from typing import Any

import anyio
import pytest
from obs_helpers import Otel

from kcs.client import Client
from kcs.controller import Builder, Context, Controller, Result, Runner
from kcs.core import ObjectKey, builtin
from kcs.informer import Informer, InformerFactory
from kcs.leaderelection import ElectionEvent, ElectionEventKind
from kcs.observability import ClientTelemetry, LeaderTelemetry
from kcs.testing import FakeApiServer, eventually

CONFIGMAPS = builtin("configmaps")
SECRETS = builtin("secrets")
TOKEN = "s3cr3t-token-value"
PASSWORD = "hunter2-very-secret"


class SecretPerConfigMap(Controller):
    """Keeps a Secret ``<name>-secret`` holding a password for each ConfigMap."""

    name = "SecretPerConfigMap"

    def setup(self, builder: Builder) -> None:
        builder.for_(CONFIGMAPS)
        self.secrets = builder.owns(SECRETS)

    async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
        cm = await ctx.cache.get(CONFIGMAPS, key.name, key.namespace)
        if cm is None:
            return None
        if key.name == "boom":
            raise ValueError(f"cannot use password {PASSWORD}")
        name = f"{key.name}-secret"
        if self.secrets.lister.get(name, key.namespace) is None:
            await ctx.client.create(SECRETS, {
                "metadata": {
                    "name": name, "namespace": key.namespace,
                    "ownerReferences": [{
                        "apiVersion": "v1", "kind": "ConfigMap", "name": key.name,
                        "uid": cm.uid, "controller": True,
                    }],
                },
                "data": {"password": base64.b64encode(PASSWORD.encode()).decode()},
                "stringData": {"plain": PASSWORD},
            })
        return None


def _points(otel: Otel) -> dict[str, list[Any]]:
    data = otel.reader.get_metrics_data()
    out: dict[str, list[Any]] = {}
    assert data is not None
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            if sm.scope.name != "kcs":
                continue
            for metric in sm.metrics:
                out.setdefault(metric.name, []).extend(metric.data.data_points)
    return out


def _value(points: list[Any], **attrs: Any) -> float:
    total = 0.0
    for p in points:
        if all(p.attributes.get(k) == v for k, v in attrs.items()):
            total += p.value if hasattr(p, "value") else p.count
    return total


def _created_secrets(api: FakeApiServer) -> int:
    return sum(1 for w in api.writes.records if w.resource == "secrets" and w.verb == "create")


@pytest.mark.anyio
@pytest.mark.timeout(30)
async def test_a_controller_run_emits_metrics_and_spans(
    otel: Otel, api: FakeApiServer, client: Client, factory: InformerFactory
) -> None:
    client.observer = ClientTelemetry()
    ctl = SecretPerConfigMap()
    run = Runner(ctl, client, factory)
    n = 5
    for i in range(n):
        api.create(CONFIGMAPS, {"metadata": {"name": f"cm{i}", "namespace": "default"}})
    async with anyio.create_task_group() as tg:
        tg.start_soon(factory.run)
        tg.start_soon(run.run)
        await eventually(lambda: _created_secrets(api) >= n)
        api.create(CONFIGMAPS, {"metadata": {"name": "boom", "namespace": "default"}})
        await eventually(lambda: run.stats.errors >= 1)
        await eventually(lambda: run.stats.successes >= 2 * n)
        points = _points(otel)
        # The informer: events, lists and objects read from its own counters.
        cm_attrs = {"resource": "configmaps", "namespace": ""}
        assert _value(points["kcs.informer.events"], **cm_attrs) >= n + 1
        assert _value(points["kcs.informer.lists"], **cm_attrs) >= 1
        assert _value(points["kcs.informer.objects"], **cm_attrs) == n + 1 == len(
            run.primary.lister
        )
        assert _value(points["kcs.informer.objects"], resource="secrets") == n
        assert "kcs.informer.relists" in points and "kcs.informer.bookmarks" in points
        staleness = points["kcs.informer.staleness"]
        assert all(0 <= p.value < 30 for p in staleness)
        tg.cancel_scope.cancel()
    points = _points(otel)
    ctl_attrs = {"controller": "SecretPerConfigMap"}
    # The controller: counts by outcome match its own stats; durations are plausible.
    assert _value(points["kcs.reconcile.count"], outcome="success", **ctl_attrs) == (
        run.stats.successes
    )
    assert _value(points["kcs.reconcile.errors"], **ctl_attrs) == run.stats.errors >= 1
    durations = [p for p in points["kcs.reconcile.duration"]
                 if p.attributes["controller"] == "SecretPerConfigMap"]
    assert sum(p.count for p in durations) == run.stats.reconciles - run.stats.cancelled
    assert all(0 <= p.sum / p.count < 5 for p in durations)
    # The queue of the controller.
    q = {"name": "SecretPerConfigMap"}
    assert _value(points["kcs.workqueue.adds"], **q) >= 2 * n + 1
    assert _value(points["kcs.workqueue.queue_duration"], **q) >= 2 * n
    assert _value(points["kcs.workqueue.work_duration"], **q) >= 2 * n
    assert _value(points["kcs.workqueue.retries"], **q) >= 1
    assert "kcs.workqueue.depth" in points
    # The client: every create the server saw, with its code.
    assert _value(points["kcs.client.requests"], verb="create", resource="secrets", code=201) == (
        _created_secrets(api)
    )
    assert _value(points["kcs.client.requests"], verb="list", resource="configmaps") >= 1
    # Spans: one per reconcile; each create is a child of the reconcile that made it.
    spans = otel.spans.get_finished_spans()
    reconciles = {s.context.span_id: s for s in spans if s.name == "reconcile SecretPerConfigMap"}
    assert len(reconciles) >= n
    creates = [s for s in spans if s.name == "create secrets"]
    assert len(creates) == _created_secrets(api)
    for span in creates:
        assert span.parent is not None
        parent = reconciles[span.parent.span_id]
        assert span.context is not None and parent.context is not None
        assert span.context.trace_id == parent.context.trace_id
        assert parent.start_time is not None and parent.end_time is not None
        assert span.start_time is not None and span.end_time is not None
        assert parent.start_time <= span.start_time <= span.end_time <= parent.end_time
        assert span.attributes is not None
        assert span.attributes["http.response.status_code"] == 201
    failed = [s for s in reconciles.values()
              if (s.attributes or {}).get("k8s.object.name") == "boom"]
    assert failed and all((s.attributes or {}).get("error.type") == "ValueError" for s in failed)
    # No call outside a reconcile made a span (the informers' lists and watches).
    assert not [s for s in spans if s.parent is None and not s.name.startswith("reconcile")]
    _assert_no_secret(otel, spans)


def _assert_no_secret(otel: Otel, spans: Any) -> None:
    forbidden = [
        TOKEN, PASSWORD, base64.b64encode(PASSWORD.encode()).decode(), "Bearer", "authorization",
    ]
    values: list[str] = []
    for span in spans:
        values += [f"{k}={v}" for k, v in (span.attributes or {}).items()]
        values += [str(e.attributes) for e in span.events]
        values.append(span.name)
    for points in _points(otel).values():
        values += [str(dict(p.attributes or {})) for p in points]
    assert values
    for value in values:
        for secret in forbidden:
            assert secret.lower() not in value.lower(), value


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_leader_telemetry_counts_transitions(otel: Otel) -> None:
    seen: list[ElectionEvent] = []
    leader = LeaderTelemetry("obs-lease", inner=seen.append)

    def event(kind: ElectionEventKind) -> ElectionEvent:
        return ElectionEvent(kind, anyio.current_time(), "me", holder="me")

    def state() -> tuple[float, float, float]:
        points = _points(otel)
        lease = {"lease": "obs-lease"}
        return (
            _value(points["kcs.leader.is_leader"], **lease),
            _value(points["kcs.leader.transitions"], direction="started", **lease),
            _value(points["kcs.leader.transitions"], direction="stopped", **lease),
        )

    leader(event(ElectionEventKind.LEADER_CHANGED))
    leader(event(ElectionEventKind.STARTED_LEADING))
    assert state() == (1, 1, 0)
    leader(event(ElectionEventKind.RENEWED))
    leader(event(ElectionEventKind.STOPPED_LEADING))
    assert state() == (0, 1, 1)
    assert _value(_points(otel)["kcs.leader.changes"], lease="obs-lease") == 1
    assert len(seen) == 4


@pytest.mark.anyio
@pytest.mark.timeout(30)
async def test_the_informer_hot_path_makes_no_per_event_otel_calls(
    otel: Otel, api: FakeApiServer, client: Client, factory: InformerFactory
) -> None:
    import sys
    from types import FrameType

    client.observer = ClientTelemetry()
    client_telemetry_file = sys.modules[ClientTelemetry.__module__].__file__
    informer = factory.informer(CONFIGMAPS)
    entries: list[str] = []  # calls into OpenTelemetry from outside it, by caller

    def profile(frame: FrameType, event: str, _: Any) -> None:
        back = frame.f_back
        if (
            event == "call"
            and "opentelemetry" in frame.f_code.co_filename
            and back is not None
            and "opentelemetry" not in back.f_code.co_filename
            and back.f_code.co_filename != "<string>"  # dataclass code made by the SDK
        ):
            entries.append(f"{back.f_code.co_filename}:{back.f_code.co_name}")

    n = 400
    async with anyio.create_task_group() as tg:
        tg.start_soon(factory.run)
        await informer.wait_synced()
        sys.setprofile(profile)
        try:
            for i in range(n):
                api.create(CONFIGMAPS, {"metadata": {"name": f"hot{i}", "namespace": "default"}})
            await eventually(lambda: len(informer.lister) >= n)
        finally:
            sys.setprofile(None)
        tg.cancel_scope.cancel()
    assert informer.stats.events >= n
    # No OpenTelemetry code runs per watch event: only the client's observer, per request
    # (a watch reconnect), ever calls into it on this path.
    callers = {e.rsplit(":", 1)[0] for e in entries}
    assert callers <= {client_telemetry_file}, callers
    assert len(entries) < n // 10, entries
    points = _points(otel)
    assert _value(points["kcs.informer.events"], resource="configmaps") >= n


@pytest.mark.anyio
@pytest.mark.timeout(30)
async def test_bookmarks_a_watcher_counts_after_the_last_collection_are_not_lost(
    otel: Otel,
) -> None:
    # A namespace of its own: informers of other tests (held weakly) do not add to it.
    attrs = {"resource": "configmaps", "namespace": "bookmarks-across-runs"}
    async with FakeApiServer(fast_bookmarks=0.05) as api, \
            Client.from_url(api.url) as client:
        informer = Informer(client, CONFIGMAPS, "bookmarks-across-runs")
        first: list[Any] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(informer.run)
            await eventually(lambda: informer.watcher is not None and (
                informer.watcher.stats.bookmarks >= 2))
            first.append(informer.watcher)
            collected = _value(_points(otel)["kcs.informer.bookmarks"], **attrs)
            # more bookmarks arrive before the run ends, with no collection between
            await eventually(lambda: first[0].stats.bookmarks >= collected + 3)
            tg.cancel_scope.cancel()
        counted_by_first = first[0].stats.bookmarks
        async with anyio.create_task_group() as tg:
            tg.start_soon(informer.run)
            await eventually(lambda: informer.watcher is not None
                             and informer.watcher is not first[0])
            second = informer.watcher
            assert second is not None
            points = _points(otel)["kcs.informer.bookmarks"]
            # every bookmark of the first run, and those of the second so far
            assert _value(points, **attrs) >= counted_by_first > collected
            assert _value(points, **attrs) <= counted_by_first + second.stats.bookmarks
            tg.cancel_scope.cancel()
