"""Shared informers: one per watch, however many controllers ask for it."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Hashable, Iterable, Mapping
from typing import Any, Unpack

import anyio
import anyio.abc

from kcs.client import Client
from kcs.core import FieldSelector, LabelSelector, Resource
from kcs.informer._informer import FieldSelectorLike, Informer, LabelSelectorLike
from kcs.informer._options import INDEX_OPTIONS, InformerOptions

__all__ = ["InformerFactory"]

_log = logging.getLogger("kcs.informer")

_Key = tuple[Resource, str | None, str, str, tuple[tuple[str, Hashable], ...]]


def _hashable(value: object) -> Hashable:
    if isinstance(value, os.PathLike):
        return os.fspath(value)  # type: ignore[no-any-return]
    try:
        hash(value)
    except TypeError:
        raise TypeError(f"informer option value {value!r} is not hashable") from None
    return value


class InformerFactory:
    """Hands out shared :class:`~kcs.informer.Informer` s and runs them.

    Guarantees:

    * **One informer per watch.** :meth:`informer` returns the same instance for the
      same resource, namespace, selectors and options, however many controllers ask.
      Index options (``label_index``, ``field_indexes``, ``indexes``) are not part of
      that identity: a second request adds its indexes to the shared informer.
      ``owner_index`` can only be set by the request that creates the informer.
    * **Everything runs.** :meth:`run` runs every informer requested before it and
      every one requested while it runs, until it is cancelled.
    * :meth:`wait_synced` waits for every informer requested so far.

    ``default_namespace`` restricts informers of namespaced resources to that namespace
    when :meth:`informer` is called with ``namespace=None`` (pass ``namespace=""`` for
    all namespaces). ``defaults`` are options applied to every informer unless the
    request overrides them.
    """

    def __init__(
        self,
        client: Client,
        *,
        default_namespace: str | None = None,
        **defaults: Unpack[InformerOptions],
    ) -> None:
        self.client = client
        self.default_namespace = default_namespace
        self.defaults: InformerOptions = defaults
        self._informers: dict[_Key, Informer] = {}
        self._task_group: anyio.abc.TaskGroup | None = None

    @property
    def informers(self) -> list[Informer]:
        """Every informer requested so far, in the order of their first request."""
        return list(self._informers.values())

    def informer(
        self,
        resource: Resource,
        namespace: str | None = None,
        label_selector: LabelSelectorLike = None,
        field_selector: FieldSelectorLike = None,
        **options: Unpack[InformerOptions],
    ) -> Informer:
        """The shared informer for these arguments; created (and started, if the factory
        runs) on the first request."""
        if namespace is None:
            namespace = self.default_namespace
        ns = namespace if resource.namespaced and namespace else None
        labels = LabelSelector.of(label_selector)
        fields = FieldSelector.of(field_selector)
        merged: dict[str, Any] = {**self.defaults, **options}
        identity = tuple(
            sorted((k, _hashable(v)) for k, v in merged.items() if k not in INDEX_OPTIONS)
        )
        key: _Key = (resource, ns, str(labels), str(fields), identity)
        informer = self._informers.get(key)
        if informer is None:
            informer = Informer(self.client, resource, ns, labels, fields, **merged)
            self._informers[key] = informer
            if self._task_group is not None:
                self._task_group.start_soon(informer.run)
            return informer
        _merge_indexes(informer, options)
        return informer

    async def run(self) -> None:
        """Run every informer, including those requested later, until cancelled."""
        if self._task_group is not None:
            raise RuntimeError("this InformerFactory is already running")
        try:
            async with anyio.create_task_group() as tg:
                self._task_group = tg
                for informer in self._informers.values():
                    if not informer.running:
                        tg.start_soon(informer.run)
                await anyio.sleep_forever()
        finally:
            self._task_group = None

    async def wait_synced(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until every informer requested so far (and while waiting) has synced;
        ``False`` if ``timeout`` seconds pass first."""
        with anyio.move_on_after(math.inf if timeout is None else timeout):
            while True:
                waiting = [i for i in self._informers.values() if not i.has_synced]
                if not waiting:
                    return True
                await waiting[0].wait_synced()
        return all(i.has_synced for i in self._informers.values())

    def __repr__(self) -> str:
        return f"InformerFactory({len(self._informers)} informers)"


def _merge_indexes(informer: Informer, options: Mapping[str, Any]) -> None:
    """Add the indexes a later request's ``options`` ask for to a shared informer."""
    label_index: bool | Iterable[str] = options.get("label_index", False)
    if label_index is True:
        if informer.options.get("label_index", True) is not True:
            raise ValueError(
                f"{informer} indexes only some label keys; ask for them by name "
                "(label_index=[...]) or set label_index=True on the first request"
            )
    elif label_index is not False:
        for label in label_index:
            informer.add_label_index(label)
    for path in options.get("field_indexes", ()):
        informer.add_field_index(path)
    for name, fn in (options.get("indexes") or {}).items():
        informer.add_index(name, fn)
    if options.get("owner_index") and not informer.options.get("owner_index"):
        raise ValueError(
            f"{informer} was created without owner_index; request owner_index=True on "
            "the first request (or in the factory's defaults)"
        )
