# ruff: noqa: ASYNC109  (a per-call timeout= is part of the API; it narrows the caller's deadline)
"""One HTTP exchange with the apiserver: rate limit, credentials, deadline, retries, errors.

Every request of a :class:`~kcs.client.Client` goes through :meth:`Transport.request`
(the whole body is read) or :meth:`Transport.open_stream` (a watch: the response is
returned as soon as its headers arrive). Both:

1. take a token from the client's rate limiter (watch starts count; stream reads don't);
2. run under a deadline: the caller's (``anyio.current_effective_deadline()``), or the
   call's ``timeout=``, or the client's default request timeout when the caller has none;
   the aiohttp timeout of each attempt is set from the time left, as a backstop;
3. are cancelled with the caller's scope: the in-flight HTTP request is aborted and its
   connection closed, so the server sees the client go away;
4. are hedged when the client has a :class:`~kcs.client.HedgedReads` policy and the call
   is a ``get`` or ``list`` (both requests share the one deadline);
5. retry as :class:`~kcs.client.RetryPolicy` says (429 for every verb, 5xx and
   connection errors for idempotent methods), never past the deadline;
6. are refused with :class:`~kcs.client.FencedError` when a fence they run under
   (:func:`~kcs.client.fenced`) has closed, checked right before the bytes are written;
7. raise the typed :class:`~kcs.core.ApiError` for an error answer, or a
   :class:`~kcs.client.ClientError` when no answer came.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import aiohttp
import anyio
import orjson

from kcs.client._auth import Credentials
from kcs.client._clienterrors import ApiConnectionError, ApiTimeoutError, ClientError
from kcs.client._config import ClientConfig
from kcs.client._fence import check_fences, current_fences
from kcs.client._hedging import HedgedReads
from kcs.client._observer import NOOP_OBSERVER, RequestObserver, RequestRecord
from kcs.client._ratelimit import RateLimiter
from kcs.client._retry import DEFAULT_RETRY, RetryPolicy, parse_retry_after
from kcs.client._sending import CheckedRequest
from kcs.core import ApiError, TooManyRequests, error_from_status

__all__ = ["DEFAULT_REQUEST_TIMEOUT", "Transport"]

_log = logging.getLogger("kcs.client")

DEFAULT_REQUEST_TIMEOUT = 60.0
"""Seconds a non-watch request may take when neither the caller nor ``timeout=`` bound it."""

# The aiohttp timeout of an attempt fires this long after the deadline, so that when the
# deadline is the caller's, the caller's cancel scope acts first and the caller sees its
# usual cancellation (fail_after: TimeoutError; move_on_after: nothing).
_BACKSTOP_GRACE = 0.05

_HEDGED_VERBS = frozenset({"get", "list"})

_NOT_RETRIED = (aiohttp.ClientSSLError, aiohttp.InvalidURL, aiohttp.TooManyRedirects)


class _Call:
    """The bookkeeping of one logical call across its attempts."""

    __slots__ = ("code", "rate_limit_wait", "retries", "throttled")

    def __init__(self) -> None:
        self.code: int | None = None
        self.retries = 0
        self.throttled = 0
        self.rate_limit_wait = 0.0


def _time_left() -> float:
    return anyio.current_effective_deadline() - anyio.current_time()


def _fits(delay: float) -> bool:
    """Whether a wait of ``delay`` seconds ends before the deadline."""
    return delay < _time_left()


def error_from_response(code: int, headers: Mapping[str, str], body: bytes) -> ApiError:
    """The typed error for an HTTP error answer (the body should be a Status)."""
    status: Any = None
    if body:
        try:
            status = orjson.loads(body)
        except orjson.JSONDecodeError:
            status = None
    if not isinstance(status, dict) or status.get("kind") != "Status":
        text = body[:200].decode("utf-8", "replace").strip() if body else ""
        status = {"kind": "Status", "code": code, "reason": "", "message": text or f"HTTP {code}"}
    return error_from_status(status, code, parse_retry_after(headers.get("Retry-After")))


class Transport:
    """Sends requests to one apiserver over one :class:`aiohttp.ClientSession`.

    The session is created on first use (inside the event loop) and closed by
    :meth:`close`; after that every request raises :class:`ClientError`.
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        user_agent: str,
        rate_limiter: RateLimiter | None,
        retry: RetryPolicy = DEFAULT_RETRY,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        observer: RequestObserver = NOOP_OBSERVER,
        connection_limit: int = 100,
        hedging: HedgedReads | None = None,
    ) -> None:
        self.config = config
        self.hedging = hedging
        self.user_agent = user_agent
        self.rate_limiter = rate_limiter
        self.retry = retry
        self.request_timeout = request_timeout
        self.observer = observer
        self._base = config.server
        self._credentials: Credentials = config.credentials
        self._ssl = config.make_ssl_context()
        self._connection_limit = connection_limit
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientError("the client is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._connection_limit,
                ssl=self._ssl if self._ssl is not None else True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self.user_agent, "Accept": "application/json"},
                read_bufsize=2**20,
                trust_env=False,
                request_class=CheckedRequest,
            )
        return self._session

    async def close(self) -> None:
        """Close the session and its connections (open watch streams are cut)."""
        self._closed = True
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    async def request(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        resource: str,
        query: Mapping[str, str] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        timeout: float | None = None,
    ) -> bytes:
        """Send a request and return the body of its 2xx answer, undecoded."""
        resp = await self._call(
            method, path, verb, resource, query, body, content_type, timeout, None
        )
        assert isinstance(resp, bytes)
        return resp

    async def open_stream(
        self,
        path: str,
        *,
        verb: str,
        resource: str,
        query: Mapping[str, str] | None = None,
        timeout: float | None = None,
        read_timeout: float | None = None,
    ) -> aiohttp.ClientResponse:
        """Send a GET and return its 2xx response once the headers are in; the caller
        reads the body and must close the response. ``timeout`` bounds only the start;
        ``read_timeout`` (if given) bounds every wait for more body."""
        resp = await self._call(
            "GET", path, verb, resource, query, None, None, timeout, read_timeout or 0.0
        )
        assert isinstance(resp, aiohttp.ClientResponse)
        return resp

    async def _call(
        self,
        method: str,
        path: str,
        verb: str,
        resource: str,
        query: Mapping[str, str] | None,
        body: bytes | None,
        content_type: str | None,
        timeout: float | None,
        stream_read_timeout: float | None,
    ) -> bytes | aiohttp.ClientResponse:
        session = self._get_session()
        url = self._base + path
        call = _Call()
        started = anyio.current_time()
        if timeout is not None:
            own_deadline = started + timeout
        elif math.isinf(anyio.current_effective_deadline()):
            own_deadline = started + self.request_timeout
        else:
            own_deadline = math.inf
        error: BaseException | None = None
        hedging = self.hedging
        try:
            with anyio.CancelScope(deadline=own_deadline):
                if hedging is not None and verb in _HEDGED_VERBS and stream_read_timeout is None:
                    return await hedging.run(
                        verb,
                        resource,
                        lambda: self._attempts(
                            session, method, url, call, query, body, content_type, None
                        ),
                    )
                return await self._attempts(
                    session, method, url, call, query, body, content_type, stream_read_timeout
                )
            raise ApiTimeoutError(
                f"{method} {path} timed out after {own_deadline - started:.3g}s",
                method=method,
                url=url,
            )
        except BaseException as exc:
            error = exc
            raise
        finally:
            record = RequestRecord(
                verb=verb,
                resource=resource,
                method=method,
                code=call.code,
                duration=anyio.current_time() - started,
                retries=call.retries,
                throttled=call.throttled,
                rate_limit_wait=call.rate_limit_wait,
                error=error,
            )
            try:
                self.observer.request_done(record)
            except Exception:
                _log.exception("the request observer failed")

    async def _attempts(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: str,
        call: _Call,
        query: Mapping[str, str] | None,
        body: bytes | None,
        content_type: str | None,
        stream_read_timeout: float | None,
    ) -> bytes | aiohttp.ClientResponse:
        policy = self.retry
        idempotent = policy.retries_method(method)
        auth_retried = False
        while True:
            # Refuse early what the send-time check would refuse anyway (see _sending).
            check_fences(current_fences(), method=method, url=url)
            if self.rate_limiter is not None:
                call.rate_limit_wait += await self.rate_limiter.acquire()
            auth = await self._credentials.authorization()
            headers: dict[str, str] = {}
            if auth:
                headers["Authorization"] = auth
            if content_type:
                headers["Content-Type"] = content_type
            try:
                code, resp_headers, data, resp = await self._attempt(
                    session, method, url, query, body, headers, stream_read_timeout
                )
            except TimeoutError as exc:
                raise ApiTimeoutError(
                    f"{method} {url} timed out", method=method, url=url
                ) from exc
            except _NOT_RETRIED as exc:
                raise ApiConnectionError(
                    f"{method} {url} failed: {exc}", method=method, url=url
                ) from exc
            except (aiohttp.ClientError, OSError) as exc:
                delay = policy.backoff(call.retries)
                if idempotent and call.retries < policy.max_retries and _fits(delay):
                    call.retries += 1
                    _log.debug("%s %s failed (%s); retry in %.3gs", method, url, exc, delay)
                    await anyio.sleep(delay)
                    continue
                raise ApiConnectionError(
                    f"{method} {url} failed: {type(exc).__name__}: {exc}", method=method, url=url
                ) from exc
            call.code = code
            if resp is not None:
                return resp
            if 200 <= code < 300:
                return data
            err = error_from_response(code, resp_headers, data)
            retry_after = parse_retry_after(resp_headers.get("Retry-After"))
            wait = self._retry_delay(err, call, idempotent, retry_after, auth, auth_retried)
            if wait is None:
                raise err
            if code == 401:
                auth_retried = True
            _log.debug("%s %s answered %d; retry in %.3gs", method, url, code, wait)
            if wait > 0:
                await anyio.sleep(wait)

    def _retry_delay(
        self,
        err: ApiError,
        call: _Call,
        idempotent: bool,
        retry_after: float | None,
        auth: str | None,
        auth_retried: bool,
    ) -> float | None:
        """Seconds to wait before sending again, or ``None`` to raise ``err``."""
        policy = self.retry
        code = err.code
        if isinstance(err, TooManyRequests) or code == 429:
            call.throttled += 1
            if call.throttled > policy.max_throttle_retries:
                return None
            if retry_after is None and isinstance(err, TooManyRequests):
                retry_after = err.retry_after  # details.retryAfterSeconds of the Status
            delay = retry_after if retry_after is not None else policy.backoff(call.throttled - 1)
            if delay > policy.max_retry_after or not _fits(delay):
                return None
            return delay
        if code == 401:
            if not auth_retried and self._credentials.expire(auth):
                return 0.0
            return None
        if idempotent and code in policy.retry_statuses and call.retries < policy.max_retries:
            delay = retry_after if retry_after is not None else policy.backoff(call.retries)
            if _fits(delay):
                call.retries += 1
                return delay
        return None

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: str,
        query: Mapping[str, str] | None,
        body: bytes | None,
        headers: dict[str, str],
        stream_read_timeout: float | None,
    ) -> tuple[int, Mapping[str, str], bytes, aiohttp.ClientResponse | None]:
        left = _time_left()
        backstop = max(left, 0.0) + _BACKSTOP_GRACE if math.isfinite(left) else None
        if stream_read_timeout is None:
            client_timeout = aiohttp.ClientTimeout(total=backstop)
        else:
            client_timeout = aiohttp.ClientTimeout(
                total=None, connect=backstop, sock_read=stream_read_timeout or None
            )
        resp = await session.request(
            method,
            url,
            params=query,
            data=body,
            headers=headers,
            timeout=client_timeout,
            server_hostname=self.config.tls_server_name,
            proxy=self.config.proxy,
        )
        code = resp.status
        if stream_read_timeout is not None and 200 <= code < 300:
            return code, resp.headers, b"", resp
        try:
            data = await resp.read()
        except BaseException:
            resp.close()
            raise
        resp.release()
        return code, resp.headers, data, None

    def __repr__(self) -> str:
        return f"Transport({self._base!r})"
