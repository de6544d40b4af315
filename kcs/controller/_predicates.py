"""Predicates: which watch events are worth waking a reconcile for.

A predicate looks at an event of a source (an object added, updated or deleted in the
cache) and says whether to enqueue its keys. A source with several predicates enqueues
only when all of them agree (use :func:`any_of` for "either"). Predicates filter events,
not state: a reconcile still reads the whole current object, so a filtered event is never
lost work, only a skipped wake-up. They run on the informer's dispatch path and must be
quick and must not raise.
"""

from __future__ import annotations

from collections.abc import Callable

from kcs.core import Object

__all__ = [
    "AnnotationsChanged",
    "GenerationChanged",
    "LabelsChanged",
    "Predicate",
    "ResourceVersionChanged",
    "all_of",
    "any_of",
    "predicate",
]


class Predicate:
    """Base class: every event passes. Override the methods for the events to filter.

    Each method returns ``True`` to enqueue. ``on_add`` also sees the objects of the
    initial list (and of a relist).
    """

    def on_add(self, obj: Object) -> bool:
        """Whether an added object is enqueued."""
        return True

    def on_update(self, old: Object, new: Object) -> bool:
        """Whether an updated object is enqueued."""
        return True

    def on_delete(self, obj: Object) -> bool:
        """Whether a deleted object is enqueued."""
        return True


class GenerationChanged(Predicate):
    """Updates pass only when ``metadata.generation`` changed (a spec change).

    Status-only and metadata-only updates are filtered out. Adds and deletes pass. Kinds
    that do not set ``generation`` (ConfigMap, for one) never pass an update: do not use
    it on them.
    """

    def on_update(self, old: Object, new: Object) -> bool:
        return old.metadata.generation != new.metadata.generation


class LabelsChanged(Predicate):
    """Updates pass only when ``metadata.labels`` changed. Adds and deletes pass."""

    def on_update(self, old: Object, new: Object) -> bool:
        return old.metadata.labels != new.metadata.labels


class AnnotationsChanged(Predicate):
    """Updates pass only when ``metadata.annotations`` changed. Adds and deletes pass."""

    def on_update(self, old: Object, new: Object) -> bool:
        return old.metadata.annotations != new.metadata.annotations


class ResourceVersionChanged(Predicate):
    """Updates pass only when ``metadata.resourceVersion`` changed (drops no-op resyncs)."""

    def on_update(self, old: Object, new: Object) -> bool:
        return old.metadata.resource_version != new.metadata.resource_version


class _FunctionPredicate(Predicate):
    def __init__(
        self,
        add: Callable[[Object], bool] | None,
        update: Callable[[Object, Object], bool] | None,
        delete: Callable[[Object], bool] | None,
    ) -> None:
        self._add, self._update, self._delete = add, update, delete

    def on_add(self, obj: Object) -> bool:
        return self._add(obj) if self._add is not None else True

    def on_update(self, old: Object, new: Object) -> bool:
        return self._update(old, new) if self._update is not None else True

    def on_delete(self, obj: Object) -> bool:
        return self._delete(obj) if self._delete is not None else True


def predicate(
    *,
    add: Callable[[Object], bool] | None = None,
    update: Callable[[Object, Object], bool] | None = None,
    delete: Callable[[Object], bool] | None = None,
) -> Predicate:
    """A custom predicate from functions; an event kind without a function passes.

    ``predicate(update=lambda old, new: old["spec"] != new["spec"])``.
    """
    return _FunctionPredicate(add, update, delete)


class _AllOf(Predicate):
    def __init__(self, predicates: tuple[Predicate, ...]) -> None:
        self._ps = predicates

    def on_add(self, obj: Object) -> bool:
        return all(p.on_add(obj) for p in self._ps)

    def on_update(self, old: Object, new: Object) -> bool:
        return all(p.on_update(old, new) for p in self._ps)

    def on_delete(self, obj: Object) -> bool:
        return all(p.on_delete(obj) for p in self._ps)


class _AnyOf(_AllOf):
    def on_add(self, obj: Object) -> bool:
        return any(p.on_add(obj) for p in self._ps)

    def on_update(self, old: Object, new: Object) -> bool:
        return any(p.on_update(old, new) for p in self._ps)

    def on_delete(self, obj: Object) -> bool:
        return any(p.on_delete(obj) for p in self._ps)


def all_of(*predicates: Predicate) -> Predicate:
    """Passes an event when every one of ``predicates`` does (and when there are none)."""
    return _AllOf(predicates)


def any_of(*predicates: Predicate) -> Predicate:
    """Passes an event when at least one of ``predicates`` does.

    ``any_of(GenerationChanged(), LabelsChanged())``: a spec or a label change.
    """
    return _AnyOf(predicates)
