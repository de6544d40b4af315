"""kcs.client: talks HTTP to the apiserver.

Configuration (kubeconfig, in-cluster), authentication, rate limits, retries, deadlines
taken from the caller's scope, fences checked at the moment a request is sent,
discovery, and the raw list and watch streams the layers above decode. The types it
speaks in (objects, resources, selectors, Status errors) are in :mod:`kcs.core`.
"""

from kcs.client._auth import Credentials
from kcs.client._client import (
    Client,
    ClientOptions,
    GetParams,
    ListParams,
    PatchParams,
    PatchType,
    ReplaceParams,
    StatusPatchParams,
    WatchParams,
    WriteParams,
)
from kcs.client._clienterrors import (
    ApiConnectionError,
    ApiTimeoutError,
    ClientError,
    ConfigError,
    NoMatchError,
    WatchLineTooLong,
)
from kcs.client._config import ClientConfig, default_kubeconfig_path, in_cluster_available
from kcs.client._fence import Fence, FencedError, current_fences, fenced
from kcs.client._hedging import HedgedReads, HedgeStats
from kcs.client._hooks import WriteHook
from kcs.client._observer import NOOP_OBSERVER, RequestObserver, RequestRecord
from kcs.client._ratelimit import DEFAULT_BURST, DEFAULT_QPS, RateLimiter, TokenBucket
from kcs.client._retry import DEFAULT_RETRY, NO_RETRY, RetryPolicy, parse_retry_after
from kcs.client._slowrequests import SlowRequestCounter
from kcs.client._transport import DEFAULT_REQUEST_TIMEOUT
from kcs.client._watchstream import DEFAULT_MAX_LINE_SIZE, WatchStream

__all__ = [
    "DEFAULT_BURST",
    "DEFAULT_MAX_LINE_SIZE",
    "DEFAULT_QPS",
    "DEFAULT_REQUEST_TIMEOUT",
    "DEFAULT_RETRY",
    "NOOP_OBSERVER",
    "NO_RETRY",
    "ApiConnectionError",
    "ApiTimeoutError",
    "Client",
    "ClientConfig",
    "ClientError",
    "ClientOptions",
    "ConfigError",
    "Credentials",
    "Fence",
    "FencedError",
    "GetParams",
    "HedgeStats",
    "HedgedReads",
    "ListParams",
    "NoMatchError",
    "PatchParams",
    "PatchType",
    "RateLimiter",
    "ReplaceParams",
    "RequestObserver",
    "RequestRecord",
    "RetryPolicy",
    "SlowRequestCounter",
    "StatusPatchParams",
    "TokenBucket",
    "WatchLineTooLong",
    "WatchParams",
    "WatchStream",
    "WriteHook",
    "WriteParams",
    "current_fences",
    "default_kubeconfig_path",
    "fenced",
    "in_cluster_available",
    "parse_retry_after",
]
