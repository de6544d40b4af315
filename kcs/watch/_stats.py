"""Counters a watcher keeps about itself, for logs, metrics and tests."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["WatchStats"]


@dataclass(slots=True)
class WatchStats:
    """What one :class:`~kcs.watch.Watcher` has done so far.

    Plain counters, updated in the watcher's task; read them at any time (each value is
    current, the set of values is not a consistent snapshot). ``errors`` counts each
    kind of trouble the watcher recovered from, by name:

    * ``gone`` — 410 Gone/Expired (on a watch start, an ERROR event, or an expired
      continue token), which led to a relist;
    * ``throttled`` — 429 TooManyRequests that the client gave up waiting out;
    * ``api_error`` — any other error answer (500, 503, 403, ...);
    * ``connection`` — no answer: connection refused or reset, request timed out, or an
      empty watch response;
    * ``client_error`` — another client-side failure (such as an unknown resource);
    * ``error_event`` — an ERROR event in a watch stream other than 410;
    * ``malformed`` — a line that is not a valid watch event (truncated, bad JSON);
    * ``unknown_type`` — a well-formed event of an unknown type (skipped);
    * ``line_too_long`` — a line longer than the client's maximum;
    * ``dead_stream`` — no bytes at all for ``dead_stream_timeout`` seconds;
    * ``streaming_list_rejected`` — the server does not support the streaming list;
    * ``unexpected`` — a bug: an exception that is none of the above (logged with its
      traceback).

    ``last_error`` is a one-line description of the most recent of them.
    """

    events: int = 0
    """Objects delivered: InitApply, Apply and Delete events."""
    bookmarks: int = 0
    """Bookmarks received (including the end of a streaming list)."""
    lists: int = 0
    """Initial lists completed (paginated or streaming), the first one included."""
    relists: int = 0
    """Lists started because the resume point was lost (410 Gone), not the first one."""
    pages: int = 0
    """Pages of paginated lists received."""
    watches: int = 0
    """Watch streams opened."""
    reconnects: int = 0
    """Watch streams opened to resume after an earlier one ended (any reason)."""
    errors: dict[str, int] = field(default_factory=dict)
    """Recovered troubles by kind (see the class docstring)."""
    last_error: str | None = None
    """The most recent trouble, as one line of text (never contains credentials)."""

    def count_error(self, kind: str, message: str) -> None:
        """Count one trouble of ``kind`` and remember ``message`` as the last error."""
        self.errors[kind] = self.errors.get(kind, 0) + 1
        self.last_error = f"{kind}: {message}"
