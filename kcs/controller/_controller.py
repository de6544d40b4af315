"""The Controller base class: what a kcs user writes.

A controller is a plain object: its constructor is the user's own (the base class has
none and holds no state), so a subclass's attributes never collide with the library's.
It declares its sources in :meth:`Controller.setup` and does its work in
:meth:`Controller.reconcile`; a :class:`~kcs.controller.Runner` (made by
:meth:`kcs.manager.Manager.add`, or directly in tests) calls both.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from kcs.controller._result import Result

if TYPE_CHECKING:
    from kcs.controller._context import Context
    from kcs.controller._sources import Builder
    from kcs.core import ObjectKey

__all__ = ["Controller", "check_options"]


def check_options(target: object, where: str) -> None:
    """Raise ``TypeError`` unless the controller options of ``target`` (a Controller
    subclass or instance) are well-formed; ``where`` names it in the message."""
    name = getattr(target, "name", "")
    if not isinstance(name, str):
        raise TypeError(f"{where}.name must be a str, not {name!r}")
    workers = getattr(target, "max_concurrent_reconciles", 1)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise TypeError(f"{where}.max_concurrent_reconciles must be an int >= 1, "
                        f"not {workers!r}")
    for option in ("reconcile_timeout", "read_your_writes_timeout", "sync_timeout"):
        value = getattr(target, option, None)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or value <= 0
        ):
            raise TypeError(f"{where}.{option} must be a positive number or None, "
                            f"not {value!r}")


class Controller:
    """Base class of a controller: declare sources in ``setup``, write ``reconcile``.

    .. code-block:: python

        class ReplicaSetScaler(Controller):
            name = "replicaset-scaler"

            def setup(self, builder: Builder) -> None:
                builder.for_(DEPLOYMENTS, predicates=[GenerationChanged()])
                builder.owns(REPLICASETS)

            async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
                deployment = await ctx.cache.get(DEPLOYMENTS, key.name, key.namespace)
                if deployment is None:
                    return None  # gone: owned objects are garbage collected
                ...

    The class has no ``__init__`` and no instance state of its own: write a constructor
    that takes what your controller needs (settings, clients of other systems) and store
    it under any name; ``super().__init__()`` is not needed. The only names the library
    reads are :attr:`name`, the options below, :meth:`setup` and :meth:`reconcile`; they
    are checked when the subclass is defined, so a mistake is a ``TypeError`` at import
    time rather than a controller that runs and does nothing.

    Guarantees (provided by the :class:`~kcs.controller.Runner` that runs it):

    * **Level-based**: ``reconcile`` gets a key, never an event, and reads the current
      state (``ctx.cache``). Events for a key that arrive while it waits are merged; a
      key is never reconciled by two workers at once; one that changes while it is being
      reconciled is reconciled again afterwards.
    * **Outcomes**: ``None``/``Result()`` forgets the key's failures;
      ``Result(requeue_after=s)`` reconciles it again in ``s`` seconds; an exception
      retries it with per-key exponential backoff (5 ms doubling to 1000 s, within an
      overall 10/s, burst 100) and is logged with its traceback;
      :class:`~kcs.controller.TerminalError` is logged and not retried.
    * **Timeout**: each reconcile runs under ``reconcile_timeout``; every API call
      inside it inherits that deadline and its cancellation.
    * **Read your writes**: writes made through ``ctx.client`` during a reconcile are
      remembered; before that key is reconciled again, the runner waits (at most
      ``read_your_writes_timeout`` seconds, then goes ahead) until the caches that will
      see those writes have. ``None`` turns it off.
    * **Start**: workers start once every source's informer has synced, within
      ``sync_timeout`` seconds; otherwise the run fails with an error that names the
      informer and why it did not sync (a 403, a missing CRD, an informer never
      started). The keys of the initial list are queued at low priority.
    * **Stop**: cancelling the run cancels the reconciles in flight at once (their HTTP
      requests are aborted); nothing keeps running.
    """

    name: str = ""
    """The controller's name in logs, Events and metrics (default: the class name)."""
    max_concurrent_reconciles: int = 1
    """Workers: how many different keys may be reconciled at the same time."""
    reconcile_timeout: float | None = 60.0
    """Seconds one reconcile may take; ``None``: no limit."""
    read_your_writes_timeout: float | None = 5.0
    """Longest wait for the caches to see a key's own writes; ``None``: do not wait."""
    sync_timeout: float | None = 120.0
    """Seconds the sources' informers may take to sync before the run fails with the
    cause; ``None``: wait forever (not recommended: a missing permission then looks like
    a controller that does nothing)."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        check_options(cls, cls.__qualname__)
        if not callable(cls.setup):
            raise TypeError(f"{cls.__qualname__}.setup must be a method")
        reconcile = cls.reconcile
        if reconcile is not Controller.reconcile:
            if not inspect.iscoroutinefunction(reconcile):
                raise TypeError(f"{cls.__qualname__}.reconcile must be an async def "
                                "reconcile(self, ctx, key)")
            params = [
                p for p in inspect.signature(reconcile).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
            if len(params) != 3:
                raise TypeError(f"{cls.__qualname__}.reconcile must take (self, ctx, key), "
                                f"not ({', '.join(p.name for p in params)})")

    def setup(self, builder: Builder) -> None:
        """Declare the sources: one ``builder.for_(...)``, any ``owns``/``watches``.

        Called once, by the runner, when the controller is added to a manager (after
        your own ``__init__`` has run).
        """
        raise NotImplementedError(f"{type(self).__qualname__} must implement setup()")

    async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
        """Make the world match the desired state of the object ``key`` names.

        Read from the caches (``ctx.cache``, a :class:`~kcs.core.Reader`); write with
        ``ctx.client``. The object may be gone (``get`` returns ``None``). Must be
        idempotent: it runs again after errors, after changes, and after restarts.
        """
        raise NotImplementedError(f"{type(self).__qualname__} must implement reconcile()")

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} {self.name or type(self).__name__!r}>"
