"""The overlap checker the sharding proofs rely on, on write logs written by hand.

A checker that never reports anything would make every chaos run pass; these cases pin
what it must report (a late write of the old shard, a start while another shard's
reconcile is open) and what it must not (a reconcile whose shard could no longer write).
"""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks._shards import Interval, fence_bounds, overlaps, reconcile_intervals

pytestmark = pytest.mark.timeout(10)

RENEW_DEADLINE = 1.2


def mark(t: float, shard: str, phase: str, key: str = "cm-1") -> dict[str, Any]:
    return {"time": t, "verb": "patch", "resource": "configmaps", "namespace": "marks",
            "name": f"{phase[0]}.{key}", "user_agent": f"kcs/0 shard/{shard}/work"}


def renewal(t: float, shard: str, verb: str = "update") -> dict[str, Any]:
    return {"time": t, "verb": verb, "resource": "leases.coordination.k8s.io",
            "namespace": "default", "name": f"test-shard-{shard}",
            "user_agent": f"kcs/0 shard/{shard}/lease"}


def check(writes: list[dict[str, Any]],
          stopped: dict[str, float] | None = None) -> list[tuple[Interval, Interval]]:
    writes = sorted(writes, key=lambda w: float(w["time"]))
    return overlaps(reconcile_intervals(writes, stopped or {}, ring="test",
                                        renew_deadline=RENEW_DEADLINE))


def test_two_closed_reconciles_that_overlap_are_reported() -> None:
    bad = check([mark(1, "a", "start"), mark(2, "b", "start"), mark(3, "b", "end"),
                 mark(4, "a", "end")])
    assert [(x.shard, y.shard) for x, y in bad] == [("a", "b")]


def test_reconciles_one_after_the_other_are_not_reported() -> None:
    assert check([mark(1, "a", "start"), mark(2, "a", "end"), mark(2.5, "b", "start"),
                  mark(3, "b", "end")]) == []


def test_an_open_reconcile_ends_when_its_shards_fence_could_have_closed() -> None:
    # a was paused after its start write; its last renewal committed at 0.5, so it could
    # write nothing after 1.7; b took the key over at 2.
    writes = [renewal(0.5, "a"), mark(1, "a", "start"), mark(2, "b", "start"),
              mark(3, "b", "end")]
    assert check(writes, {"a": 9.0}) == []
    assert fence_bounds(sorted(writes, key=lambda w: float(w["time"])), "test",
                        RENEW_DEADLINE) == {"a": 0.5 + RENEW_DEADLINE}


def test_a_late_write_of_the_old_shard_is_reported() -> None:
    # The same, but a's end write landed at 2.5, inside b's reconcile: a was still writing.
    bad = check([renewal(0.5, "a"), mark(1, "a", "start"), mark(2, "b", "start"),
                 mark(2.5, "a", "end"), mark(3, "b", "end")], {"a": 9.0})
    assert len(bad) == 1


def test_an_open_reconcile_of_a_shard_still_renewing_overlaps_the_next_owner() -> None:
    bad = check([renewal(0.5, "a"), mark(1, "a", "start"), renewal(2.4, "a"),
                 mark(2, "b", "start"), mark(3, "b", "end")])
    assert len(bad) == 1


def test_an_open_reconcile_ends_at_the_kill_of_its_process() -> None:
    writes = [mark(1, "a", "start"), mark(2, "b", "start"), mark(3, "b", "end")]
    assert check(writes, {"a": 1.5}) == []
    assert len(check(writes, {"a": 2.5})) == 1
    assert len(check(writes)) == 1  # never stopped, never renewed: open for ever


def test_a_start_without_its_end_lasts_until_the_shards_next_start() -> None:
    bad = check([mark(1, "a", "start"), mark(2, "b", "start"), mark(3, "b", "end"),
                 mark(4, "a", "start"), mark(5, "a", "end")])
    assert [(x.start, x.end) for x, _ in bad] == [(1, 4)]
