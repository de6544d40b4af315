"""The controller's cache reader: the Reader over the informers of its sources."""

from __future__ import annotations

from collections.abc import Sequence

from kcs.core import FieldSelectorLike, LabelSelectorLike, Object, ObjectList, Resource
from kcs.informer import Informer

__all__ = ["SourceCache"]


class SourceCache:
    """A :class:`~kcs.core.Reader` over the informers a controller declared.

    A read of ``resource`` is answered by the first declared informer of that resource
    whose namespace covers the request; ``LookupError`` (naming what is declared) when
    none does. The objects are the cached instances themselves.
    """

    __slots__ = ("_by_resource", "_controller")

    def __init__(self, controller: str, informers: Sequence[Informer]) -> None:
        self._controller = controller
        self._by_resource: dict[Resource, list[Informer]] = {}
        for informer in informers:
            found = self._by_resource.setdefault(informer.resource, [])
            if all(i is not informer for i in found):
                found.append(informer)

    def _informer(self, resource: Resource, namespace: str | None) -> Informer:
        for informer in self._by_resource.get(resource, ()):
            if informer.namespace is None or not resource.namespaced or (
                namespace is not None and namespace == informer.namespace
            ):
                return informer
        declared = ", ".join(sorted(str(r) for r in self._by_resource)) or "nothing"
        where = f" in namespace {namespace!r}" if namespace and resource.namespaced else ""
        raise LookupError(
            f"{self._controller} has no informer for {resource}{where} (it declares "
            f"{declared}); add it in setup() with builder.owns() or builder.watches()"
        )

    async def get(
        self, resource: Resource, name: str, namespace: str | None = None
    ) -> Object | None:
        """The cached object, or ``None``."""
        informer = self._informer(resource, namespace)
        ns = namespace or informer.namespace if resource.namespaced else None
        if resource.namespaced and not ns:
            raise ValueError(f"{resource} is namespaced: give a namespace")
        return informer.lister.get(name, ns)

    async def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: LabelSelectorLike = None,
        field_selector: FieldSelectorLike = None,
    ) -> ObjectList:
        """The cached objects that match (answered from the indexes where possible)."""
        informer = self._informer(resource, namespace)
        found = informer.lister.list(namespace, label_selector, field_selector)
        return ObjectList(found, resource_version=informer.resource_version)
