"""The controller's cache reader: the informers of its sources, read through
:class:`~kcs.informer.CacheReader` (one routing rule for every cache read in kcs)."""

from __future__ import annotations

from collections.abc import Sequence

from kcs.core import FieldSelectorLike, LabelSelectorLike, Resource
from kcs.informer import CacheReader, Informer

__all__ = ["SourceCache"]


class SourceCache(CacheReader):
    """A :class:`~kcs.informer.CacheReader` over the informers a controller declared.

    It reads exactly as :class:`~kcs.informer.CacheReader` does (zero-copy, indexed,
    routed); a read of a resource the controller did not declare raises the reader's
    ``LookupError`` with a hint at where to declare it.
    """

    __slots__ = ("_controller",)

    def __init__(self, controller: str, informers: Sequence[Informer]) -> None:
        super().__init__(list({id(i): i for i in informers}.values()))
        self._controller = controller

    def informer_for(
        self,
        resource: Resource,
        namespace: str | None = None,
        label_selector: LabelSelectorLike = None,
        field_selector: FieldSelectorLike = None,
    ) -> Informer:
        try:
            return super().informer_for(resource, namespace, label_selector, field_selector)
        except LookupError as exc:
            raise LookupError(
                f"{self._controller}: {exc}; declare it in setup() with builder.owns() "
                "or builder.watches()"
            ) from None
