"""core/v1 and events.k8s.io/v1 Events: one store, two shapes.

kube-apiserver stores Events once and serves them in both groups, converting between the
shapes (``pkg/apis/events/v1`` conversion): ``involvedObject`` is ``regarding``,
``message`` is ``note``, ``source`` is ``deprecatedSource``, ``firstTimestamp`` /
``lastTimestamp`` / ``count`` are ``deprecatedFirstTimestamp`` /
``deprecatedLastTimestamp`` / ``deprecatedCount``, and ``reportingComponent`` is
``reportingController``; every other field (``reason``, ``type``, ``eventTime``,
``series``, ``action``, ``related``, ``reportingInstance``) has the same name. The field
selectors of events.k8s.io (``regarding.name``, ``reportingController``, ...) select the
same stored fields.

Importing this module registers both conversions.
"""

from __future__ import annotations

from typing import Any

from kcs.testing._store import register_conversion

__all__ = ["CORE", "EVENTS", "core_to_events", "events_to_core"]

CORE = "v1"
EVENTS = "events.k8s.io/v1"

_CORE_TO_EVENTS = {
    "involvedObject": "regarding",
    "message": "note",
    "source": "deprecatedSource",
    "firstTimestamp": "deprecatedFirstTimestamp",
    "lastTimestamp": "deprecatedLastTimestamp",
    "count": "deprecatedCount",
    "reportingComponent": "reportingController",
}
_EVENTS_TO_CORE = {v: k for k, v in _CORE_TO_EVENTS.items()}


def _rename(obj: dict[str, Any], names: dict[str, str], api_version: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in obj.items():
        out[names.get(k, k)] = v
    out["apiVersion"] = api_version
    return out


def core_to_events(obj: dict[str, Any]) -> dict[str, Any]:
    """A core/v1 Event as events.k8s.io/v1."""
    return _rename(obj, _CORE_TO_EVENTS, EVENTS)


def events_to_core(obj: dict[str, Any]) -> dict[str, Any]:
    """An events.k8s.io/v1 Event as core/v1."""
    return _rename(obj, _EVENTS_TO_CORE, CORE)


register_conversion("Event", CORE, EVENTS, core_to_events)
register_conversion("Event", EVENTS, CORE, events_to_core)
