"""The Status errors the fake apiserver answers with, worded as kube-apiserver words them.

Every helper returns one of the error classes of :mod:`kcs.core` (named here by their
package: ``core.NotFound``, the classes :mod:`kcs.client` raises) carrying a ``metav1.Status``
built by :func:`kcs.core.status_body`, so the server and the client share one vocabulary:
the handlers raise these and serialize ``err.status`` with ``err.code``.
"""

from __future__ import annotations

from kcs import core
from kcs.core import Resource, status_body

__all__ = [
    "already_exists",
    "bad_request",
    "conflict",
    "entity_too_large",
    "expired",
    "forbidden",
    "internal_error",
    "invalid",
    "invalid_options",
    "method_not_allowed",
    "not_acceptable",
    "not_found",
    "too_large_resource_version",
    "too_many_requests",
    "unauthorized",
    "unsupported_media_type",
]


def _group(resource: Resource | None) -> str | None:
    return resource.group or None if resource is not None else None


def not_found(resource: Resource | None, name: str, plural: str | None = None) -> core.NotFound:
    """404 ``pods "x" not found`` (``details.kind`` is the plural, as kube writes it)."""
    kind = plural or (resource.plural if resource else "")
    what = f"{kind}.{resource.group}" if resource and resource.group else kind
    msg = (f'{what} "{name}" not found' if name
           else "the server could not find the requested resource")
    return core.NotFound(status_body(404, "NotFound", msg, name=name or None,
                                     group=_group(resource), kind=kind or None))


def already_exists(resource: Resource, name: str) -> core.AlreadyExists:
    """409 AlreadyExists: a create found the name taken."""
    msg = f'{_qualified(resource)} "{name}" already exists'
    return core.AlreadyExists(status_body(409, "AlreadyExists", msg, name=name,
                                          group=_group(resource), kind=resource.plural))


def conflict(resource: Resource, name: str, why: str, *, qualified: str | None = None,
             kind: str | None = None) -> core.Conflict:
    """409 Conflict: a stale resourceVersion or a failed precondition.

    ``qualified`` and ``kind`` replace the resource in the message and in ``details.kind``
    (the delete preconditions name the kind: ``Operation cannot be fulfilled on Pod "p"``)."""
    msg = f'Operation cannot be fulfilled on {qualified or _qualified(resource)} "{name}": {why}'
    return core.Conflict(
        status_body(409, "Conflict", msg, name=name, group=_group(resource),
                    kind=kind or resource.plural)
    )


def invalid(resource: Resource | None, name: str, causes: list[tuple[str, str, str]],
            *, kind: str | None = None, group: str | None = None) -> core.Invalid:
    """422 Invalid with ``details.causes``; each cause is ``(reason, field, message)``.

    The message is kube's: ``Deployment.apps "web" is invalid: <errors>``, the errors
    joined as an aggregate error (one alone, several as ``[a, b]``, repeats dropped).
    ``kind``/``group`` override the resource's (``PatchOptions``/``meta.k8s.io`` for an
    options error; both empty for the kind-less ``"" is invalid`` of a rejected patch).
    """
    kind = resource.kind if kind is None and resource is not None else kind or ""
    group = _group(resource) if group is None else group or None
    qualified = f"{kind}.{group}" if group else kind
    msg = f'{qualified} "{name}" is invalid'
    seen: list[str] = []
    for _, f, m in causes:
        text = f"{f}: {m}" if f else m
        if text not in seen:
            seen.append(text)
    if seen:
        msg += ": " + (seen[0] if len(seen) == 1 else "[" + ", ".join(seen) + "]")
    return core.Invalid(
        status_body(
            422,
            "Invalid",
            msg,
            name=name or None,
            group=group,
            kind=kind or None,
            causes=[{"reason": r, "message": m, **({"field": f} if f else {})}
                    for r, f, m in causes],
        )
    )


OptionError = tuple[str, str, str]
"""One ``field.Error`` of an options check: ``(reason, field, body)``, where ``body`` is
what kube's ``ErrorBody()`` prints (``Forbidden: ...``, ``Unsupported value: ...``)."""


def invalid_options(kind: str, errors: list[OptionError]) -> core.Invalid:
    """422 Invalid for request options, as ``errors.NewInvalid`` words it for
    ``ListOptions.meta.k8s.io`` (and the other ``meta.k8s.io`` option kinds): one error
    is printed as is, several as ``[a, b]``; each is also a ``details.causes`` entry."""
    texts = [f"{f}: {body}" for _, f, body in errors]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    body = status_body(422, "Invalid", f'{kind}.meta.k8s.io "" is invalid: {joined}',
                       group="meta.k8s.io", kind=kind,
                       causes=[{"reason": r, "message": b, "field": f} for r, f, b in errors])
    return core.Invalid(body)


def bad_request(message: str) -> core.BadRequest:
    """400 BadRequest with ``message``."""
    return core.BadRequest(status_body(400, "BadRequest", message))


def unauthorized() -> core.Unauthorized:
    """401 Unauthorized, as for a request without the expected bearer token."""
    return core.Unauthorized(status_body(401, "Unauthorized", "Unauthorized"))


def forbidden(resource: Resource, name: str, message: str,
              causes: list[dict[str, str]] | None = None) -> core.Forbidden:
    """403 Forbidden (for example: creating content in a terminating namespace)."""
    msg = f'{_qualified(resource)} "{name}" is forbidden: {message}'
    return core.Forbidden(
        status_body(403, "Forbidden", msg, name=name, group=_group(resource),
                    kind=resource.plural, causes=causes)
    )


def method_not_allowed(verb: str, resource: Resource | None) -> core.MethodNotAllowed:
    """405 MethodNotAllowed: the resource does not support this verb."""
    what = _qualified(resource) if resource else "this resource"
    return core.MethodNotAllowed(
        status_body(405, "MethodNotAllowed", f"the server does not allow this method ({verb}) on "
                    f"the requested resource ({what})")
    )


def not_acceptable(accept: str) -> core.ApiError:
    """406 NotAcceptable: none of the media types the client accepts can be served."""
    return core.ApiError(status_body(406, "NotAcceptable",
                                     "only the following media types are accepted: "
                                     f"application/json (asked for {accept})"), 406)


def expired(message: str) -> core.Gone:
    """410 Expired: a resourceVersion or continue token older than the history kept."""
    return core.Gone(status_body(410, "Expired", message))


def entity_too_large(limit: int) -> core.RequestEntityTooLarge:
    """413 RequestEntityTooLarge: the body is over the server's limit."""
    return core.RequestEntityTooLarge(
        status_body(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")
    )


def unsupported_media_type(message: str) -> core.ApiError:
    """415 UnsupportedMediaType (for example: a strategic merge patch on a custom resource)."""
    return core.ApiError(status_body(415, "UnsupportedMediaType", message), 415)


def too_many_requests(retry_after: int) -> core.TooManyRequests:
    """429 TooManyRequests with ``details.retryAfterSeconds`` (the handler adds Retry-After)."""
    return core.TooManyRequests(
        status_body(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
            retry_after_seconds=retry_after,
        ),
        retry_after=float(retry_after),
    )


def internal_error(message: str) -> core.InternalError:
    """500 InternalError."""
    return core.InternalError(
        status_body(500, "InternalError", f"Internal error occurred: {message}"))


def too_large_resource_version(asked: int, current: int) -> core.ServerTimeout:
    """504 Timeout: the resourceVersion asked for is newer than the server has reached."""
    body = status_body(
        504,
        "Timeout",
        f"Too large resource version: {asked}, current: {current}",
        causes=[{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
        retry_after_seconds=1,
    )
    return core.ServerTimeout(body)


def _qualified(resource: Resource) -> str:
    return f"{resource.plural}.{resource.group}" if resource.group else resource.plural
