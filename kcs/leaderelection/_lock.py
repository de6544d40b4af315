"""The lock: one ``coordination.k8s.io/v1`` Lease, written only with preconditions.

Every write that takes or keeps the lease is either a create (which fails with
AlreadyExists when someone else created it first) or an update carrying the
``resourceVersion`` the writer last read (which fails with Conflict when anyone wrote in
between). That is the whole of the mutual exclusion: of two replicas that decided on the
same state of the lease, exactly one write succeeds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from kcs.client import Client
from kcs.core import Object, builtin
from kcs.leaderelection._record import (
    ANNOTATION_LEASE_DURATION,
    ANNOTATION_PREFERRED_HOLDER,
    LeaderElectionRecord,
    format_micro_time,
)
from kcs.leaderelection._timing import ElectionTimings

__all__ = ["LEASES", "LeaseLock", "holder_write", "next_spec"]

LEASES = builtin("leases.coordination.k8s.io")
"""The ``coordination.k8s.io/v1`` Lease resource."""


def next_spec(
    previous: Object | None,
    holder: str,
    *,
    lease_duration_seconds: int,
    now: datetime,
) -> dict[str, Any]:
    """The spec of a Lease after ``holder`` writes it at wall-clock ``now``.

    ``previous`` is the Lease before the write (``None`` when creating). Fields kcs does
    not manage (``strategy``, ``preferredHolder``, unknown ones) are kept. The acquire
    time and the transition count are kept when the holder does not change; a new holder
    gets ``acquireTime = now`` and one more transition; a release (``holder=""``) keeps the
    count. ``renewTime`` always changes, even when the wall clock did not move, so every
    write is a new observation for the other replicas.
    """
    old_spec = previous.get("spec") if previous is not None else None
    spec: dict[str, Any] = dict(old_spec) if isinstance(old_spec, Mapping) else {}
    record = LeaderElectionRecord.from_lease(previous) if previous is not None else None
    renew = format_micro_time(now)
    if renew == spec.get("renewTime"):
        renew = format_micro_time(now + timedelta(microseconds=1))
    same_holder = record is not None and record.holder_identity == holder
    spec["holderIdentity"] = holder
    spec["leaseDurationSeconds"] = lease_duration_seconds
    spec["renewTime"] = renew
    if record is None:
        spec["acquireTime"] = renew
        spec["leaseTransitions"] = 0
    elif same_holder or holder == "":
        if record.acquire_time is None or holder == "":
            spec["acquireTime"] = renew
        spec["leaseTransitions"] = record.lease_transitions
    else:
        spec["acquireTime"] = renew
        spec["leaseTransitions"] = record.lease_transitions + 1
    return spec


class LeaseLock:
    """One Lease used as a lock, through a :class:`~kcs.client.Client`.

    Guarantees: :meth:`create` and :meth:`update` are the only writes, and both are
    preconditioned (create-if-absent; update-if-``resourceVersion``-unchanged), so a
    success proves that nobody wrote the lease since the state the caller decided on.
    No method retries a write; errors are the client's typed errors.
    """

    __slots__ = ("client", "name", "namespace")

    def __init__(self, client: Client, name: str, namespace: str) -> None:
        self.client = client
        self.name = name
        self.namespace = namespace

    def __repr__(self) -> str:
        return f"LeaseLock({self.namespace}/{self.name})"

    async def get(self) -> Object | None:
        """The Lease, or ``None`` if it does not exist."""
        return await self.client.get(LEASES, self.name, self.namespace)

    async def create(
        self, spec: Mapping[str, Any], annotations: Mapping[str, str] | None = None
    ) -> Object:
        """Create the Lease; AlreadyExists when it exists."""
        meta: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if annotations:
            meta["annotations"] = dict(annotations)
        return await self.client.create(LEASES, _lease(meta, spec), self.namespace)

    async def update(
        self,
        base: Object,
        spec: Mapping[str, Any],
        annotations: Mapping[str, str | None] | None = None,
    ) -> Object:
        """Replace the Lease ``base`` (as last read) with ``spec``, on the condition that
        its ``resourceVersion`` is still ``base``'s: Conflict otherwise, NotFound when it
        was deleted. ``annotations`` set (or, with ``None`` values, remove) annotations;
        the other metadata (labels, annotations of other tools) is kept."""
        if not base.resource_version:
            raise ValueError("an update of the lease needs the resourceVersion it was read at")
        meta: dict[str, Any] = base["metadata"]  # a new dict
        meta["name"] = self.name
        meta["namespace"] = self.namespace
        if annotations:
            merged = dict(base.annotations)
            for key, value in annotations.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            meta["annotations"] = merged
        return await self.client.update(LEASES, _lease(meta, spec), self.namespace)


def _lease(meta: dict[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """A Lease object with ``meta`` and ``spec``, as a write sends it."""
    return {"apiVersion": LEASES.api_version, "kind": LEASES.kind, "metadata": meta,
            "spec": dict(spec)}


def holder_write(
    base: Object, holder: str, timings: ElectionTimings, *, handoff: bool = False
) -> tuple[dict[str, Any], dict[str, str | None]]:
    """The spec and the annotations of a write of the Lease ``base`` that makes ``holder``
    its holder: the holder renewing or taking it, a release (``holder=""``:
    ``leaseDurationSeconds`` 1, as client-go), or a hand-off (``handoff=True``: the
    preferred-holder annotation names the new holder until it confirms). A preferred
    holder that is now the holder, or any on a release, is removed."""
    record = LeaderElectionRecord.from_lease(base)
    duration = timings.lease_duration_seconds if holder else 1
    spec = next_spec(base, holder, lease_duration_seconds=duration, now=datetime.now(UTC))
    annotations: dict[str, str | None] = {
        ANNOTATION_LEASE_DURATION: f"{timings.lease_duration:g}" if holder else None,
    }
    if handoff:
        annotations[ANNOTATION_PREFERRED_HOLDER] = holder
    elif not holder or record.preferred_holder == holder:
        annotations[ANNOTATION_PREFERRED_HOLDER] = None
    return spec, annotations
