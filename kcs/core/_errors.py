"""Typed API errors that carry the server's ``metav1.Status``.

Every error the apiserver returns is a Status object with an HTTP code and a machine
readable ``reason``. :func:`error_from_status` maps it to the most specific class here, so
callers can write ``except NotFound``. :func:`status_body` builds such a Status; the fake
apiserver uses it so that both sides agree on the wire format.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "AlreadyExists",
    "ApiError",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "Gone",
    "InternalError",
    "Invalid",
    "MethodNotAllowed",
    "NotFound",
    "RequestEntityTooLarge",
    "ServerTimeout",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "error_from_status",
    "status_body",
]


class ApiError(Exception):
    """An error answer from the apiserver.

    ``status`` is the server's Status object as decoded JSON (or one synthesized from the
    HTTP code when the body was not a Status). ``code`` is the HTTP status code and
    ``reason`` the Status reason, such as ``"NotFound"``.
    """

    default_code = 0
    default_reason = ""

    def __init__(self, status: Mapping[str, Any], code: int | None = None) -> None:
        self.status: dict[str, Any] = dict(status)
        self.code: int = int(code if code is not None else status.get("code") or self.default_code)
        self.reason: str = str(status.get("reason") or self.default_reason)
        self.message: str = str(status.get("message") or self.reason or f"HTTP {self.code}")
        super().__init__(f"{self.code} {self.reason}: {self.message}")

    @property
    def details(self) -> dict[str, Any]:
        """The Status ``details`` (name, kind, causes, retryAfterSeconds), or ``{}``."""
        d = self.status.get("details")
        return d if isinstance(d, dict) else {}


class BadRequest(ApiError):
    """400: the request was malformed (for example an invalid selector)."""

    default_code, default_reason = 400, "BadRequest"


class Unauthorized(ApiError):
    """401: no or wrong credentials."""

    default_code, default_reason = 401, "Unauthorized"


class Forbidden(ApiError):
    """403: the credentials may not do this."""

    default_code, default_reason = 403, "Forbidden"


class NotFound(ApiError):
    """404: the object (or the resource) does not exist."""

    default_code, default_reason = 404, "NotFound"


class MethodNotAllowed(ApiError):
    """405: the resource does not support this verb."""

    default_code, default_reason = 405, "MethodNotAllowed"


class AlreadyExists(ApiError):
    """409 with reason AlreadyExists: a create found the name taken."""

    default_code, default_reason = 409, "AlreadyExists"


class Conflict(ApiError):
    """409 with reason Conflict: a stale resourceVersion or a failed precondition."""

    default_code, default_reason = 409, "Conflict"


class Gone(ApiError):
    """410: the resourceVersion asked for is older than the server keeps (Expired or Gone)."""

    default_code, default_reason = 410, "Expired"


class RequestEntityTooLarge(ApiError):
    """413: the request body is larger than the server accepts."""

    default_code, default_reason = 413, "RequestEntityTooLarge"


class Invalid(ApiError):
    """422: the object failed validation; ``details["causes"]`` says where."""

    default_code, default_reason = 422, "Invalid"


class TooManyRequests(ApiError):
    """429: the server is shedding load; :attr:`retry_after` says how long to wait."""

    default_code, default_reason = 429, "TooManyRequests"

    def __init__(
        self,
        status: Mapping[str, Any],
        code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status, code)
        if retry_after is None:
            ras = self.details.get("retryAfterSeconds")
            retry_after = float(ras) if isinstance(ras, int | float) else None
        self.retry_after: float | None = retry_after


class InternalError(ApiError):
    """500: the server failed."""

    default_code, default_reason = 500, "InternalError"


class ServiceUnavailable(ApiError):
    """503: the server is not ready."""

    default_code, default_reason = 503, "ServiceUnavailable"


class ServerTimeout(ApiError):
    """504 (or reason Timeout): the server gave up on the request."""

    default_code, default_reason = 504, "Timeout"


_BY_REASON: dict[str, type[ApiError]] = {
    "BadRequest": BadRequest,
    "Unauthorized": Unauthorized,
    "Forbidden": Forbidden,
    "NotFound": NotFound,
    "MethodNotAllowed": MethodNotAllowed,
    "AlreadyExists": AlreadyExists,
    "Conflict": Conflict,
    "Gone": Gone,
    "Expired": Gone,
    "RequestEntityTooLarge": RequestEntityTooLarge,
    "Invalid": Invalid,
    "TooManyRequests": TooManyRequests,
    "InternalError": InternalError,
    "ServiceUnavailable": ServiceUnavailable,
    "Timeout": ServerTimeout,
    "ServerTimeout": ServerTimeout,
}

_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    410: Gone,
    413: RequestEntityTooLarge,
    422: Invalid,
    429: TooManyRequests,
    500: InternalError,
    503: ServiceUnavailable,
    504: ServerTimeout,
}


def error_from_status(
    status: Mapping[str, Any] | None,
    code: int,
    retry_after: float | None = None,
) -> ApiError:
    """The most specific :class:`ApiError` for a Status (reason first, then HTTP code).

    ``status`` may be ``None`` or not a Status (a proxy's HTML page, say): the error is
    then built from the HTTP code alone.
    """
    if not isinstance(status, Mapping) or status.get("kind") != "Status":
        status = {"kind": "Status", "code": code, "reason": "", "message": f"HTTP {code}"}
    reason = str(status.get("reason") or "")
    cls = _BY_REASON.get(reason) or _BY_CODE.get(code) or ApiError
    if cls is TooManyRequests:
        return TooManyRequests(status, code, retry_after)
    return cls(status, code)


def status_body(
    code: int,
    reason: str,
    message: str,
    *,
    name: str | None = None,
    group: str | None = None,
    kind: str | None = None,
    causes: list[dict[str, str]] | None = None,
    retry_after_seconds: int | None = None,
) -> dict[str, Any]:
    """A ``metav1.Status`` failure object as kube-apiserver writes it."""
    details: dict[str, Any] = {}
    if name is not None:
        details["name"] = name
    if group is not None:
        details["group"] = group
    if kind is not None:
        details["kind"] = kind
    if causes:
        details["causes"] = causes
    if retry_after_seconds is not None:
        details["retryAfterSeconds"] = retry_after_seconds
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body
