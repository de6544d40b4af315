"""Pure parts of kcs.leaderelection: timings, the record, the spec written, names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from le_harness import LEASE, LEASES, check_never_two_leaders

from kcs.core import Object, object_from_dict
from kcs.leaderelection import (
    ANNOTATION_LEASE_DURATION,
    ANNOTATION_PREFERRED_HOLDER,
    Candidate,
    ElectionTimings,
    LeaderElectionRecord,
    candidate_lease_name,
    choose_successor,
    format_micro_time,
    next_spec,
    parse_micro_time,
)
from kcs.testing import WriteRecord

pytestmark = pytest.mark.timeout(10)

NOW = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


# -- timings ---------------------------------------------------------------------------------


def test_default_timings_are_client_go_s_and_satisfy_the_fencing_inequality() -> None:
    t = ElectionTimings()
    assert (t.lease_duration, t.renew_deadline, t.retry_period) == (15.0, 10.0, 2.0)
    rho = t.max_clock_drift
    assert t.renew_deadline * (1 + rho) < t.lease_duration * (1 - rho)
    assert t.fence_margin == pytest.approx(15 / (1 + rho) - 10 / (1 - rho))
    assert t.lease_duration_seconds == 15


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lease_duration": 10, "renew_deadline": 10}, "greater than renew_deadline"),
        ({"renew_deadline": 4, "retry_period": 2}, "retry_period"),
        ({"lease_duration": 0}, "positive"),
        ({"retry_period": float("nan")}, "positive"),
        # 10 * 1.2 = 12 is not below 15 * 0.8 = 12: a leader could outlive its lease.
        ({"max_clock_drift": 0.2}, "could"),
        ({"max_clock_drift": 0.5}, "max_clock_drift"),
    ],
)
def test_timings_that_would_be_unsafe_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError) as info:
        ElectionTimings(**kwargs)
    assert message in str(info.value)


def test_test_timings_are_valid_and_round_the_duration_up() -> None:
    t = ElectionTimings(lease_duration=1.5, renew_deadline=1.0, retry_period=0.2)
    assert t.lease_duration_seconds == 2
    assert t.fence_margin > 0.4
    assert t.candidate_renew_period == 0.5  # a third of the lease
    assert t.candidate_ttl == 2.0  # two periods + 1 s of clock-offset slack
    waits = [t.retry_wait() for _ in range(200)]
    assert all(0.2 <= w <= 0.2 * (1 + t.jitter) for w in waits)
    assert max(waits) - min(waits) > 0.05  # jittered, not constant


# -- MicroTime -------------------------------------------------------------------------------


def test_micro_time_round_trips_with_microseconds_in_utc() -> None:
    text = format_micro_time(NOW)
    assert text == "2025-03-01T12:00:00.123456Z"
    assert parse_micro_time(text) == NOW
    plus2 = datetime(2025, 3, 1, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert format_micro_time(plus2) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-01T12:00:00Z", datetime(2025, 3, 1, 12, tzinfo=UTC)),
        ("2025-03-01T13:00:00.5+01:00", datetime(2025, 3, 1, 12, 0, 0, 500000, tzinfo=UTC)),
        ("2025-03-01T12:00:00.123456789Z", datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)),
        ("yesterday", None),
        ("2025-13-01T12:00:00Z", None),
        (1740830400, None),
        (None, None),
    ],
)
def test_parse_micro_time_accepts_rfc3339_and_nothing_else(text: object, expected: object) -> None:
    assert parse_micro_time(text) == expected


# -- the record ------------------------------------------------------------------------------


def _lease(spec: object, annotations: dict[str, str] | None = None) -> Object:
    meta: dict[str, object] = {"name": "x", "namespace": "default", "resourceVersion": "7"}
    if annotations:
        meta["annotations"] = annotations
    return object_from_dict({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                             "metadata": meta, "spec": spec})


def test_record_of_a_well_formed_lease() -> None:
    rec = LeaderElectionRecord.from_lease(_lease({
        "holderIdentity": "a", "leaseDurationSeconds": 2, "acquireTime": format_micro_time(NOW),
        "renewTime": format_micro_time(NOW), "leaseTransitions": 4,
    }, {ANNOTATION_LEASE_DURATION: "1.5"}))
    assert rec.held and rec.holder_identity == "a"
    assert rec.lease_duration == 1.5  # the exact annotation, within the whole seconds
    assert rec.renew_time == NOW and rec.lease_transitions == 4
    assert rec.problems == ()


def test_record_without_holder_is_free_and_spec_preferred_holder_is_read() -> None:
    rec = LeaderElectionRecord.from_lease(_lease({"preferredHolder": "b"}))
    assert not rec.held and rec.preferred_holder == "b" and rec.problems == ()
    rec = LeaderElectionRecord.from_lease(_lease(None, {ANNOTATION_PREFERRED_HOLDER: "c"}))
    assert not rec.held and rec.preferred_holder == "c"


def test_an_annotation_cannot_claim_more_than_the_spec_duration() -> None:
    rec = LeaderElectionRecord.from_lease(
        _lease({"holderIdentity": "a", "leaseDurationSeconds": 2}, {ANNOTATION_LEASE_DURATION: "9"})
    )
    assert rec.lease_duration == 2


def test_nonsense_fields_are_reported_and_read_safely() -> None:
    rec = LeaderElectionRecord.from_lease(_lease({
        "holderIdentity": {"not": "a string"},
        "leaseDurationSeconds": "forever",
        "renewTime": "yesterday",
        "acquireTime": 12,
        "leaseTransitions": -3,
    }))
    # A nonsense holder still holds: nobody may take the lease before it expires.
    assert rec.held and rec.holder_identity.startswith("<invalid holderIdentity")
    assert rec.lease_duration is None and rec.renew_time is None and rec.acquire_time is None
    assert rec.lease_transitions == 0
    assert len(rec.problems) == 5


def test_a_spec_that_is_not_an_object_counts_as_held() -> None:
    rec = LeaderElectionRecord.from_lease(_lease(["nonsense"]))
    assert rec.held and rec.problems


def test_the_key_changes_with_every_renewal_and_only_then() -> None:
    spec = {"holderIdentity": "a", "renewTime": format_micro_time(NOW)}
    a = LeaderElectionRecord.from_lease(_lease(spec))
    b = LeaderElectionRecord.from_lease(object_from_dict(
        {**_lease(dict(spec)).to_dict(), "metadata": {"labels": {"x": "y"}}}))
    c = LeaderElectionRecord.from_lease(_lease({**spec, "renewTime": format_micro_time(
        NOW + timedelta(microseconds=1))}))
    assert a.key == b.key
    assert a.key != c.key


# -- the spec written ------------------------------------------------------------------------


def test_next_spec_for_create_renew_takeover_and_release() -> None:
    created = next_spec(None, "a", lease_duration_seconds=2, now=NOW)
    assert created == {
        "holderIdentity": "a", "leaseDurationSeconds": 2, "renewTime": format_micro_time(NOW),
        "acquireTime": format_micro_time(NOW), "leaseTransitions": 0,
    }
    later = NOW + timedelta(seconds=1)
    renewed = next_spec(_lease({**created, "strategy": "x"}), "a", lease_duration_seconds=2,
                        now=later)
    assert renewed["acquireTime"] == created["acquireTime"]
    assert renewed["renewTime"] == format_micro_time(later)
    assert renewed["leaseTransitions"] == 0 and renewed["strategy"] == "x"
    later2 = later + timedelta(seconds=1)
    taken = next_spec(_lease(renewed), "b", lease_duration_seconds=2, now=later2)
    assert taken["acquireTime"] == format_micro_time(later2) and taken["leaseTransitions"] == 1
    released = next_spec(_lease(taken), "", lease_duration_seconds=1, now=later2 + timedelta(seconds=1))
    assert released["holderIdentity"] == "" and released["leaseTransitions"] == 1


def test_next_spec_always_changes_the_renew_time() -> None:
    first = next_spec(None, "a", lease_duration_seconds=2, now=NOW)
    again = next_spec(_lease(first), "a", lease_duration_seconds=2, now=NOW)
    assert again["renewTime"] != first["renewTime"]


def test_next_spec_repairs_a_nonsense_lease() -> None:
    spec = next_spec(_lease({"holderIdentity": 5, "leaseTransitions": "many"}), "a",
                     lease_duration_seconds=2, now=NOW)
    assert spec["holderIdentity"] == "a" and spec["leaseTransitions"] == 1
    assert parse_micro_time(spec["acquireTime"]) == NOW


# -- names and candidates --------------------------------------------------------------------


def test_candidate_lease_names_are_valid_and_distinct() -> None:
    assert candidate_lease_name("ctl", "pod-1") == "ctl-candidate-pod-1"
    odd = candidate_lease_name("ctl", "Host_1:abc")
    assert odd.startswith("ctl-candidate-host-1-abc-")
    assert odd != candidate_lease_name("ctl", "host-1-abc")
    long = candidate_lease_name("c" * 200, "x" * 200)
    assert len(long) <= 253 and long[-1].isalnum()


def test_choose_successor_takes_the_freshest_synced_candidate() -> None:
    def cand(identity: str, synced: bool, age: float | None) -> Candidate:
        when = None if age is None else NOW - timedelta(seconds=age)
        return Candidate(identity, synced, when, f"l-{identity}")

    candidates = [
        cand("me", True, 0), cand("old", True, 100), cand("unsynced", False, 0),
        cand("never", True, None), cand("a", True, 5), cand("b", True, 2),
    ]
    best = choose_successor(candidates, "me", NOW, ttl=30)
    assert best is not None and best.identity == "b"
    assert choose_successor(candidates[:4], "me", NOW, ttl=30) is None


# -- the harness's invariant checker can fail ------------------------------------------------


def _write(i: int, who: str, client: str) -> WriteRecord:
    lease = client == "election"
    return WriteRecord(
        time=float(i), verb="update", resource=LEASES if lease else "configmaps",
        namespace="default", name=LEASE if lease else "work", resource_version=str(i),
        user_agent=f"kcs/0 (Python) replica/{who}/{client}", token=None,
    )


def test_the_never_two_leaders_check_accepts_a_clean_hand_over() -> None:
    log = [_write(1, "a", "election"), _write(2, "a", "work"), _write(3, "a", "election"),
           _write(4, "b", "election"), _write(5, "b", "work")]
    terms = check_never_two_leaders(log)
    assert [(t.identity, t.writes) for t in terms] == [("a", 1), ("b", 1)]


def test_the_never_two_leaders_check_catches_a_deposed_leader_at_work() -> None:
    log = [_write(1, "a", "election"), _write(2, "a", "work"), _write(3, "b", "election"),
           _write(4, "a", "work"), _write(5, "b", "work")]
    with pytest.raises(AssertionError, match=r"a wrote configmaps/work 1000\.0 ms after b took"):
        check_never_two_leaders(log)
