"""An informer's settings: one frozen value made of the watcher's and the store's.

:class:`InformerOptions` is built once (by the user, or the controller builder) and passed
intact: its ``watch`` part to the :class:`~kcs.watch.Watcher`, its ``store`` part to the
:class:`~kcs.cache.Store`. Every default is stated in those values, once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Literal

from kcs.cache import StoreOptions
from kcs.watch import WatchOptions

__all__ = ["Fallback", "InformerOptions"]

Fallback = Literal["live", "error"]
"""What a consistent read does when the cache does not catch up in time: read from the
apiserver (``"live"``) or raise :class:`~kcs.informer.CacheNotFresh` (``"error"``)."""


@dataclass(frozen=True, slots=True)
class InformerOptions:
    """The settings of an :class:`~kcs.informer.Informer`; immutable, compared by value.

    * ``watch`` — how the collection is listed and watched (:class:`~kcs.watch.WatchOptions`);
    * ``store`` — what is cached and how it is indexed (:class:`~kcs.cache.StoreOptions`:
      indexes, ``transform``, ``metadata_only``, ``history_size``, the mutation detector);
    * ``keep_managed_fields`` — keep ``metadata.managedFields`` (stripped by default: a
      large share of a pod);
    * ``snapshot`` — load this snapshot (see :meth:`Informer.save_snapshot
      <kcs.informer.Informer.save_snapshot>`) and resume the watch from its
      resourceVersion instead of listing; a missing or unusable file means a list.

    A shared informer (:class:`~kcs.informer.InformerFactory`) serves a second request
    only when its options are equal in everything but ``store.indexes``, which are merged.
    """

    watch: WatchOptions = WatchOptions()
    store: StoreOptions = StoreOptions()
    keep_managed_fields: bool = False
    snapshot: str | os.PathLike[str] | None = None
    """Normalized to a ``str`` on construction."""

    def __post_init__(self) -> None:
        if self.snapshot is not None and not isinstance(self.snapshot, str):
            object.__setattr__(self, "snapshot", os.fspath(self.snapshot))

    def differences(self, other: InformerOptions) -> list[str]:
        """The settings that differ between these options and ``other``, indexes aside,
        each as ``"store.transform: <a> != <b>"`` (empty: they can share one informer)."""
        out: list[str] = []
        for part in ("watch", "store"):
            mine, theirs = getattr(self, part), getattr(other, part)
            for f in fields(mine):
                if part == "store" and f.name == "indexes":
                    continue
                a, b = getattr(mine, f.name), getattr(theirs, f.name)
                if a != b:
                    out.append(f"{part}.{f.name}: {a!r} != {b!r}")
        for name in ("keep_managed_fields", "snapshot"):
            a, b = getattr(self, name), getattr(other, name)
            if a != b:
                out.append(f"{name}: {a!r} != {b!r}")
        return out
