"""The reconcile gate: a hook that decides, key by key, whether this runner may reconcile.

A :class:`~kcs.controller.Runner` made with a gate asks it before every reconcile and
tells it when the reconcile is over, so that the layer above (sharding) can hand a key to
another replica only once no reconcile of it is running here. Without a gate the runner
reconciles every key it is given, as always.
"""

from __future__ import annotations

from typing import Protocol

from kcs.core import ObjectKey

__all__ = ["ReconcileGate"]


class ReconcileGate(Protocol):
    """Admits or refuses each reconcile of a key; told when an admitted one ends.

    Contract: :meth:`enter` is called right before a reconcile of ``key`` starts (never
    twice for one key without an :meth:`exit` in between: the work queue runs one
    reconcile per key at a time); a ``False`` answer skips that reconcile (the key is
    forgotten, not retried). :meth:`exit` is called once the admitted reconcile has
    returned, raised or been cancelled, and only then. Both are synchronous and quick.
    """

    def enter(self, key: ObjectKey) -> bool:
        """Whether a reconcile of ``key`` may start now (and is then in flight)."""
        ...

    def exit(self, key: ObjectKey) -> None:
        """The reconcile of ``key`` that :meth:`enter` admitted is over."""
        ...
