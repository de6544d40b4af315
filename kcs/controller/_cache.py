"""The controller's cache reader: the informers of its sources, read through
:class:`~kcs.informer.CacheReader` (one routing rule for every cache read in kcs)."""

from __future__ import annotations

from collections.abc import Sequence

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

    def _lookup_error(self, message: str) -> LookupError:
        return LookupError(
            f"{self._controller}: {message}; declare it in setup() with builder.owns() "
            "or builder.watches()"
        )
