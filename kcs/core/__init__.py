"""kcs.core: the vocabulary every layer shares. Pure types, no I/O.

* The object model: :class:`Object` (typed :class:`ObjectMeta` plus the raw JSON of the
  rest), :class:`ListMeta`, :class:`OwnerReference`, and the :class:`Codec` that decodes
  objects, lists and watch events into it.
* :class:`ObjectKey`: namespace and name, the key caches and work queues use.
* :class:`Reader`: the one read interface the caches, the live client and the
  consistent reader implement, and :class:`ObjectList`, what its ``list`` returns.
* :class:`Resource`: one REST resource (group, version, plural, kind, scope) and the
  built-in ones (:func:`builtin`).
* Label and field selectors, parsed once and matched many times.
* resourceVersion comparison, in one place.
* The typed errors that carry an apiserver ``Status`` (:class:`ApiError` and its
  subclasses).

Importing ``kcs.core`` loads no HTTP library: the fake apiserver, the client and every
layer above build on it.
"""

from kcs.core._codec import (
    DEFAULT_TOP_LEVEL_FIELDS,
    TOP_LEVEL_FIELDS,
    BodySpans,
    Codec,
    ListMeta,
    Object,
    ObjectMeta,
    ObjectMetaWithManagedFields,
    OwnerReference,
    WatchEventType,
    codec_for,
    decode_list,
    decode_object,
    decode_watch_event,
    encode_object,
    object_from_dict,
)
from kcs.core._errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    InternalError,
    Invalid,
    MethodNotAllowed,
    NotFound,
    RequestEntityTooLarge,
    ServerTimeout,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    error_from_status,
    status_body,
)
from kcs.core._fields import FieldReader, field_reader, field_value
from kcs.core._key import ObjectKey
from kcs.core._reader import ObjectList, Reader, Selectors
from kcs.core._resources import BUILTIN_RESOURCES, Resource, builtin, split_api_version
from kcs.core._resourceversion import (
    parse_resource_version,
    resource_version_at_least,
    resource_version_newer,
)
from kcs.core._selectors import (
    FieldRequirement,
    FieldSelector,
    FieldSelectorLike,
    LabelRequirement,
    LabelSelector,
    LabelSelectorLike,
    SelectorError,
    get_path,
)

__all__ = [
    "BUILTIN_RESOURCES",
    "DEFAULT_TOP_LEVEL_FIELDS",
    "TOP_LEVEL_FIELDS",
    "AlreadyExists",
    "ApiError",
    "BadRequest",
    "BodySpans",
    "Codec",
    "Conflict",
    "FieldReader",
    "FieldRequirement",
    "FieldSelector",
    "FieldSelectorLike",
    "Forbidden",
    "Gone",
    "InternalError",
    "Invalid",
    "LabelRequirement",
    "LabelSelector",
    "LabelSelectorLike",
    "ListMeta",
    "MethodNotAllowed",
    "NotFound",
    "Object",
    "ObjectKey",
    "ObjectList",
    "ObjectMeta",
    "ObjectMetaWithManagedFields",
    "OwnerReference",
    "Reader",
    "RequestEntityTooLarge",
    "Resource",
    "SelectorError",
    "Selectors",
    "ServerTimeout",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "WatchEventType",
    "builtin",
    "codec_for",
    "decode_list",
    "decode_object",
    "decode_watch_event",
    "encode_object",
    "error_from_status",
    "field_reader",
    "field_value",
    "get_path",
    "object_from_dict",
    "parse_resource_version",
    "resource_version_at_least",
    "resource_version_newer",
    "split_api_version",
    "status_body",
]
