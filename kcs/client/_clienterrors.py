"""Errors raised on the client side, before or instead of an answer from the apiserver.

:class:`~kcs.core.ApiError` (in ``_errors.py``) means *the server answered* with a Status.
Everything here means it did not, or that the client refused to go on: the connection
failed, the request ran out of time, a watch line was too long, the configuration was
unusable, or a resource is not served. They share the base class :class:`ClientError`, so
``except ClientError`` catches every failure that is not the server's own answer, and
``except ApiError`` never catches a network failure by accident.
"""

from __future__ import annotations

__all__ = [
    "ApiConnectionError",
    "ApiTimeoutError",
    "ClientError",
    "ConfigError",
    "NoMatchError",
    "WatchLineTooLong",
]


class ClientError(Exception):
    """Base class of the failures that are not a Status answer from the apiserver."""


class ConfigError(ClientError):
    """The kubeconfig or in-cluster configuration is missing or unusable.

    The cause (often kubernetes-asyncio's ``ConfigException``) is chained as
    ``__cause__``.
    """


class ApiConnectionError(ClientError):
    """The request did not get an answer: connection refused or reset, TLS failure, a
    stream cut mid-body.

    The request may or may not have reached the server (unless it failed while
    connecting). The underlying exception is chained as ``__cause__``; ``method`` and
    ``url`` say which request failed (the URL carries no credentials).
    """

    def __init__(self, message: str, *, method: str = "", url: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.url = url


class ApiTimeoutError(ApiConnectionError, TimeoutError):
    """The request's own timeout (``timeout=`` or the client's default) ran out.

    It is also a :class:`TimeoutError`. When the *caller's* deadline runs out instead,
    the caller's cancel scope sees its usual cancellation (``anyio.fail_after`` raises
    ``TimeoutError``, ``anyio.move_on_after`` returns) and this error is not raised.
    """


class WatchLineTooLong(ClientError):
    """A watch stream sent a line longer than the stream's ``max_line_size``.

    The stream is closed when this is raised; ``limit`` is the size in bytes that was
    exceeded.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(f"a watch event line exceeded {limit} bytes; the stream was closed")
        self.limit = limit


class NoMatchError(ClientError, LookupError):
    """No served resource matches a kind or a resource name, even after rediscovery.

    Like client-go's ``meta.NoKindMatchError`` / ``NoResourceMatchError``. It is also a
    :class:`LookupError`.
    """
