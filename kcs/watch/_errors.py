"""What a watcher reports when something goes wrong: a typed record, and the hook it calls.

Every trouble a :class:`~kcs.watch.Watcher` meets — an error answer, a broken connection,
a bad line, an object it cannot read — becomes one :class:`WatchError`: counted in
:class:`~kcs.watch.WatchStats`, logged once on the ``kcs.watch`` logger, and passed to the
watcher's error hook (``on_error``), so that it reaches the user instead of vanishing in a
retry loop.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["WatchError", "WatchErrorHook", "WatchErrorKind"]


class WatchErrorKind(enum.StrEnum):
    """The kinds of trouble a watcher recovers from (the keys of ``WatchStats.errors``)."""

    UNAUTHORIZED = "unauthorized"
    """401: the apiserver does not accept the client's credentials. Permanent."""
    FORBIDDEN = "forbidden"
    """403: the identity may not list or watch the resource in this scope (RBAC).
    Permanent."""
    NOT_FOUND = "not_found"
    """404 on a list or watch, or an unknown resource: the apiserver does not serve it (a
    CRD not installed, a wrong group or version). Permanent."""
    METHOD_NOT_ALLOWED = "method_not_allowed"
    """405: the resource cannot be listed or watched. Permanent."""
    GONE = "gone"
    """410 Gone/Expired (a watch start, an ERROR event, an expired continue token): the
    resume point is lost; the watcher relists."""
    RESUME_REFUSED = "resume_refused"
    """400/422 on a watch from a resourceVersion (one the server does not accept as a
    resume point, such as a non-numeric one): the watcher relists from scratch."""
    CONTINUE_REFUSED = "continue_refused"
    """400/422 on a list page with a continue token: the watcher lists again without
    pagination instead of repeating the page."""
    THROTTLED = "throttled"
    """429 TooManyRequests that the client gave up waiting out."""
    API_ERROR = "api_error"
    """Any other error answer (500, 503, 504, ...)."""
    CONNECTION = "connection"
    """No answer: connection refused or reset, a request timeout."""
    EMPTY_WATCH = "empty_watch"
    """A watch that ended at once without a single line (a proxy answering every watch
    with an empty 200)."""
    CLIENT_ERROR = "client_error"
    """Another client-side failure."""
    ERROR_EVENT = "error_event"
    """An ERROR event in a watch stream other than 410."""
    MALFORMED = "malformed"
    """A line that is not a valid watch event (truncated, bad JSON), or a list body that
    cannot be decoded."""
    UNKNOWN_TYPE = "unknown_type"
    """A well-formed watch event of an unknown type (skipped)."""
    LINE_TOO_LONG = "line_too_long"
    """A watch line longer than the client's ``max_watch_line_size``."""
    DEAD_STREAM = "dead_stream"
    """No bytes at all for ``dead_stream_timeout`` seconds."""
    STREAMING_LIST_REJECTED = "streaming_list_rejected"
    """The server does not support the streaming list; the watcher uses pages."""
    REJECTED_OBJECT = "rejected_object"
    """An object that cannot be cached (no ``metadata.name``, a body that is not valid
    UTF-8): dropped as if the server had not sent it."""
    NO_RESOURCE_VERSION = "no_resource_version"
    """An object without ``metadata.resourceVersion``: accepted (it is always newer than
    what the cache holds), counted."""
    UNEXPECTED = "unexpected"
    """A bug: an exception that is none of the above (logged with its traceback)."""


@dataclass(frozen=True, slots=True)
class WatchError:
    """One trouble a watcher met, in plain words.

    ``message`` names the resource, the scope and the cause, for example ``"403
    Forbidden: listing pods in all namespaces is not allowed for this identity (RBAC)"``;
    it never contains credentials. ``code`` is the HTTP status (or the Status code of an
    ERROR event) when there was one. ``permanent`` errors do not go away by themselves:
    the watcher retries them slowly (``WatchOptions.permanent_error_backoff``) and keeps
    reporting them.
    """

    kind: WatchErrorKind
    message: str
    code: int | None = None
    permanent: bool = False
    resource_version: str = ""
    """The watcher's resume point when it happened (``""``: none yet)."""
    at: float = field(default=0.0, compare=False)
    """When it happened (``time.time()``)."""

    def __str__(self) -> str:
        return self.message


WatchErrorHook = Callable[[WatchError], None]
"""Called by the watcher, in its own task, with every :class:`WatchError` as it happens.

It must return quickly and must not block (record, count, set an event); an exception
it raises is logged and ignored.
"""
