"""List and watch options: parsing the query, validating it as kube does, continue tokens."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from kcs.core import FieldSelector, LabelSelector, SelectorError, parse_resource_version
from kcs.testing._status import OptionError, bad_request, invalid_options

__all__ = ["ListOptions", "decode_continue", "encode_continue", "parse_bool", "parse_list_options"]

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_bool(name: str, value: str | None) -> bool | None:
    """Go's ``strconv.ParseBool`` (``None`` when absent); 400 BadRequest when malformed."""
    if value is None:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE or value == "":
        return False
    raise bad_request(f"invalid boolean value for {name}: {value!r}")


@dataclass(frozen=True, slots=True)
class ListOptions:
    """The ``metav1.ListOptions`` of one list or watch request."""

    label: LabelSelector = field(default_factory=LabelSelector)
    field: FieldSelector = field(default_factory=FieldSelector)
    resource_version: str = ""
    resource_version_match: str = ""
    limit: int = 0
    continue_token: str = ""
    watch: bool = False
    allow_bookmarks: bool = False
    send_initial_events: bool | None = None
    timeout_seconds: int | None = None

    @property
    def rv(self) -> int | None:
        """The resourceVersion as an integer (``None`` when empty)."""
        return parse_resource_version(self.resource_version)


def _int(name: str, value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        n = int(value)
    except ValueError:
        raise bad_request(f"invalid value for {name}: {value!r}") from None
    if n < 0:
        raise bad_request(f"{name}: Invalid value: {n}: must be greater than or equal to 0")
    return n


def parse_list_options(query: Mapping[str, str], *, watch_default: bool = False) -> ListOptions:
    """Parse and validate list/watch query parameters; 400 BadRequest when they are wrong."""
    try:
        label = LabelSelector.parse(query.get("labelSelector"))
    except SelectorError as e:
        raise bad_request(f"unable to parse requested label selector: {e}") from None
    try:
        fsel = FieldSelector.parse(query.get("fieldSelector"))
    except SelectorError as e:
        raise bad_request(f"unable to parse requested field selector: {e}") from None
    watch = bool(parse_bool("watch", query.get("watch"))) or watch_default
    rv = query.get("resourceVersion") or ""
    match = query.get("resourceVersionMatch") or ""
    sie = parse_bool("sendInitialEvents", query.get("sendInitialEvents"))
    opts = ListOptions(
        label=label,
        field=fsel,
        resource_version=rv,
        resource_version_match=match,
        limit=_int("limit", query.get("limit")) or 0,
        continue_token=query.get("continue") or "",
        watch=watch,
        allow_bookmarks=bool(parse_bool("allowWatchBookmarks", query.get("allowWatchBookmarks"))),
        send_initial_events=sie if query.get("sendInitialEvents") not in (None, "") else None,
        timeout_seconds=_int("timeoutSeconds", query.get("timeoutSeconds")),
    )
    _validate(opts)
    return opts


def _forbidden(field_: str, detail: str) -> OptionError:
    return ("FieldValueForbidden", field_, f"Forbidden: {detail}")


def _not_supported(field_: str, value: str, supported: tuple[str, ...]) -> OptionError:
    quoted = ", ".join(f'"{v}"' for v in supported)
    return ("FieldValueNotSupported", field_,
            f'Unsupported value: "{value}": supported values: {quoted}')


def _validate(o: ListOptions) -> None:
    # kube-apiserver's ValidateListOptions (apimachinery's meta internalversion validation):
    # the same checks, in the same order, answered as 422 Invalid ListOptions with causes.
    if o.resource_version and o.rv is None:
        raise bad_request(
            f'resourceVersion: Invalid value: "{o.resource_version}": '
            "must be a decimal integer"
        )
    errors: list[OptionError] = []
    match = o.resource_version_match
    if o.watch:
        if o.send_initial_events is not None and match != "NotOlderThan":
            errors.append(_forbidden("resourceVersionMatch", "sendInitialEvents requires "
                                     "setting resourceVersionMatch to NotOlderThan"))
        if match:
            if o.send_initial_events is None:
                errors.append(_forbidden("resourceVersionMatch", "resourceVersionMatch is "
                                         "forbidden for watch unless sendInitialEvents is "
                                         "provided"))
            if match != "NotOlderThan":
                errors.append(_not_supported("resourceVersionMatch", match, ("NotOlderThan",)))
            if o.continue_token:
                errors.append(_forbidden("resourceVersionMatch", "resourceVersionMatch is "
                                         "forbidden when continue is provided"))
    else:
        if match:
            if not o.resource_version:
                errors.append(_forbidden("resourceVersionMatch", "resourceVersionMatch is "
                                         "forbidden unless resourceVersion is provided"))
            if o.continue_token:
                errors.append(_forbidden("resourceVersionMatch", "resourceVersionMatch is "
                                         "forbidden when continue is provided"))
            if match not in ("Exact", "NotOlderThan"):
                errors.append(_not_supported("resourceVersionMatch", match,
                                             ("Exact", "NotOlderThan", "")))
            if match == "Exact" and o.resource_version == "0":
                errors.append(_forbidden("resourceVersionMatch", 'resourceVersionMatch "exact" '
                                         'is forbidden for resourceVersion "0"'))
        if o.send_initial_events is not None:
            errors.append(_forbidden("sendInitialEvents", "sendInitialEvents is forbidden for "
                                     "list"))
    if errors:
        raise invalid_options("ListOptions", errors)
    if o.continue_token and o.resource_version and o.resource_version != "0":
        raise bad_request("specifying resource version is not allowed when using continue")


def encode_continue(rv: int, last_key: str) -> str:
    """An opaque continue token: the list's revision and the last key returned."""
    raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": last_key})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    """``(revision, last_key)`` from a continue token; 400 BadRequest when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
        rv, start = data["rv"], data["start"]
        if not isinstance(rv, int) or not isinstance(start, str) or rv <= 0:
            raise ValueError("bad fields")
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                          "(version meta.k8s.io/v1)") from None
    return rv, start
