"""Shared informers: one per watch, however many controllers ask for it."""

from __future__ import annotations

import logging

import anyio
import anyio.abc

from kcs.client import Client
from kcs.core import FieldSelector, FieldSelectorLike, LabelSelector, LabelSelectorLike, Resource
from kcs.informer._errors import InformerConflict, SyncTimeoutError
from kcs.informer._informer import SYNC_REPORT_INTERVAL, Informer
from kcs.informer._options import InformerOptions

__all__ = ["InformerFactory"]

_log = logging.getLogger("kcs.informer")

_Key = tuple[Resource, str | None, str, str]


class InformerFactory:
    """Hands out shared :class:`~kcs.informer.Informer` s and runs them.

    Guarantees:

    * **One informer per watch.** :meth:`informer` returns the same instance for the
      same resource, namespace, label selector and field selector (selectors compared in
      their canonical form), however many controllers ask: never a second watch of the
      same collection.
    * **Settings equal by value, indexes merged.** A later request must ask for the same
      options as the informer has in everything but its indexes — compared by value, so
      a ``transform`` or a custom index function must be the very same function object —
      or it raises :class:`~kcs.informer.InformerConflict` naming the settings that
      differ. Its indexes are merged into the shared informer
      (:meth:`IndexOptions.merge <kcs.cache.IndexOptions.merge>`: the union; the cached
      objects are indexed at once).
    * **Everything runs.** :meth:`run` runs every informer requested before it and
      every one requested while it runs, until it is cancelled.
    * :meth:`wait_synced` waits for every informer requested so far (and while it
      waits), and with a timeout raises :class:`~kcs.informer.SyncTimeoutError` naming
      each one that had not synced and why.

    ``default_namespace`` restricts informers of namespaced resources to that namespace
    when :meth:`informer` is called with ``namespace=None`` (pass ``namespace=""`` for
    all namespaces). ``options`` are what a request without options of its own gets.
    """

    def __init__(
        self,
        client: Client,
        *,
        default_namespace: str | None = None,
        options: InformerOptions | None = None,
    ) -> None:
        self.client = client
        self.default_namespace = default_namespace
        self.options = options if options is not None else InformerOptions()
        """The options of a request that gives none."""
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
        *,
        options: InformerOptions | None = None,
    ) -> Informer:
        """The shared informer for this collection; created (and started, if the factory
        runs) on the first request. See the class guarantees for a second request."""
        if namespace is None:
            namespace = self.default_namespace
        ns = namespace if resource.namespaced and namespace else None
        labels = LabelSelector.of(label_selector)
        fields = FieldSelector.of(field_selector)
        wanted = options if options is not None else self.options
        key: _Key = (resource, ns, str(labels), str(fields))
        informer = self._informers.get(key)
        if informer is None:
            informer = Informer(self.client, resource, ns, labels, fields, options=wanted)
            self._informers[key] = informer
            if self._task_group is not None:
                self._task_group.start_soon(informer.run)
            return informer
        differences = informer.options.differences(wanted)
        if differences:
            raise InformerConflict(informer.scope, differences)
        informer.add_indexes(wanted.store.indexes)
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

    @property
    def has_synced(self) -> bool:
        """Whether every informer requested so far has synced."""
        return all(i.has_synced for i in self._informers.values())

    @property
    def not_synced_reason(self) -> str | None:
        """Why some informers have not synced, one clause per informer (``None`` once
        all have): for readiness endpoints and logs."""
        reasons = [
            f"{i.scope}: {i.not_synced_reason}"
            for i in self._informers.values()
            if not i.has_synced
        ]
        return "; ".join(reasons) if reasons else None

    async def wait_synced(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Return once every informer requested so far (and while waiting) has synced.

        With a ``timeout``, raise :class:`~kcs.informer.SyncTimeoutError` when it runs
        out, naming each informer that had not synced and why. Without one, wait as long
        as it takes and log the reasons every 30 seconds (see
        :meth:`Informer.wait_synced <kcs.informer.Informer.wait_synced>`).
        """
        if timeout is not None:
            with anyio.move_on_after(timeout):
                await self._all_synced()
                return
            waiting = [i for i in self._informers.values() if not i.has_synced]
            if waiting:
                raise SyncTimeoutError(timeout, [i.not_synced for i in waiting if i.not_synced])
            return
        waited = 0.0
        while True:
            with anyio.move_on_after(SYNC_REPORT_INTERVAL):
                await self._all_synced()
                return
            waited += SYNC_REPORT_INTERVAL
            _log.warning("informers not synced after %.0fs: %s", waited, self.not_synced_reason)

    async def _all_synced(self) -> None:
        while True:
            waiting = [i for i in self._informers.values() if not i.has_synced]
            if not waiting:
                return
            await waiting[0].lister.wait_synced()

    def __repr__(self) -> str:
        return f"InformerFactory({len(self._informers)} informers)"
