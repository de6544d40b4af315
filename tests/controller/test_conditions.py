"""Status conditions: lastTransitionTime moves only when the status does, and writing the
same condition again changes nothing (so ``mutate_status`` writes nothing)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from kcs.controller import find_condition, set_condition

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"


def test_a_new_condition_gets_every_field_and_the_transition_time() -> None:
    conditions: list[dict[str, Any]] = []
    assert set_condition(conditions, "Ready", False, "Progressing", "1 of 2",
                         observed_generation=3, now=T0)
    assert conditions == [{"type": "Ready", "status": "False", "reason": "Progressing",
                           "message": "1 of 2", "observedGeneration": 3,
                           "lastTransitionTime": T0}]
    assert find_condition(conditions, "Ready") is conditions[0]
    assert find_condition(conditions, "Available") is None and find_condition(None, "x") is None


def test_the_transition_time_moves_only_when_the_status_changes() -> None:
    conditions: list[dict[str, Any]] = []
    set_condition(conditions, "Ready", "False", "Progressing", "1 of 2", now=T0)
    # the same status with another message: updated, the transition time stays
    assert set_condition(conditions, "Ready", "False", "Progressing", "0 of 2", now=T1)
    assert conditions[0]["lastTransitionTime"] == T0 and conditions[0]["message"] == "0 of 2"
    # exactly the same: nothing changed
    assert not set_condition(conditions, "Ready", False, "Progressing", "0 of 2", now=T1)
    # a new status: a transition
    assert set_condition(conditions, "Ready", True, "Available", "2 of 2", now=T1)
    assert conditions[0]["lastTransitionTime"] == T1 and conditions[0]["status"] == "True"
    # other types are left alone
    set_condition(conditions, "Degraded", False, "AsExpected", now=T1)
    assert [c["type"] for c in conditions] == ["Ready", "Degraded"]


def test_observed_generation_is_kept_current_or_dropped() -> None:
    conditions: list[dict[str, Any]] = []
    set_condition(conditions, "Ready", True, "Available", observed_generation=1, now=T0)
    assert set_condition(conditions, "Ready", True, "Available", observed_generation=2, now=T1)
    assert conditions[0]["observedGeneration"] == 2 and conditions[0]["lastTransitionTime"] == T0
    assert set_condition(conditions, "Ready", True, "Available", now=T1)
    assert "observedGeneration" not in conditions[0]


def test_the_default_time_is_rfc3339_utc_in_whole_seconds() -> None:
    conditions: list[dict[str, Any]] = []
    set_condition(conditions, "Ready", "Unknown", "Starting")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", conditions[0]["lastTransitionTime"])


@pytest.mark.parametrize(("args", "message"), [
    (("Ready", "yes", "R"), "True, False or Unknown"),
    (("", True, "R"), "a type and a reason"),
    (("Ready", True, ""), "a type and a reason"),
])
def test_what_the_apiserver_would_refuse_is_refused_here(args: tuple[Any, ...],
                                                         message: str) -> None:
    conditions: list[dict[str, Any]] = []
    with pytest.raises(ValueError, match=message):
        set_condition(conditions, *args)
    assert conditions == []
