"""Status conditions: the ``status.conditions`` list of ``metav1.Condition``s.

A condition says one thing about an object (``type``: ``Ready``, ``Available``) as
``"True"``, ``"False"`` or ``"Unknown"``, with a machine-readable ``reason``
(CamelCase), a human-readable ``message``, the ``observedGeneration`` it was computed
from, and ``lastTransitionTime``: when ``status`` last changed, not when the condition
was last written. Getting that last rule right is what these helpers are for (they
follow apimachinery's ``meta.SetStatusCondition``), so that a reconcile that writes the
same conditions again changes nothing and writes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["ConditionStatus", "find_condition", "set_condition"]

ConditionStatus = Literal["True", "False", "Unknown"]
"""The three values of a condition's ``status``."""

_STATUSES = ("True", "False", "Unknown")


def _now() -> str:
    # metav1.Time: RFC 3339, UTC, whole seconds.
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def find_condition(conditions: list[dict[str, Any]] | None, type: str) -> dict[str, Any] | None:
    """The condition of ``type`` in ``conditions`` (``None`` if there is none)."""
    for condition in conditions or ():
        if condition.get("type") == type:
            return condition
    return None


def set_condition(
    conditions: list[dict[str, Any]],
    type: str,
    status: ConditionStatus | bool,
    reason: str,
    message: str = "",
    *,
    observed_generation: int | None = None,
    now: str | None = None,
) -> bool:
    """Set the condition ``type`` in ``conditions``, a list edited in place.

    ``status`` is ``"True"``, ``"False"``, ``"Unknown"`` or a bool. A new condition, or
    one whose status changes, gets ``lastTransitionTime = now`` (default: the current
    time, UTC, in whole seconds); otherwise the condition keeps its transition time and
    only ``reason``, ``message`` and ``observedGeneration`` are updated. Returns whether
    anything changed, so ``mutate_status`` writes nothing when nothing did. Raises
    ``ValueError`` for an empty ``type`` or ``reason`` or an unknown status (the
    apiserver would refuse them).
    """
    if isinstance(status, bool):
        status = "True" if status else "False"
    if status not in _STATUSES:
        raise ValueError(f"a condition's status is True, False or Unknown, not {status!r}")
    if not type or not reason:
        raise ValueError("a condition needs a type and a reason")
    wanted: dict[str, Any] = {"type": type, "status": status, "reason": reason,
                              "message": message}
    if observed_generation is not None:
        wanted["observedGeneration"] = observed_generation
    current = find_condition(conditions, type)
    if current is None:
        conditions.append({**wanted, "lastTransitionTime": now or _now()})
        return True
    changed = False
    if current.get("status") != status or "lastTransitionTime" not in current:
        current["lastTransitionTime"] = now or _now()
        changed = True
    for field, value in wanted.items():
        if current.get(field) != value:
            current[field] = value
            changed = True
    if observed_generation is None and "observedGeneration" in current:
        del current["observedGeneration"]
        changed = True
    return changed
