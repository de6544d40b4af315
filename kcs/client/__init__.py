"""kcs.client: talks HTTP to the apiserver.

Configuration (kubeconfig, in-cluster), raw JSON decoding, rate limits, retries and
deadlines taken from the caller's scope. Also the shared vocabulary of every layer above:
resources, typed Status errors, selectors and resourceVersion comparison.
"""

from kcs.client._auth import Credentials
from kcs.client._client import Client, ClientOptions, PatchType
from kcs.client._clienterrors import (
    ApiConnectionError,
    ApiTimeoutError,
    ClientError,
    ConfigError,
    NoMatchError,
    WatchLineTooLong,
)
from kcs.client._codec import (
    DEFAULT_TOP_LEVEL_FIELDS,
    TOP_LEVEL_FIELDS,
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
from kcs.client._config import ClientConfig, default_kubeconfig_path, in_cluster_available
from kcs.client._errors import (
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
from kcs.client._hedging import HedgedReads, HedgeStats
from kcs.client._observer import NOOP_OBSERVER, RequestObserver, RequestRecord
from kcs.client._ratelimit import DEFAULT_BURST, DEFAULT_QPS, RateLimiter, TokenBucket
from kcs.client._resources import BUILTIN_RESOURCES, Resource, builtin, split_api_version
from kcs.client._resourceversion import (
    parse_resource_version,
    resource_version_at_least,
    resource_version_newer,
)
from kcs.client._retry import DEFAULT_RETRY, NO_RETRY, RetryPolicy, parse_retry_after
from kcs.client._selectors import (
    FieldRequirement,
    FieldSelector,
    LabelRequirement,
    LabelSelector,
    SelectorError,
    get_path,
)
from kcs.client._slowrequests import SlowRequestCounter
from kcs.client._transport import DEFAULT_REQUEST_TIMEOUT
from kcs.client._watchstream import DEFAULT_MAX_LINE_SIZE, WatchStream

__all__ = [
    "BUILTIN_RESOURCES",
    "DEFAULT_BURST",
    "DEFAULT_MAX_LINE_SIZE",
    "DEFAULT_QPS",
    "DEFAULT_REQUEST_TIMEOUT",
    "DEFAULT_RETRY",
    "DEFAULT_TOP_LEVEL_FIELDS",
    "NOOP_OBSERVER",
    "NO_RETRY",
    "TOP_LEVEL_FIELDS",
    "AlreadyExists",
    "ApiConnectionError",
    "ApiError",
    "ApiTimeoutError",
    "BadRequest",
    "Client",
    "ClientConfig",
    "ClientError",
    "ClientOptions",
    "Codec",
    "ConfigError",
    "Conflict",
    "Credentials",
    "FieldRequirement",
    "FieldSelector",
    "Forbidden",
    "Gone",
    "HedgeStats",
    "HedgedReads",
    "InternalError",
    "Invalid",
    "LabelRequirement",
    "LabelSelector",
    "ListMeta",
    "MethodNotAllowed",
    "NoMatchError",
    "NotFound",
    "Object",
    "ObjectMeta",
    "ObjectMetaWithManagedFields",
    "OwnerReference",
    "PatchType",
    "RateLimiter",
    "RequestEntityTooLarge",
    "RequestObserver",
    "RequestRecord",
    "Resource",
    "RetryPolicy",
    "SelectorError",
    "ServerTimeout",
    "ServiceUnavailable",
    "SlowRequestCounter",
    "TokenBucket",
    "TooManyRequests",
    "Unauthorized",
    "WatchEventType",
    "WatchLineTooLong",
    "WatchStream",
    "builtin",
    "codec_for",
    "decode_list",
    "decode_object",
    "decode_watch_event",
    "default_kubeconfig_path",
    "encode_object",
    "error_from_status",
    "get_path",
    "in_cluster_available",
    "object_from_dict",
    "parse_resource_version",
    "parse_retry_after",
    "resource_version_at_least",
    "resource_version_newer",
    "split_api_version",
    "status_body",
]
