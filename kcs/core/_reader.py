"""The one read interface: how any reader of Kubernetes objects is called.

The informer caches, the live :class:`~kcs.client.Client` and the consistent reader all
implement :class:`Reader` with one call shape and one return type, so a reconciler does
not care which one it holds (controller-runtime's ``client.Reader``):

.. code-block:: python

    async def replicas(reader: Reader, key: ObjectKey) -> int:
        deployment = await reader.get(DEPLOYMENTS, key.name, key.namespace)
        return 0 if deployment is None else deployment["spec"]["replicas"]

What each implementation promises beyond the protocol (freshness, cost, whether the
objects are shared) is stated where it is implemented.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypedDict, Unpack, runtime_checkable

from kcs.core._codec import Object
from kcs.core._resources import Resource
from kcs.core._selectors import FieldSelectorLike, LabelSelectorLike

__all__ = ["ObjectList", "Reader", "Selectors"]


class ObjectList(list[Object]):
    """The answer of :meth:`Reader.list`: the objects, plus the list's metadata.

    A plain ``list`` of :class:`~kcs.core.Object` (index it, iterate it, ``len()`` it),
    with the resourceVersion the answer is consistent with and, for a live list cut
    short by ``limit``, the token of the next page.
    """

    __slots__ = ("continue_", "resource_version")

    def __init__(
        self, items: Iterable[Object] = (), *, resource_version: str = "", continue_: str = ""
    ) -> None:
        super().__init__(items)
        self.resource_version = resource_version
        """The resourceVersion the list is consistent with (``""`` when unknown)."""
        self.continue_ = continue_
        """The continue token of the next page (``""``: this was the last page)."""

    def __repr__(self) -> str:
        more = f", continue_={self.continue_!r}" if self.continue_ else ""
        return f"ObjectList({len(self)} objects, resource_version={self.resource_version!r}{more})"


class Selectors(TypedDict, total=False):
    """The selectors every :meth:`Reader.list` takes (``Client.list`` takes more)."""

    label_selector: LabelSelectorLike
    """A :class:`~kcs.core.LabelSelector`, its string form or a ``{key: value}`` mapping."""
    field_selector: FieldSelectorLike
    """A :class:`~kcs.core.FieldSelector`, its string form or a ``{path: value}`` mapping."""


@runtime_checkable
class Reader(Protocol):
    """Reads objects of any resource the implementation can serve.

    * :meth:`get` returns the object, or ``None`` when there is no such object (never
      raises :class:`~kcs.core.NotFound` for that);
    * :meth:`list` returns every matching object as an :class:`ObjectList`;
    * ``namespace=None`` on a namespaced resource means, for :meth:`list`, every
      namespace the reader can see, and for :meth:`get`, the reader's default namespace;
    * the objects are :class:`~kcs.core.Object` instances decoded by the same codec
      everywhere; they are immutable (``obj.to_dict()`` gives a copy to edit).

    A reader that cannot serve ``resource`` at all (a cache with no informer for it)
    raises :class:`LookupError` naming it.
    """

    async def get(
        self, resource: Resource, name: str, namespace: str | None = None
    ) -> Object | None:
        """The object ``name`` (in ``namespace``), or ``None``."""
        ...

    async def list(
        self, resource: Resource, namespace: str | None = None, **selectors: Unpack[Selectors]
    ) -> ObjectList:
        """The objects of ``resource`` in ``namespace`` (``None``: all) that match."""
        ...
