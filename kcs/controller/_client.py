# ruff: noqa: ASYNC109  (a per-call timeout= is part of the client's API)
"""The controller's view of the client: writes are remembered for read-your-writes.

:class:`ControllerClient` has the verbs of :class:`~kcs.client.Client` with the same
signatures. Writes (create, replace/update, patch, delete and their status forms) go to
the apiserver as usual, and the resourceVersion each returns is handed to the
controller's :class:`~kcs.controller._writes.WriteTracker`, so that the next reconcile of
the key waits until its caches have seen the write. Reads (get, list) go to the
apiserver too, optionally hedged; a reconcile normally reads from the informers' listers
instead (:meth:`kcs.controller.Controller.lister`).

Every call inherits the deadline and the cancellation of the reconcile that makes it:
nothing to pass along, and nothing left running when the reconcile ends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from kcs.client import Client, HedgedReads, PatchType
from kcs.controller._writes import WriteTracker
from kcs.core import FieldSelector, LabelSelector, Resource

__all__ = ["ControllerClient"]

LabelSelectorLike = LabelSelector | str | Mapping[str, str] | None
FieldSelectorLike = FieldSelector | str | Mapping[str, str] | None
ResourceLike = Resource | str
PatchBody = Mapping[str, Any] | Sequence[Any] | bytes | str


class ControllerClient:
    """A :class:`~kcs.client.Client` whose writes feed the controller's read-your-writes.

    ``raw`` is the underlying client (writes made through it are not remembered).
    ``hedged`` (opt-in) answers :meth:`get` and :meth:`list` with hedged requests.
    """

    def __init__(
        self, client: Client, tracker: WriteTracker, *, hedged: HedgedReads | None = None
    ) -> None:
        self.raw = client
        self.hedged = hedged
        self._tracker = tracker

    async def _resolve(self, resource: ResourceLike) -> Resource:
        return resource if isinstance(resource, Resource) else await self.raw.resource(resource)

    def _record(self, resource: Resource, answer: dict[str, Any]) -> dict[str, Any]:
        self._tracker.record(resource, answer)
        return answer

    # -- reads ----------------------------------------------------------------------------

    async def get(
        self,
        resource: ResourceLike,
        name: str,
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """A live GET (hedged when :attr:`hedged` is set); see :meth:`kcs.client.Client.get`."""
        if self.hedged is not None and subresource is None:
            return await self.hedged.get(resource, name, namespace, timeout=timeout)
        return await self.raw.get(
            resource, name, namespace, subresource=subresource, timeout=timeout
        )

    async def list(
        self,
        resource: ResourceLike,
        namespace: str | None = None,
        *,
        label_selector: LabelSelectorLike = None,
        field_selector: FieldSelectorLike = None,
        limit: int | None = None,
        continue_: str | None = None,
        resource_version: str | None = None,
        resource_version_match: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """A live LIST (hedged when :attr:`hedged` is set); see :meth:`kcs.client.Client.list`."""
        target: Client | HedgedReads = self.hedged if self.hedged is not None else self.raw
        return await target.list(
            resource,
            namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            limit=limit,
            continue_=continue_,
            resource_version=resource_version,
            resource_version_match=resource_version_match,
            timeout=timeout,
        )

    # -- writes ---------------------------------------------------------------------------

    async def create(
        self,
        resource: ResourceLike,
        body: Mapping[str, Any],
        namespace: str | None = None,
        *,
        field_manager: str | None = None,
        dry_run: bool = False,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """POST a new object (see :meth:`kcs.client.Client.create`); remembered."""
        res = await self._resolve(resource)
        answer = await self.raw.create(
            res, body, namespace, field_manager=field_manager, dry_run=dry_run, timeout=timeout
        )
        return answer if dry_run else self._record(res, answer)

    async def replace(
        self,
        resource: ResourceLike,
        body: Mapping[str, Any],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        field_manager: str | None = None,
        dry_run: bool = False,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """PUT the whole object (see :meth:`kcs.client.Client.replace`); remembered."""
        res = await self._resolve(resource)
        answer = await self.raw.replace(
            res,
            body,
            namespace,
            subresource=subresource,
            field_manager=field_manager,
            dry_run=dry_run,
            timeout=timeout,
        )
        return answer if dry_run else self._record(res, answer)

    async def update(
        self,
        resource: ResourceLike,
        body: Mapping[str, Any],
        namespace: str | None = None,
        *,
        field_manager: str | None = None,
        dry_run: bool = False,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """The same as :meth:`replace`."""
        return await self.replace(
            resource, body, namespace, field_manager=field_manager, dry_run=dry_run,
            timeout=timeout,
        )

    async def update_status(
        self,
        resource: ResourceLike,
        body: Mapping[str, Any],
        namespace: str | None = None,
        *,
        field_manager: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """PUT the ``status`` subresource; remembered."""
        return await self.replace(
            resource, body, namespace, subresource="status", field_manager=field_manager,
            timeout=timeout,
        )

    async def patch(
        self,
        resource: ResourceLike,
        name: str,
        patch: PatchBody,
        namespace: str | None = None,
        *,
        type: PatchType = "merge",
        field_manager: str | None = None,
        force: bool | None = None,
        subresource: str | None = None,
        dry_run: bool = False,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """PATCH an object (see :meth:`kcs.client.Client.patch`); remembered."""
        res = await self._resolve(resource)
        answer = await self.raw.patch(
            res,
            name,
            patch,
            namespace,
            type=type,
            field_manager=field_manager,
            force=force,
            subresource=subresource,
            dry_run=dry_run,
            timeout=timeout,
        )
        return answer if dry_run else self._record(res, answer)

    async def patch_status(
        self,
        resource: ResourceLike,
        name: str,
        patch: PatchBody,
        namespace: str | None = None,
        *,
        type: PatchType = "merge",
        field_manager: str | None = None,
        force: bool | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """PATCH the ``status`` subresource; remembered."""
        return await self.patch(
            resource, name, patch, namespace, type=type, field_manager=field_manager,
            force=force, subresource="status", timeout=timeout,
        )

    async def delete(
        self,
        resource: ResourceLike,
        name: str,
        namespace: str | None = None,
        *,
        preconditions: Mapping[str, str] | None = None,
        propagation_policy: Literal["Orphan", "Background", "Foreground"] | None = None,
        grace_period_seconds: int | None = None,
        dry_run: bool = False,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """DELETE an object (see :meth:`kcs.client.Client.delete`).

        Remembered when the answer is the object (held by finalizers); a success Status
        carries no resourceVersion of the deletion, so nothing is waited for then.
        """
        res = await self._resolve(resource)
        answer = await self.raw.delete(
            res,
            name,
            namespace,
            preconditions=preconditions,
            propagation_policy=propagation_policy,
            grace_period_seconds=grace_period_seconds,
            dry_run=dry_run,
            timeout=timeout,
        )
        return answer if dry_run else self._record(res, answer)

    def __repr__(self) -> str:
        return f"ControllerClient({self.raw!r})"

