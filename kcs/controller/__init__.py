"""kcs.controller: what a kcs user writes against.

A :class:`Controller` subclass declares its sources in ``setup(builder)`` (the primary
kind with ``for_``, the kinds it creates with ``owns``, anything else with ``watches``
and a mapping function), filters events with predicates, and implements a level-based
``reconcile(ctx, key) -> Result | None``. A :class:`Runner` runs it (the manager makes
one per controller). The :class:`Context` a reconcile gets reads from the shared informer
caches (``ctx.cache``, a :class:`kcs.core.Reader`) and writes through ``ctx.client``; the
next reconcile of a key waits (bounded) until the caches have seen that key's own writes.
Helpers: finalizers (:func:`apply_finalizer`), status writes that retry conflicts
(:func:`mutate_status`), status conditions (:func:`set_condition`), and an aggregating,
rate-limited :class:`EventRecorder`.
"""

from kcs.controller._conditions import ConditionStatus, find_condition, set_condition
from kcs.controller._context import Context
from kcs.controller._controller import Controller
from kcs.controller._events import EventRecorder, EventStats, EventType
from kcs.controller._finalizers import apply_finalizer, ensure_finalizer, remove_finalizer
from kcs.controller._gate import ReconcileGate
from kcs.controller._metrics import (
    ControllerMetrics,
    ControllerStats,
    NoControllerMetrics,
    Outcome,
)
from kcs.controller._predicates import (
    AnnotationsChanged,
    GenerationChanged,
    LabelsChanged,
    Predicate,
    ResourceVersionChanged,
    all_of,
    any_of,
    predicate,
)
from kcs.controller._result import Result, TerminalError
from kcs.controller._runner import CacheSyncTimeout, Runner
from kcs.controller._sources import Builder, MapFunc, Source, SourceKind, owner_keys
from kcs.controller._status import mutate_status, retry_on_conflict

__all__ = [
    "AnnotationsChanged",
    "Builder",
    "CacheSyncTimeout",
    "ConditionStatus",
    "Context",
    "Controller",
    "ControllerMetrics",
    "ControllerStats",
    "EventRecorder",
    "EventStats",
    "EventType",
    "GenerationChanged",
    "LabelsChanged",
    "MapFunc",
    "NoControllerMetrics",
    "Outcome",
    "Predicate",
    "ReconcileGate",
    "ResourceVersionChanged",
    "Result",
    "Runner",
    "Source",
    "SourceKind",
    "TerminalError",
    "all_of",
    "any_of",
    "apply_finalizer",
    "ensure_finalizer",
    "find_condition",
    "mutate_status",
    "owner_keys",
    "predicate",
    "remove_finalizer",
    "retry_on_conflict",
    "set_condition",
]
