"""The hash ring: deterministic, balanced, and moving only what it must."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kcs.sharding import HashRing

KEYS = [f"ns-{i % 100}/obj-{i}" for i in range(20_000)]


def test_the_owner_depends_only_on_the_members() -> None:
    a = HashRing(["r1", "r2", "r3"])
    b = HashRing(["r3", "r1", "r2"])
    assert all(a.owner(k) == b.owner(k) for k in KEYS[:2000])
    assert HashRing().owner("x") is None
    assert HashRing(["only"]).owner("x") == "only"


def test_another_process_computes_the_same_ring() -> None:
    """No dependence on Python's per-process hash seed."""
    code = (
        "from kcs.sharding import HashRing; r = HashRing(['r1', 'r2', 'r3']); "
        "print(','.join(r.owner(f'ns/o{i}') or '' for i in range(200)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=30, env={"PYTHONHASHSEED": "12345"}).stdout.strip()
    here = HashRing(["r1", "r2", "r3"])
    assert out == ",".join(here.owner(f"ns/o{i}") or "" for i in range(200))


@pytest.mark.parametrize("n", [2, 3, 4, 8])
def test_shares_are_balanced(n: int) -> None:
    ring = HashRing([f"r{i}" for i in range(n)])
    shares = ring.shares(KEYS)
    assert set(shares) == ring.members
    assert max(shares.values()) - min(shares.values()) < 0.45 / n, shares


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])
def test_a_join_moves_about_one_nth_only_to_the_new_member(n: int) -> None:
    before = HashRing([f"r{i}" for i in range(n)])
    after = HashRing([*before.members, "new"])
    moved = before.moved(after, KEYS)
    assert moved <= 1 / (n + 1) + 0.10
    assert moved >= 1 / (n + 1) - 0.10
    assert all(after.owner(k) == "new" for k in KEYS if before.owner(k) != after.owner(k))


def test_a_leave_moves_only_the_leavers_keys() -> None:
    before = HashRing(["a", "b", "c", "d"])
    after = HashRing(["a", "b", "c"])
    changed = [k for k in KEYS if before.owner(k) != after.owner(k)]
    assert all(before.owner(k) == "d" for k in changed)
    assert len(changed) == sum(1 for k in KEYS if before.owner(k) == "d")


def test_bad_rings_are_refused() -> None:
    with pytest.raises(ValueError):
        HashRing(["a"], vnodes=0)
    with pytest.raises(ValueError):
        HashRing([""])
