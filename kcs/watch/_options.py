"""How a watcher lists and watches: one frozen value, passed intact through the layers.

The informer, its factory and the controller builder hand a :class:`WatchOptions` to the
watcher as it is; every default is stated here, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kcs.watch._backoff import Backoff

__all__ = ["InitialList", "WatchOptions"]

InitialList = Literal["list", "stream"]
"""How a watcher gets the initial state: ``"list"`` (paginated) or ``"stream"``."""


@dataclass(frozen=True, slots=True)
class WatchOptions:
    """The settings of a :class:`~kcs.watch.Watcher`; immutable, compared by value.

    Two informers of the same collection can share one watch only when their
    ``WatchOptions`` are equal (see :class:`~kcs.informer.InformerFactory`).
    """

    initial_list: InitialList = "list"
    """``"list"``: a paginated list (every apiserver supports it); ``"stream"``: a watch
    with ``sendInitialEvents=true`` (the WatchList feature), falling back to pages when the
    server rejects or ignores it."""
    page_size: int = 500
    """Objects per page of a paginated list (client-go's pager uses 500 too); bounds the
    memory of one request on both sides."""
    watch_timeout: float = 300.0
    """Base of the server-side watch timeout: each watch asks for ``watch_timeout x (1 +
    random())`` seconds, so that watchers started together do not reconnect together."""
    dead_stream_timeout: float = 150.0
    """A stream that delivers no line for this long is closed and resumed (kube-apiserver
    sends a bookmark about every minute; this is 2.5 of those intervals)."""
    backoff: Backoff = Backoff()
    """The wait between attempts after a failure that may go away by itself (a 5xx, a
    broken connection, a stall): 0.8 s doubling to 30 s, as client-go's reflector."""
    permanent_error_backoff: Backoff = Backoff(initial=5.0, maximum=120.0, jitter=0.2)
    """The wait between attempts after a permanent error (401, 403, 404 of the resource,
    405): 5 s doubling to 2 min, so that a watch that cannot succeed is no fast loop of
    refused requests, while a fix (an RBAC rule granted, a CRD installed) is still picked
    up within two minutes."""

    def __post_init__(self) -> None:
        if self.initial_list not in ("list", "stream"):
            raise ValueError(
                f"initial_list must be 'list' or 'stream', not {self.initial_list!r}"
            )
        if self.page_size < 1:
            raise ValueError(f"page_size must be >= 1, not {self.page_size}")
        if self.watch_timeout < 1:
            raise ValueError(f"watch_timeout must be >= 1 s, not {self.watch_timeout}")
        if self.dead_stream_timeout <= 0:
            raise ValueError(f"dead_stream_timeout must be > 0, not {self.dead_stream_timeout}")
