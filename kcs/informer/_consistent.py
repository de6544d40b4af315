"""Consistent reads: find the server's current resourceVersion, wait for the cache to reach
it, answer from the cache — or, if it does not catch up in time, from the apiserver.

Why it is correct: a list with ``limit=1`` and no ``resourceVersion`` is served from etcd
with a quorum read, so its ``metadata.resourceVersion`` is at least the revision of every
write that completed before the call. Once the cache has reached that revision (through
an event or a bookmark of its watch, which delivers changes in order), it holds the effect
of all those writes, and a read from it is as fresh as a live read started at the same
moment.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from kcs.client import Client
from kcs.core import (
    Codec,
    FieldRequirement,
    FieldSelector,
    LabelSelector,
    ListMeta,
    NotFound,
    Object,
    Resource,
)

__all__ = [
    "CacheNotFresh",
    "and_fields",
    "and_labels",
    "current_resource_version",
    "live_get",
    "live_list",
]


class CacheNotFresh(TimeoutError):
    """A consistent read with ``fallback="error"`` timed out: the cache had not reached
    the server's resourceVersion.

    ``wanted`` is the server's resourceVersion (``""`` if even finding it timed out),
    ``reached`` the cache's at the time of giving up, ``timeout`` the seconds allowed.
    """

    def __init__(self, resource: Resource, wanted: str, reached: str, timeout: float) -> None:
        self.resource = resource
        self.wanted = wanted
        self.reached = reached
        self.timeout = timeout
        target = f"resourceVersion {wanted}" if wanted else "the server's resourceVersion"
        super().__init__(
            f"the {resource} cache did not reach {target} within {timeout:g}s "
            f"(it is at {reached or 'nothing yet'})"
        )


class _ListHead(msgspec.Struct):
    metadata: ListMeta = ListMeta()


_list_head = msgspec.json.Decoder(_ListHead)


async def current_resource_version(
    client: Client,
    resource: Resource,
    namespace: str | None,
    label_selector: LabelSelector,
    field_selector: FieldSelector,
) -> str:
    """The server's current resourceVersion, by a quorum list of at most one object."""
    body = await client.list_raw(
        resource,
        namespace,
        label_selector=None if label_selector.empty else label_selector,
        field_selector=None if field_selector.empty else field_selector,
        limit=1,
    )
    return _list_head.decode(body).metadata.resource_version


def and_labels(a: LabelSelector, b: LabelSelector) -> LabelSelector:
    """Both selectors at once."""
    return LabelSelector(a.requirements + b.requirements)


def and_fields(a: FieldSelector, b: FieldSelector) -> FieldSelector:
    """Both selectors at once."""
    return FieldSelector(a.requirements + b.requirements)


async def live_get(
    client: Client,
    resource: Resource,
    codec: Codec,
    project: Callable[[Object], Object],
    name: str,
    namespace: str | None,
    label_selector: LabelSelector,
    field_selector: FieldSelector,
) -> Object | None:
    """Read one object from the apiserver as the informer would cache it.

    With selectors, an object outside them is ``None`` (as it would be in the cache): the
    read is a LIST restricted by ``metadata.name``; without, a GET.
    """
    if label_selector.empty and field_selector.empty:
        try:
            body = await client.get_raw(resource, name, namespace)
        except NotFound:
            return None
        return project(codec.decode_object(body))
    by_name = FieldSelector((FieldRequirement("metadata.name", "=", name),))
    body = await client.list_raw(
        resource,
        namespace,
        label_selector=None if label_selector.empty else label_selector,
        field_selector=and_fields(field_selector, by_name),
    )
    _, items = codec.decode_list(body)
    return project(items[0]) if items else None


async def live_list(
    client: Client,
    resource: Resource,
    codec: Codec,
    project: Callable[[Object], Object],
    namespace: str | None,
    label_selector: LabelSelector,
    field_selector: FieldSelector,
    page_size: int,
) -> list[Object]:
    """List from the apiserver (quorum read, paginated) as the informer would cache it."""
    out: list[Object] = []
    token: str | None = None
    while True:
        body = await client.list_raw(
            resource,
            namespace,
            label_selector=None if label_selector.empty else label_selector,
            field_selector=None if field_selector.empty else field_selector,
            limit=page_size,
            continue_=token,
        )
        meta, items = codec.decode_list(body)
        out.extend(project(obj) for obj in items)
        token = meta.continue_ or None
        if token is None:
            return out

