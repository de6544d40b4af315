"""Property: after any sequence of writes, lists and watches from any resourceVersion agree
with a simple model of the apiserver (a dict of objects plus a list of events)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from apiserver_http import Http, http, pod
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kcs.testing import FakeApiServer

pytestmark = pytest.mark.timeout(120)

PODS = "/api/v1/namespaces/default/pods"
NAMES = ["a", "b", "c", "d"]

Op = tuple[Any, ...]
ops_strategy = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.sampled_from(NAMES), st.sampled_from("xy"),
                  st.integers(1, 2)),
        st.tuples(st.just("update"), st.sampled_from(NAMES), st.sampled_from("xy"),
                  st.integers(1, 2)),
        st.tuples(st.just("stale"), st.sampled_from(NAMES)),
        st.tuples(st.just("status"), st.sampled_from(NAMES), st.sampled_from(["Pending",
                                                                              "Running"])),
        st.tuples(st.just("delete"), st.sampled_from(NAMES)),
        st.tuples(st.just("compact")),
    ),
    min_size=1,
    max_size=14,
)


@dataclass
class Obj:
    tier: str
    image: int
    phase: str = "Pending"
    generation: int = 1

    def view(self, rv: int) -> tuple[str, str, int, str, int]:
        return (self.tier, f"i:{self.image}", self.generation, self.phase, rv)


@dataclass
class Model:
    start: int
    revision: int
    objects: dict[str, tuple[Obj, int]] = field(default_factory=dict)
    events: list[tuple[int, str, str, Obj | None, Obj | None]] = field(default_factory=list)
    compacted: int = 0

    def commit(self, type_: str, name: str, new: Obj | None) -> None:
        self.revision += 1
        rev = self.revision
        prev = self.objects.get(name, (None, 0))[0]
        self.events.append((rev, type_, name, new, prev))
        if new is None:
            del self.objects[name]
        else:
            self.objects[name] = (new, rev)

    def state_at(self, rv: int) -> dict[str, tuple[Any, ...]]:
        out: dict[str, tuple[Any, ...]] = {}
        for erv, _, name, new, _prev in self.events:
            if erv > rv:
                break
            if new is None:
                out.pop(name, None)
            else:
                out[name] = new.view(erv)
        return dict(sorted(out.items()))

    def watch_from(self, rv: int, tier: str | None) -> list[tuple[str, str, int]]:
        out = []
        for erv, type_, name, new, prev in self.events:
            if erv <= rv:
                continue
            now = type_ != "DELETED" and new is not None and (tier is None or new.tier == tier)
            before = prev is not None and (tier is None or prev.tier == tier)
            if now:
                out.append(("MODIFIED" if before else "ADDED", name, erv))
            elif before:
                out.append(("DELETED", name, erv))
        return out


def _view(item: dict[str, Any]) -> tuple[str, str, int, str, int]:
    m = item["metadata"]
    return (m["labels"]["tier"], item["spec"]["containers"][0]["image"], m["generation"],
            item["status"]["phase"], int(m["resourceVersion"]))


def _body(name: str, tier: str, image: int) -> dict[str, Any]:
    body = pod(name, tier=tier)
    body["spec"]["containers"][0]["image"] = f"i:{image}"
    return body


async def _apply(api: FakeApiServer, c: Http, model: Model, op: Op) -> None:
    kind, *args = op
    entry = model.objects.get(args[0]) if args else None
    cur = entry[0] if entry is not None else None
    if kind == "create":
        name, tier, image = args
        r = await c.post(PODS, _body(name, tier, image))
        if cur is not None:
            assert r.status == 409 and r.reason == "AlreadyExists"
            return
        assert r.status == 201
        model.commit("ADDED", name, Obj(tier, image))
    elif kind == "update":
        # Read, modify, write, as clients update pods: the server's defaults and admission
        # (token volume, tolerations) are part of the spec a pod update may not change.
        name, tier, image = args
        body = _body(name, tier, image)
        got = await c.get(f"{PODS}/{name}")
        if got.status == 200:
            body = got.body
            body["metadata"]["labels"]["tier"] = tier
            body["spec"]["containers"][0]["image"] = f"i:{image}"
            del body["metadata"]["resourceVersion"]
        r = await c.put(f"{PODS}/{name}", body)
        if cur is None:
            assert r.status == 404
            return
        assert r.status == 200
        if (cur.tier, cur.image) != (tier, image):
            gen = cur.generation + (cur.image != image)
            model.commit("MODIFIED", name, Obj(tier, image, cur.phase, gen))
    elif kind == "stale":
        body = _body(args[0], "x", 1)
        body["metadata"]["resourceVersion"] = "1"
        r = await c.put(f"{PODS}/{args[0]}", body)
        assert r.status == (409 if cur is not None else 404)
    elif kind == "status":
        name, phase = args
        r = await c.patch(f"{PODS}/{name}/status", {"status": {"phase": phase}})
        if cur is None:
            assert r.status == 404
            return
        assert r.status == 200
        if cur.phase != phase:
            model.commit("MODIFIED", name,
                         Obj(cur.tier, cur.image, phase, cur.generation))
    elif kind == "delete":
        r = await c.delete(f"{PODS}/{args[0]}")
        if cur is None:
            assert r.status == 404
            return
        assert r.status == 200
        # An unscheduled pod goes at once (grace period 0), but as kube-apiserver the
        # server first writes its deletionTimestamp (a MODIFIED, with the next generation).
        model.commit("MODIFIED", args[0], Obj(cur.tier, cur.image, cur.phase,
                                             cur.generation + 1))
        model.commit("DELETED", args[0], None)
    else:
        model.compacted = model.revision
        assert api.compact() == model.revision


async def _scenario(ops: list[Op], rv_picks: list[float]) -> None:
    async with FakeApiServer() as api, http(api.url) as c:
        model = Model(start=api.revision, revision=api.revision)
        for op in ops:
            await _apply(api, c, model, op)
            assert api.revision == model.revision
        final = api.revision
        current = await c.get(PODS)
        assert {i["metadata"]["name"]: _view(i) for i in current.body["items"]} == \
            model.state_at(final)
        assert current.rv == str(final)
        rvs = [model.start + round(p * (final - model.start)) for p in rv_picks]
        for rv in rvs:
            r = await c.get(PODS, resourceVersion=str(rv), resourceVersionMatch="Exact")
            if rv < model.compacted:
                assert r.status == 410
                continue
            assert {i["metadata"]["name"]: _view(i) for i in r.body["items"]} == \
                model.state_at(rv)
            paged, token = [], None
            while True:
                params = {"limit": "1", **({"continue": token} if token else
                                           {"resourceVersion": str(rv),
                                            "resourceVersionMatch": "Exact"})}
                page = await c.get(PODS, **params)
                paged += [i["metadata"]["name"] for i in page.body["items"]]
                token = page.body["metadata"].get("continue")
                if not token:
                    break
            assert paged == list(model.state_at(rv))
        await _check_watches(api, c, model, rvs[0])


async def _check_watches(api: FakeApiServer, c: Http, model: Model, rv: int) -> None:
    async with c.watch(PODS, resourceVersion=str(rv)) as everything, \
            c.watch(PODS, resourceVersion=str(rv), labelSelector="tier=x") as tier_x:
        if rv < model.compacted:
            for w in (everything, tier_x):
                ev = await w.next()
                assert ev is not None and ev["type"] == "ERROR"
                assert ev["object"]["code"] == 410
            return
        await c.post(PODS, _body("sentinel", "x", 1))
        for w, tier in ((everything, None), (tier_x, "x")):
            got = []
            async with asyncio.timeout(10):
                while True:
                    ev = await w.next()
                    assert ev is not None
                    meta = ev["object"]["metadata"]
                    if meta["name"] == "sentinel":
                        break
                    got.append((ev["type"], meta["name"], int(meta["resourceVersion"])))
            assert got == model.watch_from(rv, tier)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops_strategy, rv_picks=st.lists(st.floats(0, 1), min_size=1, max_size=3))
def test_lists_and_watches_agree_with_the_model(ops: list[Op], rv_picks: list[float]) -> None:
    asyncio.run(_scenario(ops, rv_picks))
