"""The cache as a :class:`~kcs.core.Reader`: reads of any resource an informer serves.

Routing (which informer answers a read of ``resource`` in ``namespace`` with selectors):

1. the informers of ``resource``; none: :class:`LookupError` naming the resource and the
   informers there are;
2. of those, the ones whose namespace covers the request: an informer of all namespaces
   covers every namespace; one of namespace ``n`` covers ``n``; a request for all
   namespaces (``list`` with ``namespace=None``) is covered only by an informer of all
   namespaces — or, when every informer of the resource watches the same one namespace,
   by those (it is all the reader can see). Cluster-scoped resources ignore the namespace.
   None: :class:`LookupError` naming the informers of the resource;
3. of those, the first without selectors (it holds every object of its namespace); else
   the first whose selectors are all among the request's own (it holds every object the
   request can match, so the answer is exact); else the only one left — whose answers are
   limited to its selectors, as the cache holds nothing else; else :class:`LookupError`
   (several informers with other selectors: the reader cannot choose).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Unpack

from kcs.core import (
    FieldSelector,
    FieldSelectorLike,
    LabelSelector,
    LabelSelectorLike,
    Object,
    ObjectList,
    Resource,
    Selectors,
)
from kcs.informer._factory import InformerFactory
from kcs.informer._informer import Informer

__all__ = ["CacheReader"]


class CacheReader:
    """A :class:`~kcs.core.Reader` answering from informer caches, with the same call
    shape and return types as :class:`~kcs.client.Client`.

    ``source`` is one informer, several, or an :class:`~kcs.informer.InformerFactory`
    (whose informers, including later ones, it reads). Guarantees:

    * **Zero-copy.** The objects are the cached instances themselves: never mutate them
      (the mutation detector catches it in tests). ``list`` returns a new
      :class:`~kcs.core.ObjectList` of them whose ``resource_version`` is the cache's.
    * **Indexed.** Selectors are answered from the informer's indexes where it can
      (exactly what a scan would find).
    * **Synced.** A read from an informer that has not synced yet waits for its first
      sync (as controller-runtime's cache does; ``wait_synced`` logs why every 30 s);
      afterwards reads never wait and never do I/O.
    * **Routed.** Each read is answered by one informer, chosen as the module
      documentation states; a resource no informer serves raises :class:`LookupError`.

    ``get(resource, name)`` of a namespaced resource without a namespace reads in
    ``namespace`` (default: the factory's ``default_namespace``), else in the one
    namespace the reader's informers of that resource watch; without either it raises
    ``ValueError`` (see :meth:`namespace_for`).
    """

    __slots__ = ("_factory", "_fixed", "namespace")

    def __init__(
        self,
        source: Informer | InformerFactory | Iterable[Informer],
        *,
        namespace: str | None = None,
    ) -> None:
        self._factory: InformerFactory | None = None
        self._fixed: tuple[Informer, ...] = ()
        if isinstance(source, InformerFactory):
            self._factory = source
            if namespace is None:
                namespace = source.default_namespace
        elif isinstance(source, Informer):
            self._fixed = (source,)
        else:
            self._fixed = tuple(source)
        self.namespace = namespace or None
        """The namespace of a ``get`` that names none (``None``: the informer's own)."""

    @property
    def informers(self) -> list[Informer]:
        """The informers this reader reads from."""
        if self._factory is not None:
            return self._factory.informers
        return list(self._fixed)

    def informer_for(
        self,
        resource: Resource,
        namespace: str | None = None,
        label_selector: LabelSelectorLike = None,
        field_selector: FieldSelectorLike = None,
    ) -> Informer:
        """The informer that answers a read of ``resource`` (see the module docs).

        Raises :class:`LookupError` naming the resource and the informers there are when
        none can answer.
        """
        informers = self.informers
        of_resource = [i for i in informers if i.resource == resource]
        if not of_resource:
            there = ", ".join(i.scope for i in informers) or "none"
            raise self._lookup_error(
                f"no informer serves {resource} ({resource.api_version}); the informers of "
                f"this reader: {there}"
            )
        covering = of_resource
        if resource.namespaced:
            if namespace:
                covering = [i for i in of_resource if i.namespace in (None, namespace)]
            else:
                covering = [i for i in of_resource if i.namespace is None]
                if not covering and len({i.namespace for i in of_resource}) == 1:
                    covering = of_resource
        if not covering:
            where = f"namespace {namespace}" if namespace else "all namespaces"
            raise self._lookup_error(
                f"no informer of {resource} covers {where}; the informers of {resource}: "
                f"{', '.join(i.scope for i in of_resource)}"
            )
        for informer in covering:
            if informer.label_selector.empty and informer.field_selector.empty:
                return informer
        labels = set(LabelSelector.of(label_selector).requirements)
        fields = set(FieldSelector.of(field_selector).requirements)
        for informer in covering:
            if set(informer.label_selector.requirements) <= labels and set(
                informer.field_selector.requirements
            ) <= fields:
                return informer
        if len(covering) == 1:
            return covering[0]
        raise self._lookup_error(
            f"several informers of {resource} could answer and none holds every object the "
            f"read can match ({', '.join(i.scope for i in covering)}); read from one "
            "informer (CacheReader(informer)) or add its selectors to the read"
        )

    def _lookup_error(self, message: str) -> LookupError:
        """The error of a read no informer of this reader can answer (a subclass may add
        where to declare one)."""
        return LookupError(message)

    def namespace_for(self, resource: Resource, namespace: str | None = None) -> str | None:
        """The namespace a ``get`` of ``resource`` reads in: ``namespace``, else the
        reader's :attr:`namespace`, else the one namespace its informers of ``resource``
        watch; ``None`` for a cluster-scoped resource. Raises ``ValueError`` when a
        namespaced resource is left without one."""
        if not resource.namespaced:
            return None
        ns = namespace or self.namespace
        if ns:
            return ns
        watched = {i.namespace for i in self.informers if i.resource == resource}
        if len(watched) == 1 and None not in watched:
            return watched.pop()
        if not watched:
            self.informer_for(resource)  # raises the LookupError naming what there is
        raise ValueError(
            f"{resource} is namespaced: give a namespace (the reader has no default "
            "namespace)"
        )

    async def get(
        self, resource: Resource, name: str, namespace: str | None = None
    ) -> Object | None:
        """The cached object ``name`` (in ``namespace``), or ``None``."""
        ns = self.namespace_for(resource, namespace)
        informer = self.informer_for(resource, ns)
        if not informer.has_synced:
            await informer.wait_synced()
        return informer.lister.get(name, ns)

    async def list(
        self, resource: Resource, namespace: str | None = None, **selectors: Unpack[Selectors]
    ) -> ObjectList:
        """The cached objects of ``resource`` in ``namespace`` (``None``: every namespace
        the reader can see) that match, answered from the indexes."""
        label_selector = selectors.get("label_selector")
        field_selector = selectors.get("field_selector")
        ns = namespace if resource.namespaced else None
        informer = self.informer_for(resource, ns, label_selector, field_selector)
        if not informer.has_synced:
            await informer.wait_synced()
        found = informer.lister.list(ns, label_selector, field_selector)
        return ObjectList(found, resource_version=informer.resource_version)

    def __repr__(self) -> str:
        return f"CacheReader({', '.join(i.scope for i in self.informers)})"

