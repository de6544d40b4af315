"""Credentials: the ``Authorization`` header of a client, kept fresh.

The header is computed once and reused; when it comes from a source that can change (an
exec plugin whose token expires, a projected service-account token that the kubelet
rotates, a kubeconfig ``tokenFile``) it is re-read at most every ``refresh_interval``
seconds, and at once after the server answered 401 with the current header. Concurrent
requests share one refresh (no stampede of exec plugins).

The header never appears in ``repr``, in log records or in error messages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import anyio

from kcs.client._clienterrors import ConfigError

__all__ = ["Credentials", "RefreshCredentials"]

_log = logging.getLogger("kcs.client")

RefreshCredentials = Callable[[bool], Awaitable[str | None]]
"""``refresh(force)`` returns the current header value. ``force`` is true after a 401:
the source should be asked again even if it believes its answer is still valid."""


class Credentials:
    """The ``Authorization`` header value of a client (``"Bearer ..."``, ``"Basic ..."``).

    ``Credentials()`` sends no header (client certificates or an open server);
    :meth:`bearer` wraps a fixed token. A ``refresh`` callable makes them refreshable:
    it is awaited at most once per ``refresh_interval`` seconds, and again after
    :meth:`expire`. When a periodic refresh fails the previous header is kept (and the
    failure logged, without the header); when a forced one fails, :class:`ConfigError`
    is raised to the request that needed it.
    """

    __slots__ = ("_clock", "_force", "_header", "_interval", "_lock", "_next", "_refresh")

    def __init__(
        self,
        header: str | None = None,
        refresh: RefreshCredentials | None = None,
        *,
        refresh_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._header = _clean(header)
        self._refresh = refresh
        self._interval = refresh_interval
        self._clock = clock
        self._next = clock() + refresh_interval
        self._force = False
        self._lock: anyio.Lock | None = None

    @classmethod
    def bearer(cls, token: str) -> Credentials:
        """Fixed credentials: ``Authorization: Bearer <token>``."""
        return cls(f"Bearer {token.strip()}")

    @property
    def refreshable(self) -> bool:
        """Whether a 401 can be answered by asking the source again."""
        return self._refresh is not None

    async def authorization(self) -> str | None:
        """The header value to send now (``None``: send no ``Authorization`` header)."""
        if self._refresh is None or (not self._force and self._clock() < self._next):
            return self._header
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            # Another task may have refreshed while this one waited for the lock.
            if self._force or self._clock() >= self._next:
                await self._run_refresh()
        return self._header

    async def _run_refresh(self) -> None:
        assert self._refresh is not None
        force = self._force
        try:
            header = _clean(await self._refresh(force))
        except Exception as exc:
            self._next = self._clock() + self._interval
            self._force = False
            if force:
                raise ConfigError(f"could not refresh credentials: {exc}") from exc
            _log.warning("could not refresh credentials; keeping the previous ones: %s", exc)
            return
        self._header = header
        self._next = self._clock() + self._interval
        self._force = False

    def expire(self, used: str | None) -> bool:
        """Mark the header ``used`` as rejected (the server answered 401).

        Returns whether a retry may help: the credentials are refreshable, and either
        ``used`` is still current (the next :meth:`authorization` refreshes) or another
        request has already refreshed them since.
        """
        if self._refresh is None:
            return False
        if used == self._header:
            self._force = True
        return True

    def __repr__(self) -> str:
        if self._header is None:
            kind = "none"
        else:
            scheme = self._header.split(" ", 1)[0]
            kind = scheme if scheme in ("Bearer", "Basic") else "custom"
        return f"Credentials(<{kind} hidden>, refreshable={self.refreshable})"


def _clean(header: str | None) -> str | None:
    """Trim surrounding whitespace (token files often end in a newline, as client-go
    tolerates); refuse a header with a line break inside (never echoing it)."""
    if header is None:
        return None
    header = header.strip()
    if "\n" in header or "\r" in header:
        raise ConfigError("the credentials contain a line break")
    return header or None
