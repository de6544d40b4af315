"""A replica's shard Lease: its membership of the ring, renewed, and the fence it gives.

The Lease ``<ring>-shard-<identity>`` (label ``sharding.kcs.io/ring=<ring>``) says "this
replica is a live shard". It is written only with a create or a resourceVersion-
conditioned update, like the leader's lease (:mod:`kcs.leaderelection`), and the shard's
work runs in a :class:`~kcs.sharding.ShardFence` moved forward at each renewal.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from typing import Any

import anyio

from kcs.client import Client, ClientError
from kcs.core import AlreadyExists, ApiError, Conflict, NotFound, Object
from kcs.leaderelection import (
    ANNOTATION_LIVENESS,
    LEASES,
    ElectionTimings,
    LivenessEndpoint,
    next_spec,
)
from kcs.sharding._fence import ShardFence
from kcs.sharding._options import RING_LABEL, Sharding

__all__ = ["ShardLease", "ShardLost"]

_log = logging.getLogger("kcs.sharding")


class ShardLost(RuntimeError):
    """This replica's shard fence closed: it could not renew its shard Lease in time, or
    the Lease was taken or deleted. Its sharded controllers were cancelled; its keys go
    to the other shards once the Lease has expired (with crash detection, also if the
    process dies first). The replica must restart (a new process, a fresh cache) to
    rejoin: a shard never resumes work after its fence closed, so the sharder may treat
    an expired Lease as final."""


class ShardLease:
    """Holds and renews this replica's shard Lease; :attr:`fence` is its work's fence.

    Guarantees:

    * **Join.** :meth:`acquire` creates the Lease, or takes one left by an earlier
      process of the same identity only after it stayed unchanged for a full
      ``lease_duration`` on this clock; it returns once the Lease is held, with the fence
      open until ``send time + renew_deadline``.
    * **Renew.** :meth:`renew_forever` renews every ``retry_period``; each success moves
      the fence to its send time plus ``renew_deadline``. A Conflict or NotFound (someone
      else wrote or deleted the Lease) closes the fence at once; errors are retried until
      the deadline, when the fence closes by itself.
    * **Leave.** :meth:`release` deletes the Lease (conditioned on the resourceVersion
      last written): call it only once the work has stopped. The sharder treats a deleted
      Lease as a graceful leave and reassigns the shard's objects at once.
    * **Crash signal** (``Sharding(crash_detection=...)``). :attr:`liveness` is opened
      (by :meth:`acquire`, if not before) before the Lease is created, and advertised in
      it (annotation
      ``leaderelection.kcs.io/liveness``); whenever it closes, it closes the fence
      first. So a sharder that sees it refuse connections after greeting knows this
      shard can send no further request of its work. (:class:`~kcs.sharding.Shard`
      keeps it open, after a fence closed by itself, until :attr:`may_expire_at`: a
      closed fence is not a crash, and requests already sent keep the margin they have
      without crash detection.)
    """

    def __init__(self, client: Client, sharding: Sharding, identity: str,
                 namespace: str | None = None) -> None:
        if not identity:
            raise ValueError("a shard needs a non-empty identity")
        self.client = client
        self.sharding = sharding
        self.identity = identity
        self.namespace = namespace or sharding.lease_namespace or client.namespace
        self.name = sharding.lease_name(identity)
        self.timings: ElectionTimings = sharding.timings
        self.fence = ShardFence(f"{self.namespace}/{self.name}")
        """The fence of this shard's work (open once :meth:`acquire` returned)."""
        self._lease: Object | None = None
        self._sent = -math.inf
        config = sharding.crash_detection
        self.liveness: LivenessEndpoint | None = (
            None if config is None else LivenessEndpoint(config, self._liveness_closing))
        """This shard's liveness endpoint (``None`` without crash detection)."""

    def _liveness_closing(self) -> None:
        self.fence.close("the shard's liveness endpoint closed")

    @property
    def held(self) -> bool:
        """Whether the Lease is held and the fence open."""
        return self._lease is not None and self.fence.open()

    def _body(self, spec: dict[str, Any], base: Object | None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self.name, "namespace": self.namespace,
                                "labels": {RING_LABEL: self.sharding.ring}}
        if base is not None:
            meta["resourceVersion"] = base.metadata.resource_version
        if self.liveness is not None and self.liveness.endpoint is not None:
            meta["annotations"] = {ANNOTATION_LIVENESS: str(self.liveness.endpoint)}
        return {"apiVersion": LEASES.api_version, "kind": LEASES.kind, "metadata": meta,
                "spec": spec}

    def _spec(self, base: Object | None) -> dict[str, Any]:
        return next_spec(base, self.identity,
                         lease_duration_seconds=self.timings.lease_duration_seconds,
                         now=datetime.now(UTC))

    async def acquire(self) -> None:
        """Create (or take over) the Lease; returns once it is held. With crash
        detection, the liveness endpoint is opened first (serve it meanwhile: its
        ``serve()``); ``OSError`` if it cannot listen."""
        if self.liveness is not None and self.liveness.endpoint is None:
            await self.liveness.open()
        seen: tuple[str, float] | None = None
        while True:
            sent = anyio.current_time()
            try:
                with anyio.fail_after(self.timings.request_timeout):
                    created = await self.client.create(
                        LEASES, self._body(self._spec(None), None), self.namespace)
                self._held(created, sent)
                return
            except AlreadyExists:
                pass
            except (ApiError, ClientError, TimeoutError) as exc:
                _log.warning("%s: creating the shard Lease failed: %s", self.name, exc)
                await anyio.sleep(self.timings.retry_wait())
                continue
            current = await self.client.get(LEASES, self.name, self.namespace)
            if current is None:
                continue
            rv = current.metadata.resource_version
            now = anyio.current_time()
            if seen is None or seen[0] != rv:
                seen = (rv, now)
            if now - seen[1] >= self.timings.lease_duration:
                sent = anyio.current_time()
                try:
                    updated = await self.client.update(
                        LEASES, self._body(self._spec(current), current), self.namespace)
                except (Conflict, NotFound):
                    seen = None
                    continue
                self._held(updated, sent)
                return
            _log.info("%s: an earlier shard Lease of this identity exists; waiting for it "
                      "to expire", self.name)
            await anyio.sleep(self.timings.retry_period)

    @property
    def may_expire_at(self) -> float:
        """The earliest moment (this clock) another replica may take this shard's Lease
        as expired: the send time of the last successful write plus ``lease_duration``."""
        return self._sent + self.timings.lease_duration

    def _held(self, lease: Object, sent: float) -> None:
        self._lease = lease
        self._sent = sent
        self.fence.extend(sent + self.timings.renew_deadline)

    async def renew_forever(self) -> None:
        """Renew until cancelled or until the fence closes (then return)."""
        while self.fence.open():
            await anyio.sleep(self.timings.retry_period)
            base = self._lease
            if base is None or not self.fence.open():
                break
            sent = anyio.current_time()
            try:
                with anyio.move_on_after(max(0.0, self.fence.deadline - sent)):
                    renewed = await self.client.update(
                        LEASES, self._body(self._spec(base), base), self.namespace)
                    self._held(renewed, sent)
            except (Conflict, NotFound) as exc:
                self.fence.close(f"the shard Lease was changed or deleted by someone else: {exc}")
            except (ApiError, ClientError) as exc:
                _log.warning("%s: renewing the shard Lease failed: %s", self.name, exc)
        if not self.fence.reason:
            self.fence.close("the shard Lease could not be renewed within renew_deadline")
        _log.error("%s: shard fence closed: %s", self.name, self.fence.reason)

    async def release(self) -> bool:
        """Delete the Lease (only after the work has stopped); ``True`` when deleted."""
        base = self._lease
        self._lease = None
        self.fence.close("released")
        if base is None:
            return False
        rv = base.metadata.resource_version
        try:
            with anyio.fail_after(self.timings.request_timeout):
                await self.client.delete(LEASES, self.name, self.namespace,
                                         preconditions={"resourceVersion": rv})
        except (ApiError, ClientError, TimeoutError) as exc:
            _log.warning("%s: deleting the shard Lease failed (it will expire): %s",
                         self.name, exc)
            return False
        return True
