"""Sources: which objects a controller watches, and which keys their changes wake.

A controller declares its sources in ``setup(builder)``:

* ``builder.for_(resource)``: the primary kind; a change of an object enqueues its own key;
* ``builder.owns(resource)``: kinds the controller creates; a change of an object enqueues
  the key of its controller owner (the ``ownerReferences`` entry with
  ``controller: true``) when that owner is of the primary kind;
* ``builder.watches(resource, map_fn)``: any kind; a change enqueues the keys ``map_fn``
  returns for the object (for the old and the new state of an update).

Each source gets a shared informer from the :class:`~kcs.informer.InformerFactory`
(asking twice for the same resource and selectors gives the same informer, so several
controllers share one watch and one cache), and optional predicates that filter events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from kcs.controller._predicates import Predicate, all_of
from kcs.core import FieldSelector, LabelSelector, Object, ObjectKey, Resource, split_api_version
from kcs.informer import Informer, InformerFactory, InformerOptions

__all__ = ["Builder", "MapFunc", "Source", "SourceKind"]

MapFunc = Callable[[Object], Iterable[ObjectKey]]
"""Maps a watched object to the keys of the primary objects to reconcile."""

SourceKind = Literal["for", "owns", "watches"]

LabelSelectorLike = LabelSelector | str | Mapping[str, str] | None
FieldSelectorLike = FieldSelector | str | Mapping[str, str] | None


@dataclass(frozen=True, slots=True)
class Source:
    """One declared source: its informer, how its objects map to keys, its filter."""

    kind: SourceKind
    informer: Informer
    keys: MapFunc
    predicate: Predicate

    @property
    def resource(self) -> Resource:
        """The resource the source watches."""
        return self.informer.resource


def own_key(obj: Object) -> Iterable[ObjectKey]:
    """The key of ``obj`` itself (the mapping of the primary source)."""
    return (ObjectKey(obj.metadata.namespace, obj.metadata.name),)


def owner_keys(primary: Resource) -> MapFunc:
    """A mapping to the key of an object's controller owner, if it is of ``primary``'s kind.

    The owner is looked for in the object's namespace (owner references never cross
    namespaces), or at cluster scope when the primary resource is cluster-scoped.
    """

    def keys(obj: Object) -> Iterable[ObjectKey]:
        ref = obj.metadata.controller_reference()
        if ref is None or ref.kind != primary.kind:
            return ()
        if split_api_version(ref.api_version)[0] != primary.group:
            return ()
        namespace = obj.metadata.namespace if primary.namespaced else ""
        return (ObjectKey(namespace, ref.name),)

    return keys


class Builder:
    """Collects a controller's sources; passed to ``Controller.setup``.

    Each method returns the source's :class:`~kcs.informer.Informer`, so ``setup`` can
    keep it to read from (``informer.lister``). Exactly one :meth:`for_` is required.

    ``scope`` (default: none) is a label selector added to the selector of every
    :meth:`for_` and :meth:`owns` source, so that their informers (and caches) hold only
    the matching objects; a sharded replica uses it to cache only its own shard.
    :meth:`watches` sources are never narrowed.
    """

    def __init__(self, informers: InformerFactory, *, scope: LabelSelector | None = None) -> None:
        self.informers = informers
        self.sources: list[Source] = []
        self.scope = scope if scope is not None else LabelSelector()
        """The selector added to the ``for_`` and ``owns`` sources (empty: none)."""
        self._primary: Resource | None = None

    @property
    def primary(self) -> Resource | None:
        """The primary resource, once :meth:`for_` was called."""
        return self._primary

    def _informer(
        self,
        resource: Resource,
        namespace: str | None,
        label_selector: LabelSelectorLike,
        field_selector: FieldSelectorLike,
        options: InformerOptions | None,
        *,
        scoped: bool = False,
    ) -> Informer:
        labels = LabelSelector.of(label_selector)
        if scoped and not self.scope.empty:
            labels = LabelSelector((*labels.requirements, *self.scope.requirements))
        return self.informers.informer(
            resource,
            namespace=namespace,
            label_selector=labels,
            field_selector=FieldSelector.of(field_selector),
            options=options,
        )

    def _add(
        self, kind: SourceKind, informer: Informer, keys: MapFunc, predicates: Iterable[Predicate]
    ) -> Informer:
        preds = tuple(predicates)
        predicate = preds[0] if len(preds) == 1 else all_of(*preds)
        self.sources.append(Source(kind, informer, keys, predicate))
        return informer

    def for_(
        self,
        resource: Resource,
        *,
        predicates: Iterable[Predicate] = (),
        namespace: str | None = None,
        label_selector: LabelSelectorLike = None,
        field_selector: FieldSelectorLike = None,
        options: InformerOptions | None = None,
    ) -> Informer:
        """Declare the primary resource: its objects' keys are what ``reconcile`` gets.

        ``predicates`` must all pass for an event to enqueue (none: every event does).
        ``namespace`` and the selectors narrow the informer (and the cache) to what the
        controller is responsible for; ``options`` are the informer's
        (:class:`~kcs.informer.InformerOptions`, e.g. ``InformerOptions(store=
        StoreOptions(metadata_only=True))`` for owned kinds whose bodies the controller
        never reads; ``None``: the factory's). Requests with equal arguments
        share one informer.
        """
        if self._primary is not None:
            raise ValueError(f"for_() was already called with {self._primary}")
        self._primary = resource
        informer = self._informer(resource, namespace, label_selector, field_selector, options,
                                  scoped=True)
        return self._add("for", informer, own_key, predicates)

    def owns(
        self,
        resource: Resource,
        *,
        predicates: Iterable[Predicate] = (),
        namespace: str | None = None,
        label_selector: LabelSelectorLike = None,
        field_selector: FieldSelectorLike = None,
        options: InformerOptions | None = None,
    ) -> Informer:
        """Declare a kind the controller creates and owns (call after :meth:`for_`).

        A change of an object enqueues its controller owner's key, when the owner is of
        the primary kind; objects without such an owner are ignored.
        """
        if self._primary is None:
            raise ValueError("call for_() before owns()")
        informer = self._informer(resource, namespace, label_selector, field_selector, options,
                                  scoped=True)
        return self._add("owns", informer, owner_keys(self._primary), predicates)

    def watches(
        self,
        resource: Resource,
        map_fn: MapFunc,
        *,
        predicates: Iterable[Predicate] = (),
        namespace: str | None = None,
        label_selector: LabelSelectorLike = None,
        field_selector: FieldSelectorLike = None,
        options: InformerOptions | None = None,
    ) -> Informer:
        """Declare any other kind: a change of an object enqueues ``map_fn(object)``.

        ``map_fn`` runs on the informer's dispatch path: keep it quick (read listers,
        not the apiserver). On an update it is called for the old and the new state and
        the union of the keys is enqueued.
        """
        informer = self._informer(resource, namespace, label_selector, field_selector, options)
        return self._add("watches", informer, map_fn, predicates)
