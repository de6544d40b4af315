"""Finalizers and status writes, with conflicts, against the fake apiserver."""

from __future__ import annotations

from typing import Any

import pytest
from ctl_helpers import Calls, deployment, running

from kcs.client import Client
from kcs.controller import (
    Builder,
    Context,
    Controller,
    Result,
    Runner,
    apply_finalizer,
    ensure_finalizer,
    mutate_status,
    remove_finalizer,
)
from kcs.core import Conflict, NotFound, Object, ObjectKey, builtin, object_from_dict
from kcs.informer import InformerFactory
from kcs.testing import FakeApiServer, eventually

CONFIGMAPS = builtin("configmaps")
DEPLOYMENTS = builtin("deployments.apps")
FINALIZER = "kcs.dev/cleanup"


class Finalizing(Controller):
    """Cleans up before a ConfigMap may go; the first cleanup fails when ``flaky``."""

    def __init__(self, *, flaky: bool = False) -> None:
        self.calls = Calls()
        self.cleaned: list[ObjectKey] = []
        self.flaky = flaky

    def setup(self, builder: Builder) -> None:
        builder.for_(CONFIGMAPS, namespace="default")

    async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
        self.calls.record(key)
        obj = await ctx.cache.get(CONFIGMAPS, key.name, key.namespace)
        if obj is None:
            return None
        await apply_finalizer(ctx.client, CONFIGMAPS, obj, FINALIZER, cleanup=self.cleanup)
        return None

    async def cleanup(self, obj: Object) -> None:
        if self.flaky:
            self.flaky = False
            raise RuntimeError("the external system is down")
        self.cleaned.append(ObjectKey.of(obj))


def _finalizers(api: FakeApiServer, name: str) -> list[str] | None:
    try:
        return list(api.get(CONFIGMAPS, name, "default")["metadata"].get("finalizers") or [])
    except NotFound:
        return None


@pytest.mark.anyio
@pytest.mark.timeout(20)
async def test_cleanup_runs_once_before_the_object_goes(
    api: FakeApiServer, client: Client, factory: InformerFactory
) -> None:
    ctl = Finalizing(flaky=True)
    run = Runner(ctl, client, factory)
    async with running(factory, run):
        api.create(CONFIGMAPS, {"metadata": {"name": "cm", "namespace": "default",
                                             "finalizers": ["other.io/keep"]}})
        await eventually(lambda: _finalizers(api, "cm") == ["other.io/keep", FINALIZER])

        api.delete(CONFIGMAPS, "cm", "default")  # marked: finalizers hold it
        # The first cleanup fails: the finalizer stays, the reconcile is retried.
        await eventually(lambda: _finalizers(api, "cm") == ["other.io/keep"])
        assert api.get(CONFIGMAPS, "cm", "default")["metadata"]["deletionTimestamp"]
        assert ctl.cleaned == [ObjectKey("default", "cm")]
        assert run.stats.errors == 1

        api.patch(CONFIGMAPS, "cm", {"metadata": {"finalizers": None}}, namespace="default")
        await eventually(lambda: _finalizers(api, "cm") is None)
        await eventually(lambda: run.primary.lister.get("cm", "default") is None)
    assert ctl.cleaned == [ObjectKey("default", "cm")], "cleanup ran exactly once"


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_finalizer_patches_retry_conflicts_and_keep_others(
    api: FakeApiServer, client: Client
) -> None:
    stale = object_from_dict(api.create(CONFIGMAPS, {"metadata": {"name": "cm",
                                                                  "namespace": "default"}}))
    # Another controller adds its finalizer after we read: our view is stale.
    api.patch(CONFIGMAPS, "cm", {"metadata": {"finalizers": ["other.io/keep"]}},
              namespace="default")
    added = await ensure_finalizer(client, CONFIGMAPS, stale, FINALIZER)
    assert added is not None
    assert added.metadata.finalizers == ("other.io/keep", FINALIZER)
    assert await ensure_finalizer(client, CONFIGMAPS, added, FINALIZER) is added, "no-op"
    patches = [w for w in api.writes.records if w.verb == "patch"]
    assert len(patches) == 2  # theirs, ours (the conflicting attempt wrote nothing)

    api.patch(CONFIGMAPS, "cm", {"metadata": {"labels": {"a": "b"}}}, namespace="default")
    removed = await remove_finalizer(client, CONFIGMAPS, added, FINALIZER)  # stale again
    assert removed is not None
    assert removed.metadata.finalizers == ("other.io/keep",)
    assert removed.labels == {"a": "b"}


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_removing_the_last_finalizer_of_a_deleted_object_lets_it_go(
    api: FakeApiServer, client: Client
) -> None:
    api.create(CONFIGMAPS, {"metadata": {"name": "cm", "namespace": "default",
                                         "finalizers": [FINALIZER]}})
    marked = object_from_dict(api.delete(CONFIGMAPS, "cm", "default"))
    assert marked.metadata.deletion_timestamp
    assert await ensure_finalizer(client, CONFIGMAPS, marked, "late.io/x") is marked
    await remove_finalizer(client, CONFIGMAPS, marked, FINALIZER)
    assert _finalizers(api, "cm") is None


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_status_is_written_against_fresh_state_after_a_conflict(
    api: FakeApiServer, client: Client
) -> None:
    stale = object_from_dict(api.create(DEPLOYMENTS, deployment("web")))
    fresh = api.get(DEPLOYMENTS, "web", "default")
    fresh["status"] = {"replicas": 3}  # someone else's status write wins the race
    api.update(DEPLOYMENTS, fresh, status=True)

    seen: list[dict[str, Any]] = []

    def mark_ready(status: dict[str, Any]) -> None:
        seen.append(dict(status))
        status["readyReplicas"] = 1

    stored = await mutate_status(client, DEPLOYMENTS, stale, mark_ready)
    assert stored is not None, "the object exists, so its status was written"
    assert seen == [{}, {"replicas": 3}], "first from the cache, then re-read after the 409"
    assert stored["status"] == {"replicas": 3, "readyReplicas": 1}
    assert api.get(DEPLOYMENTS, "web", "default")["status"] == stored["status"]

    writes = len(api.writes)
    unchanged = await mutate_status(client, DEPLOYMENTS, ObjectKey("default", "web"), mark_ready)
    assert unchanged is not None
    assert unchanged["status"] == stored["status"]
    assert len(api.writes) == writes, "nothing changed, nothing written"


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_status_retries_are_bounded(api: FakeApiServer, client: Client) -> None:
    api.create(DEPLOYMENTS, deployment("web"))
    attempts = [0]

    def racing(status: dict[str, Any]) -> None:
        attempts[0] += 1
        current = api.get(DEPLOYMENTS, "web", "default")  # someone always writes first
        current["status"] = {"observedGeneration": attempts[0]}
        api.update(DEPLOYMENTS, current, status=True)
        status["readyReplicas"] = 1

    with pytest.raises(Conflict):
        await mutate_status(client, DEPLOYMENTS, ObjectKey("default", "web"), racing, attempts=3)
    assert attempts[0] == 3


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_status_writes_of_a_reconcile_are_remembered(
    api: FakeApiServer, client: Client, factory: InformerFactory
) -> None:
    class StatusWriter(Controller):
        def setup(self, builder: Builder) -> None:
            builder.for_(DEPLOYMENTS)

        async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
            obj = await ctx.cache.get(DEPLOYMENTS, key.name, key.namespace)
            if obj is not None:
                await mutate_status(ctx.client, DEPLOYMENTS, obj,
                                    lambda s: s.update(observedGeneration=obj.metadata.generation))
            return None

    ctl = StatusWriter()
    run = Runner(ctl, client, factory)
    async with running(factory, run):
        api.create(DEPLOYMENTS, deployment("web"))
        await eventually(lambda: (run.primary.lister.get("web", "default") or _NO)
                         .get("status", {}).get("observedGeneration") == 1)
    assert run.stats.errors == 0
    status_writes = [w for w in api.writes.records if w.subresource == "status"]
    assert len(status_writes) == 1


_NO = object_from_dict({"apiVersion": "v1", "kind": "X", "metadata": {}})
