"""LeaderElector in one process against the fake apiserver: the state machine, edge cases,
bad input and apiserver errors. (The multi-process proofs are in test_le_processes.py.)"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

from kcs.client import Client, FencedError, current_fences
from kcs.core import builtin
from kcs.leaderelection import (
    ANNOTATION_LEASE_DURATION,
    ANNOTATION_PREFERRED_HOLDER,
    ANNOTATION_SYNCED,
    LABEL_CANDIDATE_FOR,
    CandidateJanitor,
    ElectionEvent,
    ElectionEventKind,
    ElectionTimings,
    ElectorState,
    EndReason,
    LeaderElector,
    Leadership,
    LeadFunction,
    LeaseLock,
    LeaseObserver,
    candidate_lease_name,
    format_micro_time,
    parse_micro_time,
)
from kcs.leaderelection._context import Election, Wakeup
from kcs.testing import FakeApiServer, eventually

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

CONFIGMAPS = builtin("configmaps")
TIMINGS = ElectionTimings(lease_duration=1.5, renew_deadline=1.0, retry_period=0.2)
LEASE = "ctl"
EV = ElectionEventKind
# Scheduling slack for upper bounds on a 2-core machine shared with other test suites;
# lower bounds (the safety properties) are exact.
SLACK = 0.5
MakeClient = Callable[[str], Client]


class Events:
    """Every election event of every elector in the test, awaitable."""

    def __init__(self) -> None:
        self.items: list[ElectionEvent] = []
        self._changed = anyio.Event()

    def __call__(self, event: ElectionEvent) -> None:
        self.items.append(event)
        self._changed.set()
        self._changed = anyio.Event()

    def of(self, kind: ElectionEventKind, identity: str | None = None,
           after: float = 0.0) -> list[ElectionEvent]:
        return [e for e in self.items if e.kind == kind and e.at >= after
                and (identity is None or e.identity == identity)]

    async def wait(self, kind: ElectionEventKind, identity: str | None = None, *,
                   after: float = 0.0, within: float = 5.0) -> ElectionEvent:
        with anyio.fail_after(within):
            while True:
                changed = self._changed
                found = self.of(kind, identity, after)
                if found:
                    return found[0]
                await changed.wait()


def _elector(make_client: MakeClient, identity: str, events: Events, **kw: Any) -> LeaderElector:
    return LeaderElector(make_client(identity), LEASE, identity=identity, timings=TIMINGS,
                         on_event=events, **kw)


def _lease(api: FakeApiServer) -> dict[str, Any]:
    return api.get("leases", LEASE, "default")


def _holder_lease(holder: str, renew: datetime, seconds: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"name": LEASE, "namespace": "default"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": seconds,
                 "renewTime": format_micro_time(renew), "acquireTime": format_micro_time(renew)},
    }


async def _wait_synced(api: FakeApiServer, *identities: str) -> None:
    """Until the candidate Leases of ``identities`` say synced (written by their tasks)."""

    def synced() -> bool:
        for identity in identities:
            name = candidate_lease_name(LEASE, identity)
            found = api.list("leases", "default", field_selector=f"metadata.name={name}")
            if not found or found[0]["metadata"]["annotations"][ANNOTATION_SYNCED] != "true":
                return False
        return True

    await eventually(synced, 2, f"the candidate Leases of {identities} to say synced")


async def test_a_single_elector_creates_the_lease_leads_and_releases_it(
    fake_apiserver: FakeApiServer, make_client: MakeClient
) -> None:
    api, events = fake_apiserver, Events()
    leaders: list[str] = []
    stopped: list[float] = []
    el = _elector(make_client, "a", events, on_new_leader=leaders.append,
                  on_stopped_leading=lambda: stopped.append(anyio.current_time()))
    async with anyio.create_task_group() as tg:
        tg.start_soon(el.run)
        started = await events.wait(EV.STARTED_LEADING)
        assert el.is_leader and el.leader == "a" and el.transitions == 0
        assert el.leadership is not None and el.leadership.term == 1
        assert started.sent is not None
        assert el.leadership.deadline == pytest.approx(started.sent + TIMINGS.renew_deadline)
        lease = _lease(api)
        assert lease["spec"]["holderIdentity"] == "a"
        assert lease["spec"]["leaseDurationSeconds"] == 2
        assert lease["metadata"]["annotations"][ANNOTATION_LEASE_DURATION] == "1.5"
        renewed = await events.wait(EV.RENEWED)
        assert renewed.sent is not None
        assert el.leadership.deadline == pytest.approx(renewed.sent + TIMINGS.renew_deadline)

        candidate = api.get("leases", candidate_lease_name(LEASE, "a"), "default")
        assert candidate["metadata"]["annotations"][ANNOTATION_SYNCED] == "false"
        await el.set_synced(True)
        candidate = api.get("leases", candidate_lease_name(LEASE, "a"), "default")
        assert candidate["metadata"]["annotations"][ANNOTATION_SYNCED] == "true"

        assert await el.release() is None  # no other candidate: released
    assert not el.is_leader and stopped
    assert _lease(api)["spec"]["holderIdentity"] == ""
    assert events.of(EV.RELEASED)
    assert leaders[:2] == ["", "a"]
    assert not api.list("leases", "default", label_selector="leaderelection.kcs.io/candidate-for")


async def test_of_two_electors_one_leads_and_the_other_follows_it(
    fake_apiserver: FakeApiServer, make_client: MakeClient
) -> None:
    events = Events()
    a, b = (_elector(make_client, i, events) for i in "ab")
    async with anyio.create_task_group() as tg:
        tg.start_soon(a.run)
        tg.start_soon(b.run)
        first = await events.wait(EV.STARTED_LEADING)
        leader, standby = (a, b) if first.identity == "a" else (b, a)
        await eventually(lambda: standby.leader == leader.identity, 2, "the standby to see it")
        # The standby keeps watching while the leader renews, and never leads.
        await events.wait(EV.RENEWED, after=anyio.current_time() + 3 * TIMINGS.retry_period)
        assert leader.is_leader and not standby.is_leader
        assert not events.of(EV.STARTED_LEADING, standby.identity)
        assert standby.watching
        tg.cancel_scope.cancel()


async def test_a_named_successor_that_is_not_synced_gets_a_plain_release(
    fake_apiserver: FakeApiServer, make_client: MakeClient
) -> None:
    events = Events()
    a = _elector(make_client, "a", events)
    b = _elector(make_client, "b", events)
    async with anyio.create_task_group() as tg:
        tg.start_soon(a.run)
        await events.wait(EV.STARTED_LEADING, "a")
        tg.start_soon(b.run)
        await eventually(lambda: b.leader == "a", 2, "b to see a lead")
        assert await a.release("b") is None
        released = await events.wait(EV.RELEASED, "a")
        started = await events.wait(EV.STARTED_LEADING, "b")
        assert started.at - released.at < 0.5
        assert b.transitions == 1
        tg.cancel_scope.cancel()


async def test_a_named_synced_successor_is_handed_the_lease(
    fake_apiserver: FakeApiServer, make_client: MakeClient
) -> None:
    api, events = fake_apiserver, Events()
    a, b, c = (_elector(make_client, i, events) for i in "abc")
    async with anyio.create_task_group() as tg:
        tg.start_soon(a.run)
        await events.wait(EV.STARTED_LEADING, "a")
        for el in (b, c):
            tg.start_soon(el.run)
            await el.set_synced(True)
        await _wait_synced(api, "b", "c")
        assert await a.release("b") == "b"
        handed = await events.wait(EV.HANDED_OFF, "a")
        started = await events.wait(EV.STARTED_LEADING, "b")
        assert handed.holder == "b" and started.at - handed.at < 0.5
        assert not events.of(EV.STARTED_LEADING, "c")
        lease = _lease(api)
        assert lease["spec"]["holderIdentity"] == "b" and lease["spec"]["leaseTransitions"] == 1
        assert b.transitions == 1 and c.leader == "b"
        tg.cancel_scope.cancel()


async def test_a_preferred_holder_set_on_the_lease_makes_the_leader_hand_over(
    fake_apiserver: FakeApiServer, make_client: MakeClient
) -> None:
    api, events = fake_apiserver, Events()
    stopping: list[float] = []

    async def work(leadership: Leadership) -> None:
        await leadership.stopping.wait()
        stopping.append(anyio.current_time())

    a = _elector(make_client, "a", events, on_started_leading=work)
    b = _elector(make_client, "b", events, on_started_leading=work)
    async with anyio.create_task_group() as tg:
        tg.start_soon(a.run)
        await events.wait(EV.STARTED_LEADING, "a")
        tg.start_soon(b.run)
        await b.set_synced(True)
        await _wait_synced(api, "b")
        asked = anyio.current_time()
        api.patch("leases", LEASE, {"metadata": {"annotations": {ANNOTATION_PREFERRED_HOLDER: "b"}}},
                  namespace="default")
        started = await events.wait(EV.STARTED_LEADING, "b", after=asked)
        stop = await events.wait(EV.STOPPED_LEADING, "a", after=asked)
        assert stop.detail == "yielded" and stopping and stopping[0] <= stop.at
        assert started.at - asked < 1.0
        lease = _lease(api)
        assert lease["spec"]["holderIdentity"] == "b"
        assert ANNOTATION_PREFERRED_HOLDER not in lease["metadata"].get("annotations", {})
        # a is a standby again, still running.
        assert not a.is_leader and a.leader == "b"
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("renewed", [timedelta(days=-9000), timedelta(days=9000)])
async def test_an_unknown_holder_is_waited_out_on_our_own_clock_whatever_its_renew_time(
    fake_apiserver: FakeApiServer, make_client: MakeClient, renewed: timedelta
) -> None:
    # The lease says it was renewed in 2000 (or in 2050): a replica comparing wall clocks
    # would take it at once (or never). Ours waits exactly one lease duration from when
    # it first saw the lease.
    api, events = fake_apiserver, Events()
    api.create("leases", _holder_lease("ghost", datetime.now(UTC) + renewed))
    el = _elector(make_client, "a", events)
    began = anyio.current_time()
    async with anyio.create_task_group() as tg:
        tg.start_soon(el.run)
        await eventually(lambda: el.leader == "ghost", 2, "the elector to see the ghost")
        started = await events.wait(EV.STARTED_LEADING, within=5)
        assert started.sent is not None
        assert started.sent - began >= TIMINGS.lease_duration
        assert started.at - began < TIMINGS.lease_duration + SLACK
        assert el.transitions == 1
        tg.cancel_scope.cancel()


async def test_a_holder_that_keeps_renewing_keeps_the_lease(
    fake_apiserver: FakeApiServer, make_client: MakeClient
) -> None:
    api, events = fake_apiserver, Events()
    api.create("leases", _holder_lease("ghost", datetime.now(UTC)))
    el = _elector(make_client, "a", events)
    async with anyio.create_task_group() as tg:
        tg.start_soon(el.run)
        # The ghost renews every 0.5 s for 2 s: longer than a lease duration in all.
        for _ in range(4):
            await anyio.sleep(0.5)  # the ghost's renew period (there is nothing to await)
            lease = _lease(api)
            lease["spec"]["renewTime"] = format_micro_time(datetime.now(UTC))
            api.update("leases", lease)
        last_renewal = anyio.current_time()
        assert not events.of(EV.STARTED_LEADING)
        started = await events.wait(EV.STARTED_LEADING, within=5)
        assert started.sent is not None and started.sent - last_renewal >= TIMINGS.lease_duration
        tg.cancel_scope.cancel()


async def test_a_leader_repairs_nonsense_durations_and_times_and_keeps_leading(
    fake_apiserver: FakeApiServer, make_client: MakeClient
) -> None:
    api, events = fake_apiserver, Events()
    el = _elector(make_client, "a", events)
    async with anyio.create_task_group() as tg:
        tg.start_soon(el.run)
        await events.wait(EV.STARTED_LEADING)
        lease = _lease(api)
        lease["spec"].update(leaseDurationSeconds="abc", renewTime="garbage", leaseTransitions="x")
        edited = anyio.current_time()
        api.update("leases", lease, unchecked=True)  # the API would refuse it: 400
        await events.wait(EV.RENEWED, after=edited)

        def repaired() -> bool:
            spec = _lease(api)["spec"]
            return spec["leaseDurationSeconds"] == 2 and parse_micro_time(spec["renewTime"]) is not None

        await eventually(repaired, 2, "the leader to repair the lease")
        assert el.is_leader and not events.of(EV.STOPPED_LEADING)
        tg.cancel_scope.cancel()


async def test_renewal_errors_cancel_the_work_at_the_renew_deadline_then_it_leads_again(
    fake_apiserver: FakeApiServer, make_client: MakeClient
) -> None:
    api, events = fake_apiserver, Events()
    cancelled: list[float] = []

    async def work(leadership: Leadership) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.append(anyio.current_time())

    el = _elector(make_client, "a", events, on_started_leading=work)
    async with anyio.create_task_group() as tg:
        tg.start_soon(el.run)
        await events.wait(EV.RENEWED)
        failing = anyio.current_time()
        api.faults.fail(500, verbs=["update"])
        stop = await events.wait(EV.STOPPED_LEADING, after=failing)
        assert stop.detail == "fenced" and not el.is_leader
        assert events.of(EV.RENEW_FAILED, after=failing)
        last_sent = max(e.sent for e in events.of(EV.RENEWED) if e.sent is not None)
        # Cancelled at the renew deadline (not before), and before anyone else could take
        # the lease (lease_duration after the last renewal).
        assert cancelled[0] >= last_sent + TIMINGS.renew_deadline
        assert cancelled[0] < last_sent + TIMINGS.lease_duration
        # Nobody else took the lease: once the apiserver answers again, we lead again.
        healed = anyio.current_time()
        api.faults.clear()
        again = await events.wait(EV.STARTED_LEADING, after=healed)
        assert again.term == 2
        assert el.leadership is not None and el.leadership.active
        tg.cancel_scope.cancel()


async def test_a_standby_that_cannot_watch_polls(
    fake_apiserver: FakeApiServer, make_client: MakeClient
) -> None:
    api, events = fake_apiserver, Events()
    a = _elector(make_client, "a", events)
    b = _elector(make_client, "b", events)
    async with anyio.create_task_group() as tg:
        tg.start_soon(a.run)
        await events.wait(EV.STARTED_LEADING, "a")
        api.faults.fail(500, verbs=["watch"])
        tg.start_soon(b.run)
        await eventually(lambda: b.leader == "a", 2, "b to read the lease")
        # b listed the Lease; its watch never delivers (every start is refused), so it
        # polls the Lease from then on.
        await eventually(lambda: not b.watching, 2, "b to stop counting on its watch")
        stats = b.watch_stats
        assert stats is not None and stats.lists == 1 and stats.events == 1
        released_at = anyio.current_time()
        assert await a.release(None) is None
        started = await events.wait(EV.STARTED_LEADING, "b", after=released_at)
        assert started.at - released_at < TIMINGS.retry_period * (1 + TIMINGS.jitter) + SLACK
        assert not b.watching
        tg.cancel_scope.cancel()


async def test_work_that_fails_ends_run_with_its_error_and_releases_the_lease(
    fake_apiserver: FakeApiServer, make_client: MakeClient
) -> None:
    events = Events()

    async def work(leadership: Leadership) -> None:
        raise RuntimeError("reconcile exploded")

    el = _elector(make_client, "a", events, on_started_leading=work)
    with pytest.raises(RuntimeError, match="reconcile exploded"):
        await el.run()
    assert _lease(fake_apiserver)["spec"]["holderIdentity"] == ""
    assert events.of(EV.STOPPED_LEADING)[0].detail == "error"


@pytest.mark.parametrize("release_on_cancel", [True, False])
async def test_cancelling_run_cancels_the_work_and_releases_if_asked(
    fake_apiserver: FakeApiServer, make_client: MakeClient, release_on_cancel: bool
) -> None:
    events = Events()
    work_ended: list[str] = []

    async def work(leadership: Leadership) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            work_ended.append("cancelled")

    lead: LeadFunction = work
    el = _elector(make_client, "a", events, on_started_leading=lead,
                  release_on_cancel=release_on_cancel)
    async with anyio.create_task_group() as tg:
        tg.start_soon(el.run)
        await events.wait(EV.STARTED_LEADING)
        tg.cancel_scope.cancel()
    assert work_ended == ["cancelled"]
    holder = _lease(fake_apiserver)["spec"]["holderIdentity"]
    assert holder == ("" if release_on_cancel else "a")


async def test_release_drains_the_work_within_the_bound_then_cancels_it(
    fake_apiserver: FakeApiServer, make_client: MakeClient
) -> None:
    events = Events()
    seen: list[str] = []

    async def stubborn(leadership: Leadership) -> None:
        await leadership.stopping.wait()
        seen.append("stopping")
        try:
            await anyio.sleep_forever()  # ignores the request to stop
        finally:
            seen.append("cancelled")

    el = _elector(make_client, "a", events, on_started_leading=stubborn)
    async with anyio.create_task_group() as tg:
        tg.start_soon(el.run)
        await events.wait(EV.STARTED_LEADING)
        asked = anyio.current_time()
        await el.release(None, drain_timeout=0.5)
        took = anyio.current_time() - asked
    assert seen == ["stopping", "cancelled"]
    assert 0.5 <= took < 0.5 + SLACK
    stopped = events.of(EV.STOPPED_LEADING)[0]
    released = events.of(EV.RELEASED)[0]
    assert stopped.detail == "released" and stopped.at <= released.at
    # It kept renewing while the work drained, so the lease never came near expiry.
    assert events.of(EV.RENEWED, after=asked)


async def test_the_work_runs_under_the_terms_fence_and_ends_with_a_typed_reason(
    fake_apiserver: FakeApiServer, make_client: MakeClient
) -> None:
    events = Events()
    worker = make_client("worker")
    seen: list[object] = []

    async def work(leadership: Leadership) -> None:
        seen.append(current_fences())
        try:
            await anyio.sleep_forever()
        finally:
            # The term is over by the time the work is cancelled: a request the work
            # still tries (here, in its cleanup) is refused before it is sent.
            with anyio.CancelScope(shield=True):
                before = fake_apiserver.requests.total
                try:
                    await worker.get(CONFIGMAPS, "x", "default")
                except FencedError as e:
                    seen.append(e)
                seen.append(fake_apiserver.requests.total - before)

    el = _elector(make_client, "a", events, on_started_leading=work)
    async with anyio.create_task_group() as tg:
        tg.start_soon(el.run)
        await events.wait(EV.STARTED_LEADING)
        leadership = el.leadership
        assert leadership is not None and leadership.reason is None
        assert el.state is ElectorState.LEADING
        await el.release(None, drain_timeout=0.1)
    assert leadership is not None  # (a task group may swallow: mypy forgets the check above)
    assert seen[0] == (leadership.fence,)
    assert isinstance(seen[1], FencedError) and seen[1].fence is leadership.fence
    assert seen[2] == 0
    assert leadership.reason is EndReason.RELEASED and leadership.ended
    stopped = events.of(EV.STOPPED_LEADING)[0]
    assert stopped.reason is EndReason.RELEASED and stopped.detail == "released"
    assert el.state is ElectorState.STOPPED


async def test_the_leader_deletes_candidate_leases_that_stopped_renewing(
    fake_apiserver: FakeApiServer, make_client: MakeClient
) -> None:
    api, events = fake_apiserver, Events()
    now = format_micro_time(datetime.now(UTC))

    def candidate(identity: str) -> dict[str, Any]:
        return {
            "metadata": {"name": candidate_lease_name(LEASE, identity), "namespace": "default",
                         "labels": {LABEL_CANDIDATE_FOR: LEASE}},
            "spec": {"holderIdentity": identity, "renewTime": now},
        }

    # Two replicas that died without removing their candidate Leases, and one Lease of
    # another election, which is not ours to touch.
    for dead in ("dead-1", "dead-2"):
        api.create("leases", candidate(dead))
    other = candidate("x")
    other["metadata"]["name"] = "other-candidate-x"
    other["metadata"]["labels"] = {LABEL_CANDIDATE_FOR: "other"}
    api.create("leases", other)
    a = _elector(make_client, "a", events)
    b = _elector(make_client, "b", events)
    async with anyio.create_task_group() as tg:
        tg.start_soon(a.run)
        await events.wait(EV.STARTED_LEADING, "a")
        tg.start_soon(b.run)
        await events.wait(EV.CANDIDATE_REMOVED, "a", within=15)
        await eventually(lambda: len(events.of(EV.CANDIDATE_REMOVED)) == 2, 5, "both removed")
        removed = sorted(e.holder for e in events.of(EV.CANDIDATE_REMOVED))
        assert removed == ["dead-1", "dead-2"]
        names = {o["metadata"]["name"] for o in api.list("leases", "default")}
        assert names == {LEASE, "other-candidate-x", candidate_lease_name(LEASE, "a"),
                         candidate_lease_name(LEASE, "b")}
        deletes = [r for r in api.writes.records if r.verb == "delete"]
        assert {r.name for r in deletes} == {candidate_lease_name(LEASE, d)
                                           for d in ("dead-1", "dead-2")}
        assert all(r.user_agent.endswith(" a") for r in deletes)
        assert a.candidates_removed == 2 and b.candidates_removed == 0
        tg.cancel_scope.cancel()


async def test_a_candidate_that_renews_between_the_list_and_the_delete_is_kept(
    fake_apiserver: FakeApiServer, make_client: MakeClient
) -> None:
    """The delete is preconditioned on the resourceVersion the sweep saw."""
    api = fake_apiserver
    lease = api.create("leases", {
        "metadata": {"name": candidate_lease_name(LEASE, "slow"), "namespace": "default",
                     "labels": {LABEL_CANDIDATE_FOR: LEASE}},
        "spec": {"holderIdentity": "slow"},
    })
    client = make_client("janitor")
    lock = LeaseLock(client, LEASE, "default")
    election = Election(lock, "janitor", TIMINGS, LeaseObserver(lock, TIMINGS, lambda n, o: None),
                        None, Wakeup())
    janitor = CandidateJanitor(election, "none", stale_after=0.0)
    api.faults.delay(0.3, verbs="delete")

    async def renew_meanwhile() -> None:
        await anyio.sleep(0.1)
        lease["spec"]["renewTime"] = format_micro_time(datetime.now(UTC))
        api.update("leases", lease)

    async with anyio.create_task_group() as tg:
        tg.start_soon(renew_meanwhile)
        assert await janitor.sweep() == []
    assert api.get("leases", candidate_lease_name(LEASE, "slow"), "default")
    api.faults.clear()
    # Unchanged between this sweep's list and its delete: now it goes.
    assert await janitor.sweep() == [candidate_lease_name(LEASE, "slow")]
    deletes = [r for r in api.writes.records if r.verb == "delete"]
    assert len(deletes) == 1


@pytest.mark.parametrize("verb", ["renewal", "release"])
async def test_a_conflict_whose_re_read_fails_is_a_failed_attempt_not_a_crash(
    fake_apiserver: FakeApiServer, make_client: MakeClient, verb: str
) -> None:
    """A write of the leader conflicts (someone touched the Lease) and the GET that follows
    fails: the elector counts a failed attempt and goes on (it used to raise out of run())."""
    api, events = fake_apiserver, Events()
    el = _elector(make_client, "a", events)
    async with anyio.create_task_group() as tg:
        tg.start_soon(el.run)
        await events.wait(EV.STARTED_LEADING)
        await events.wait(EV.RENEWED)
        lease = _lease(api)
        lease["metadata"].setdefault("annotations", {})["touched"] = "by someone else"
        remove = api.faults.fail(500, verbs=["get"])
        touched_at = anyio.current_time()
        api.update("leases", lease)  # the next write of "a" conflicts
        if verb == "release":
            released = await el.release(None)
            assert released is None
            remove()
        else:
            failed = await events.wait(EV.RENEW_FAILED, after=touched_at, within=3)
            # The GET fails with the 500 (or, if the client's retries of it outlast the
            # attempt, the attempt times out): a failed renewal either way.
            assert "500" in failed.detail or "timed out" in failed.detail, failed.detail
            remove()
            # Once the GET works again, the leader renews (or, if its fence closed
            # meanwhile, takes the lease again) and keeps leading.
            await events.wait(EV.RENEWED, after=anyio.current_time(), within=5)
            assert el.state in (ElectorState.LEADING,)
            tg.cancel_scope.cancel()
    assert el.state is ElectorState.STOPPED


async def test_releasing_a_lease_deleted_meanwhile_reports_it_gone_not_released(
    fake_apiserver: FakeApiServer, make_client: MakeClient
) -> None:
    """The Lease is deleted while the leader's watch cannot tell it (the streams are
    stalled); the release finds it gone: no RELEASED event, the leader it reports is none,
    and the Lease is not written again."""
    api, events = fake_apiserver, Events()
    leaders: list[str] = []
    slow = ElectionTimings(lease_duration=20, renew_deadline=15, retry_period=5)
    el = LeaderElector(make_client("a"), LEASE, identity="a", timings=slow, on_event=events,
                       on_new_leader=leaders.append)
    async with anyio.create_task_group() as tg:
        tg.start_soon(el.run)
        await events.wait(EV.STARTED_LEADING)
        api.faults.stall()
        api.delete("leases", LEASE, "default")
        assert await el.release() is None
        api.faults.unstall()
    assert not events.of(EV.RELEASED) and not events.of(EV.HANDED_OFF)
    assert leaders[-1] == "" and events.of(EV.LEADER_CHANGED)[-1].holder == ""
    assert not api.list("leases", "default", field_selector=f"metadata.name={LEASE}")
