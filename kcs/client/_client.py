# ruff: noqa: ASYNC109  (a per-call timeout= is part of the API; it narrows the caller's deadline)
"""The :class:`Client`: Kubernetes verbs over HTTP, answers as :class:`~kcs.core.Object`.

Every verb decodes its answer with the same codec the informer caches use
(:func:`kcs.core.codec_for`: typed metadata, the rest kept as raw JSON, ``managedFields``
stripped unless the client keeps them), so an object read live and one read from a cache
are the same type and look the same. :meth:`Client.list_raw`, :meth:`Client.get_raw`
and :meth:`Client.watch_raw` hand the undecoded bytes to the layers above, which decode
them with codecs of their own. The client implements :class:`kcs.core.Reader`.
"""

from __future__ import annotations

import builtins
import logging
import os
import platform
import sys
from collections.abc import Callable, Mapping
from typing import Any, Literal, Self, TypedDict, Unpack

import orjson

from kcs import __version__
from kcs.client._auth import Credentials
from kcs.client._clienterrors import ConfigError
from kcs.client._config import (
    ClientConfig,
    in_cluster_available,
    load_in_cluster_config,
    load_kubeconfig,
)
from kcs.client._discovery import Discovery
from kcs.client._hedging import HedgedReads
from kcs.client._hooks import WriteHook, WriteHooks
from kcs.client._observer import NOOP_OBSERVER, RequestObserver
from kcs.client._ratelimit import DEFAULT_BURST, DEFAULT_QPS, RateLimiter, TokenBucket
from kcs.client._requests import (
    JSON,
    PATCH_CONTENT_TYPES,
    Body,
    PatchBody,
    PatchType,
    encode_body,
    list_query,
    metadata_of,
    write_query,
)
from kcs.client._retry import DEFAULT_RETRY, RetryPolicy
from kcs.client._transport import DEFAULT_REQUEST_TIMEOUT, Transport
from kcs.client._watchstream import DEFAULT_MAX_LINE_SIZE, WatchStream
from kcs.core import (
    Codec,
    FieldSelectorLike,
    LabelSelectorLike,
    NotFound,
    Object,
    ObjectList,
    Resource,
    Selectors,
    codec_for,
)

__all__ = [
    "Client",
    "ClientOptions",
    "GetParams",
    "ListParams",
    "PatchParams",
    "PatchType",
    "ReplaceParams",
    "StatusPatchParams",
    "WatchParams",
    "WriteParams",
]

_log = logging.getLogger("kcs.client")

ResourceLike = Resource | str


class ClientOptions(TypedDict, total=False):
    """Keyword options accepted by every way of building a :class:`Client`."""

    qps: float | None
    """Sustained requests per second (default 50); ``None`` or 0 disables rate limiting."""
    burst: int
    """Requests allowed at once after a pause (default 100)."""
    rate_limiter: RateLimiter | None
    """A limiter to use instead of one built from ``qps``/``burst`` (share one between
    clients to give them a common budget)."""
    retry: RetryPolicy
    """When to retry (default :data:`~kcs.client.DEFAULT_RETRY`)."""
    request_timeout: float
    """Seconds a non-watch call may take when the caller set no deadline (default 60)."""
    user_agent_suffix: str | None
    """Appended to the User-Agent, e.g. the replica's identity."""
    observer: RequestObserver
    """Sees every finished call (default: none)."""
    max_watch_line_size: int
    """Longest watch line accepted, in bytes (default 16 MiB)."""
    connection_limit: int
    """Most simultaneous connections to the apiserver (default 100)."""
    hedging: HedgedReads | None
    """Hedge slow ``get`` and ``list`` calls with a second request (default: none)."""
    keep_managed_fields: bool
    """Keep ``metadata.managedFields`` in decoded answers (stripped by default, as in the
    caches)."""


class GetParams(TypedDict, total=False):
    """The keyword parameters of :meth:`Client.get` and :meth:`Client.get_raw`."""

    subresource: str | None
    """Read this subresource (``"status"``, ``"scale"``) instead of the object."""
    timeout: float | None
    """Seconds this call may take (default: the caller's deadline, else the client's
    ``request_timeout``)."""


class ListParams(Selectors, total=False):
    """The keyword parameters of :meth:`Client.list` and :meth:`Client.list_raw`: the
    selectors (validated before sending) and these."""
    limit: int | None
    """At most this many items; the answer's continue token fetches the next page."""
    continue_: str | None
    """The continue token of the previous page."""
    resource_version: str | None
    """Read at (or not older than, with ``resource_version_match``) this resourceVersion;
    none: a quorum read of the current state."""
    resource_version_match: str | None
    """``"NotOlderThan"`` or ``"Exact"``."""
    timeout: float | None
    """Seconds this call may take (default: the caller's deadline, else the client's
    ``request_timeout``)."""


class WatchParams(TypedDict, total=False):
    """The keyword parameters of :meth:`Client.watch_raw`."""

    resource_version: str | None
    """Start after this resourceVersion (none: synthetic ADDED events for every object
    first, then the changes)."""
    allow_watch_bookmarks: bool
    """Ask for BOOKMARK events (default ``True``)."""
    send_initial_events: bool | None
    """A streaming list: every object as ADDED, then a bookmark marking the end."""
    resource_version_match: str | None
    """``"NotOlderThan"`` (with ``send_initial_events``)."""
    timeout_seconds: int | None
    """Ask the server to end the watch after this long."""
    label_selector: LabelSelectorLike
    """As for :class:`ListParams`."""
    field_selector: FieldSelectorLike
    """As for :class:`ListParams`."""
    timeout: float | None
    """Seconds the start of the watch may take (not the stream)."""
    read_timeout: float | None
    """Longest wait for data once started (default: none)."""
    max_line_size: int | None
    """Longest line accepted (default: the client's ``max_watch_line_size``)."""


class WriteParams(TypedDict, total=False):
    """The keyword parameters every write takes (:meth:`Client.create`, :meth:`Client.update`,
    :meth:`Client.update_status`, and with more, :meth:`Client.replace` and the patches)."""

    field_manager: str | None
    """The manager named in ``managedFields`` (required by an ``apply`` patch)."""
    dry_run: bool
    """Validate and answer as if written, without storing (write hooks are not told)."""
    timeout: float | None
    """Seconds this call may take (default: the caller's deadline, else the client's
    ``request_timeout``)."""


class ReplaceParams(WriteParams, total=False):
    """The keyword parameters of :meth:`Client.replace`."""

    subresource: str | None
    """Write this subresource (``"status"``) instead of the object."""


class StatusPatchParams(WriteParams, total=False):
    """The keyword parameters of :meth:`Client.patch_status`."""

    type: PatchType
    """The patch format (default ``"merge"``; ``"json"`` takes a list of operations)."""
    force: bool | None
    """With ``type="apply"``: take over fields other managers own."""


class PatchParams(StatusPatchParams, total=False):
    """The keyword parameters of :meth:`Client.patch`."""

    subresource: str | None
    """Patch this subresource (``"status"``, ``"scale"``) instead of the object."""


def _user_agent(suffix: str | None) -> str:
    base = f"kcs/{__version__} (Python {platform.python_version()}; {sys.platform})"
    return f"{base} {suffix}" if suffix else base





class Client:
    """An asynchronous Kubernetes API client for one apiserver.

    Build one with :meth:`from_kubeconfig`, :meth:`in_cluster`, :meth:`auto` or
    :meth:`from_url`, use it as ``async with client:`` (or call :meth:`close`), and share
    it: it holds one connection pool, one rate limiter and one discovery cache.

    Guarantees of every call:

    * it is rate limited (token bucket, default 50 QPS, burst 100), 429 answers are waited
      out as the server asks (any verb), and 5xx answers and connection errors are retried
      with backoff for GET only -- see :class:`~kcs.client.RetryPolicy`;
    * it ends by the caller's deadline (``anyio.current_effective_deadline()``), or by its
      ``timeout=`` (raising :class:`~kcs.client.ApiTimeoutError`), or else within the
      client's ``request_timeout``; cancelling the caller aborts the HTTP request;
    * an error answer raises the typed :class:`~kcs.core.ApiError` carrying the server's
      Status; no answer raises :class:`~kcs.client.ApiConnectionError`.

    Namespaced resources: ``namespace=None`` means, for :meth:`list` and
    :meth:`watch_raw`, all namespaces; for the other verbs, the body's
    ``metadata.namespace`` if there is a body, else the client's default :attr:`namespace`
    (from the kubeconfig context or the pod's service account; ``"default"`` otherwise).
    Resources may be given as a :class:`~kcs.core.Resource` or by name (``"pods"``,
    ``"deployments.apps"``, resolved by :meth:`resource`).

    Answers are immutable :class:`~kcs.core.Object` values (``obj.to_dict()`` gives a
    mutable copy to edit and write back). :meth:`get` returns ``None`` for an object that
    does not exist (a 404 about another thing, such as a resource the server does not
    serve, still raises :class:`~kcs.core.NotFound`). Write hooks (:meth:`add_write_hook`)
    see every object a write stored. The client's ``repr`` never shows credentials. The
    client is for asyncio (aiohttp); call it from anyio code on the asyncio backend.
    """

    def __init__(self, config: ClientConfig, **options: Unpack[ClientOptions]) -> None:
        self.config = config
        if "rate_limiter" in options:
            limiter = options["rate_limiter"]
        else:
            qps = options.get("qps", DEFAULT_QPS)
            limiter = TokenBucket(qps, options.get("burst", DEFAULT_BURST)) if qps else None
        self._user_agent = _user_agent(options.get("user_agent_suffix"))
        self._transport = Transport(
            config,
            user_agent=self._user_agent,
            rate_limiter=limiter,
            retry=options.get("retry", DEFAULT_RETRY),
            request_timeout=options.get("request_timeout", DEFAULT_REQUEST_TIMEOUT),
            observer=options.get("observer", NOOP_OBSERVER),
            connection_limit=options.get("connection_limit", 100),
            hedging=options.get("hedging"),
        )
        self._max_line = options.get("max_watch_line_size", DEFAULT_MAX_LINE_SIZE)
        self._keep_managed_fields = options.get("keep_managed_fields", False)
        self._discovery = Discovery(self._get_discovery_document)
        self._write_hooks = WriteHooks()

    # -- construction ---------------------------------------------------------------

    @classmethod
    async def from_kubeconfig(
        cls,
        path: str | None = None,
        context: str | None = None,
        **options: Unpack[ClientOptions],
    ) -> Self:
        """A client for a kubeconfig's current context (or ``context``).

        ``path`` defaults to ``$KUBECONFIG`` or ``~/.kube/config``. Raises
        :class:`~kcs.client.ConfigError` when it cannot be loaded.
        """
        return cls(await load_kubeconfig(path, context), **options)

    @classmethod
    async def in_cluster(
        cls,
        *,
        token_file: str | None = None,
        ca_file: str | None = None,
        namespace_file: str | None = None,
        environ: Mapping[str, str] | None = None,
        **options: Unpack[ClientOptions],
    ) -> Self:
        """A client for the cluster this pod runs in (its service account).

        The paths default to the service-account mount; ``environ`` to ``os.environ``.
        Raises :class:`~kcs.client.ConfigError` outside a pod.
        """
        config = load_in_cluster_config(
            token_file=token_file, ca_file=ca_file, namespace_file=namespace_file, environ=environ
        )
        return cls(config, **options)

    @classmethod
    async def auto(cls, **options: Unpack[ClientOptions]) -> Self:
        """The client a controller usually wants, found as controller-runtime does.

        ``$KUBECONFIG`` if set; else the in-cluster configuration inside a pod; else
        ``~/.kube/config``.
        """
        if os.environ.get("KUBECONFIG") or not in_cluster_available():
            return await cls.from_kubeconfig(**options)
        try:
            return await cls.in_cluster(**options)
        except ConfigError:
            return await cls.from_kubeconfig(**options)

    @classmethod
    def from_url(
        cls,
        url: str,
        token: str | None = None,
        *,
        ca_file: str | None = None,
        ca_data: str | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
        verify: bool = True,
        tls_server_name: str | None = None,
        namespace: str = "default",
        **options: Unpack[ClientOptions],
    ) -> Self:
        """A client for ``url`` with an optional bearer ``token``.

        TLS is verified against the system roots, or ``ca_file`` / ``ca_data`` (PEM) when
        given; ``verify=False`` disables verification (a warning is logged).
        """
        config = ClientConfig(
            server=url,
            credentials=Credentials.bearer(token) if token else Credentials(),
            ca_file=ca_file,
            ca_data=ca_data,
            client_cert=client_cert,
            client_key=client_key,
            verify=verify,
            tls_server_name=tls_server_name,
            namespace=namespace,
        )
        if config.uses_tls and not verify:
            _log.warning(
                "TLS verification is OFF for %s (verify=False)", config.server
            )
        return cls(config, **options)

    # -- lifecycle and properties ---------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection pool; open watch streams are cut. Idempotent."""
        await self._transport.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._transport.closed

    @property
    def server(self) -> str:
        """The apiserver's base URL."""
        return self.config.server

    @property
    def namespace(self) -> str:
        """The default namespace for namespaced verbs that were given none."""
        return self.config.namespace

    @property
    def user_agent(self) -> str:
        """The User-Agent sent with every request."""
        return self._user_agent

    @property
    def rate_limiter(self) -> RateLimiter | None:
        """The client-side rate limiter (``None``: unlimited)."""
        return self._transport.rate_limiter

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy."""
        return self._transport.retry

    @property
    def observer(self) -> RequestObserver:
        """The request observer; assign to replace it (for metrics)."""
        return self._transport.observer

    @observer.setter
    def observer(self, observer: RequestObserver) -> None:
        self._transport.observer = observer

    @property
    def hedging(self) -> HedgedReads | None:
        """The hedging policy of ``get`` and ``list`` (``None``: not hedged)."""
        return self._transport.hedging

    def add_write_hook(self, hook: WriteHook) -> Callable[[], None]:
        """Call ``hook(resource, obj)`` after every successful write that stored ``obj``
        (see :data:`~kcs.client.WriteHook`); returns a function that removes it."""
        return self._write_hooks.add(hook)

    def codec(self, resource: Resource) -> Codec:
        """The codec this client decodes ``resource``'s objects with."""
        return codec_for(resource.kind, keep_managed_fields=self._keep_managed_fields)

    def __repr__(self) -> str:
        return f"Client(server={self.server!r}, user_agent={self._user_agent!r})"

    # -- discovery ------------------------------------------------------------------

    async def _get_discovery_document(self, path: str) -> Any:
        data = await self._transport.request("GET", path, verb="discovery", resource=path)
        return orjson.loads(data)

    async def discover(self, group_version: str | None = None) -> builtins.list[Resource]:
        """Read the server's discovery (everything, or one ``group/version``) into the
        cache and return the resources it lists."""
        return await self._discovery.refresh(group_version)

    async def resource_for(self, api_version: str, kind: str) -> Resource:
        """The resource serving ``kind`` in ``api_version`` (``"apps/v1"``, ``"Deployment"``).

        Built-ins need no request; others are discovered (once, then cached; read again
        on a miss). Raises :class:`~kcs.client.NoMatchError`.
        """
        return await self._discovery.resource_for(api_version, kind)

    async def resource(self, name: str) -> Resource:
        """The resource called ``name``: ``"pods"``, ``"pod"``, ``"po"``, ``"Pod"``,
        ``"deployments.apps"``, ``"deployments.v1.apps"``. Raises
        :class:`~kcs.client.NoMatchError`."""
        return await self._discovery.resource(name)

    async def _resolve(self, resource: ResourceLike) -> Resource:
        if isinstance(resource, Resource):
            return resource
        return await self._discovery.resource(resource)

    def _namespace(
        self, res: Resource, namespace: str | None, body: Body | None = None
    ) -> str | None:
        if not res.namespaced:
            return None
        if namespace:
            return namespace
        if body is not None:
            ns = metadata_of(body)[1]
            if ns:
                return ns
        return self.config.namespace

    @staticmethod
    def _name(body: Body) -> str:
        name = metadata_of(body)[0]
        if not name:
            raise ValueError("the body has no metadata.name")
        return name

    @staticmethod
    def _label(res: Resource, subresource: str | None) -> str:
        return f"{res}/{subresource}" if subresource else str(res)

    async def _write(
        self,
        res: Resource,
        method: str,
        path: str,
        verb: str,
        label: str,
        *,
        query: Mapping[str, str],
        body: bytes | None,
        content_type: str | None,
        timeout: float | None,
        dry_run: bool,
    ) -> Object | None:
        """Send a write; decode the stored object (``None`` for a Status answer) and tell
        the write hooks about it."""
        data = await self._transport.request(
            method,
            path,
            verb=verb,
            resource=label,
            query=query,
            body=body,
            content_type=content_type,
            timeout=timeout,
        )
        obj = self.codec(res).decode_object(data)
        if obj.kind == "Status" and obj.api_version == "v1" and not obj.metadata.name:
            return None
        if not dry_run and len(self._write_hooks):
            self._write_hooks.written(res, obj)
        return obj

    async def _write_object(
        self,
        res: Resource,
        method: str,
        path: str,
        verb: str,
        label: str,
        body: bytes,
        content_type: str,
        params: WriteParams,
        *,
        force: bool | None = None,
    ) -> Object:
        """Send a write of ``body`` with the parameters every write takes (field manager,
        dry run, timeout; ``force`` for an apply patch) and return the object as stored
        (an answer that is a Status raises ``ValueError``)."""
        dry_run = params.get("dry_run", False)
        query = write_query(params.get("field_manager"), dry_run)
        if force is not None:
            query["force"] = "true" if force else "false"
        obj = await self._write(
            res, method, path, verb, label, query=query, body=body,
            content_type=content_type, timeout=params.get("timeout"), dry_run=dry_run,
        )
        if obj is None:
            raise ValueError(f"{verb} {path} was answered with a Status, not the object")
        return obj

    # -- verbs ----------------------------------------------------------------------

    async def request_raw(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        timeout: float | None = None,
    ) -> bytes:
        """Any request (``"GET"``, ``"/version"``) with the client's rate limit, retries,
        deadline and errors; returns the undecoded body of the 2xx answer.

        Its telemetry records the method only (resource ``"(raw)"``): a path names objects,
        and metric attributes must stay few and never name an object.
        """
        return await self._transport.request(
            method,
            path,
            verb=method.lower(),
            resource="(raw)",
            query=query,
            body=body,
            content_type=content_type,
            timeout=timeout,
        )

    async def get_raw(
        self,
        resource: ResourceLike,
        name: str,
        namespace: str | None = None,
        **params: Unpack[GetParams],
    ) -> bytes:
        """As :meth:`get`, but return the answer undecoded (JSON bytes), for a caller that
        decodes with a codec of its own (the informers' consistent reads do)."""
        res = await self._resolve(resource)
        subresource = params.get("subresource")
        path = res.path(self._namespace(res, namespace), name, subresource)
        return await self._transport.request(
            "GET", path, verb="get", resource=self._label(res, subresource),
            timeout=params.get("timeout"),
        )

    async def get(
        self,
        resource: ResourceLike,
        name: str,
        namespace: str | None = None,
        **params: Unpack[GetParams],
    ) -> Object | None:
        """GET one object (or its ``subresource``, see :class:`GetParams`); ``None`` if it
        does not exist.

        A 404 that is not about this object (the resource is not served, say, because
        its CRD is not installed) raises :class:`~kcs.core.NotFound`.
        """
        res = await self._resolve(resource)
        try:
            data = await self.get_raw(res, name, namespace, **params)
        except NotFound as exc:
            if exc.details.get("name") == name:
                return None
            raise
        return self.codec(res).decode_object(data)

    async def list(
        self,
        resource: ResourceLike,
        namespace: str | None = None,
        **params: Unpack[ListParams],
    ) -> ObjectList:
        """LIST: the objects, with the list's resourceVersion and (when ``limit`` cut it
        short) its continue token.

        ``namespace=None`` lists every namespace. The keyword parameters are
        :class:`ListParams`: selectors accept a :class:`~kcs.core.LabelSelector` /
        :class:`~kcs.core.FieldSelector`, their string form, or a ``{key: value}``
        mapping, and are validated before sending. Without ``resource_version`` the list
        is a quorum read of the current state.
        """
        res = await self._resolve(resource)
        data = await self.list_raw(res, namespace, **params)
        meta, items = self.codec(res).decode_list(data)
        return ObjectList(items, resource_version=meta.resource_version,
                          continue_=meta.continue_)

    async def list_raw(
        self,
        resource: ResourceLike,
        namespace: str | None = None,
        **params: Unpack[ListParams],
    ) -> bytes:
        """As :meth:`list`, but return the response body undecoded (JSON bytes)."""
        res = await self._resolve(resource)
        query = list_query(
            params.get("label_selector"),
            params.get("field_selector"),
            params.get("limit"),
            params.get("continue_"),
            params.get("resource_version"),
            params.get("resource_version_match"),
        )
        path = res.path(namespace if res.namespaced else None)
        return await self._transport.request(
            "GET", path, verb="list", resource=str(res), query=query,
            timeout=params.get("timeout"),
        )

    async def create(
        self,
        resource: ResourceLike,
        body: Body,
        namespace: str | None = None,
        **params: Unpack[WriteParams],
    ) -> Object:
        """POST a new object; returns it as stored. Raises AlreadyExists if the name is
        taken. Never retried after a 5xx or a broken connection (it may have happened)."""
        res = await self._resolve(resource)
        path = res.path(self._namespace(res, namespace, body))
        return await self._write_object(res, "POST", path, "create", str(res),
                                        encode_body(body), JSON, params)

    async def replace(
        self,
        resource: ResourceLike,
        body: Body,
        namespace: str | None = None,
        **params: Unpack[ReplaceParams],
    ) -> Object:
        """PUT the whole object (name from ``body``); returns it as stored.

        With ``metadata.resourceVersion`` in the body the write is conditional: a stale
        version raises Conflict. Without it, the update is unconditional.
        """
        res = await self._resolve(resource)
        subresource = params.get("subresource")
        path = res.path(self._namespace(res, namespace, body), self._name(body), subresource)
        return await self._write_object(res, "PUT", path, "update", self._label(res, subresource),
                                        encode_body(body), JSON, params)

    async def update(
        self,
        resource: ResourceLike,
        body: Body,
        namespace: str | None = None,
        **params: Unpack[WriteParams],
    ) -> Object:
        """The same as :meth:`replace` of the object (Kubernetes calls this verb
        ``update``)."""
        return await self.replace(resource, body, namespace, **params)

    async def update_status(
        self,
        resource: ResourceLike,
        body: Body,
        namespace: str | None = None,
        **params: Unpack[WriteParams],
    ) -> Object:
        """PUT the ``status`` subresource: only the body's ``status`` is written."""
        return await self.replace(resource, body, namespace, subresource="status", **params)

    async def patch(
        self,
        resource: ResourceLike,
        name: str,
        patch: PatchBody,
        namespace: str | None = None,
        **params: Unpack[PatchParams],
    ) -> Object:
        """PATCH an object; returns it as stored.

        ``type`` picks the patch format (:data:`PatchType`); ``json`` takes a list of
        operations. ``apply`` is server-side apply: it needs ``field_manager``, and
        ``force=True`` takes over fields owned by other managers. Never retried after a
        5xx or a broken connection.
        """
        type_ = params.get("type", "merge")
        content_type = PATCH_CONTENT_TYPES.get(type_)
        if content_type is None:
            known = sorted(PATCH_CONTENT_TYPES)
            raise ValueError(f"unknown patch type {type_!r}; use one of {known}")
        if type_ == "apply" and not params.get("field_manager"):
            raise ValueError("an apply patch needs a field_manager")
        res = await self._resolve(resource)
        subresource = params.get("subresource")
        path = res.path(self._namespace(res, namespace), name, subresource)
        return await self._write_object(res, "PATCH", path, "patch", self._label(res, subresource),
                                        encode_body(patch), content_type, params,
                                        force=params.get("force"))

    async def patch_status(
        self,
        resource: ResourceLike,
        name: str,
        patch: PatchBody,
        namespace: str | None = None,
        **params: Unpack[StatusPatchParams],
    ) -> Object:
        """PATCH the ``status`` subresource (see :meth:`patch`)."""
        return await self.patch(resource, name, patch, namespace, subresource="status", **params)

    async def delete(
        self,
        resource: ResourceLike,
        name: str,
        namespace: str | None = None,
        *,
        preconditions: Mapping[str, str] | None = None,
        propagation_policy: Literal["Orphan", "Background", "Foreground"] | None = None,
        grace_period_seconds: int | None = None,
        dry_run: bool = False,
        timeout: float | None = None,
    ) -> Object | None:
        """DELETE an object. Returns the object when it is still there (with a
        ``deletionTimestamp``, while finalizers or a grace period hold it), ``None`` when
        it is gone (the server answered with a success Status).

        ``preconditions`` (``{"uid": ..., "resourceVersion": ...}``) make the delete
        conditional: a mismatch raises Conflict. Raises NotFound if it is already gone.
        """
        res = await self._resolve(resource)
        path = res.path(self._namespace(res, namespace), name)
        options: dict[str, Any] = {}
        if preconditions:
            options["preconditions"] = dict(preconditions)
        if propagation_policy is not None:
            options["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = int(grace_period_seconds)
        if dry_run:
            options["dryRun"] = ["All"]
        body = None
        if options:
            options.update(kind="DeleteOptions", apiVersion="v1")
            body = orjson.dumps(options)
        return await self._write(
            res, "DELETE", path, "delete", str(res), query={}, body=body,
            content_type=JSON if body else None, timeout=timeout, dry_run=dry_run,
        )

    # -- watch ----------------------------------------------------------------------

    def watch_raw(
        self,
        resource: ResourceLike,
        namespace: str | None = None,
        **params: Unpack[WatchParams],
    ) -> WatchStream:
        """A WATCH as a :class:`~kcs.client.WatchStream` of complete JSON lines.

        Nothing is sent until the stream is entered (``async with``) or iterated. The
        start counts against the rate limit and is retried like a GET; it ends by the
        caller's deadline, or ``timeout``, or the client's ``request_timeout``. Once
        started the stream has no total timeout: ``timeout_seconds`` asks the server to
        end it, ``read_timeout`` (off by default) bounds each wait for data
        (:class:`~kcs.client.ApiTimeoutError`). An error answer to the start raises the
        typed :class:`~kcs.core.ApiError`.
        """
        query = list_query(params.get("label_selector"), params.get("field_selector"), None,
                           None, params.get("resource_version"),
                           params.get("resource_version_match"))
        query["watch"] = "true"
        if params.get("allow_watch_bookmarks", True):
            query["allowWatchBookmarks"] = "true"
        send_initial_events = params.get("send_initial_events")
        if send_initial_events is not None:
            query["sendInitialEvents"] = "true" if send_initial_events else "false"
        timeout_seconds = params.get("timeout_seconds")
        if timeout_seconds is not None:
            query["timeoutSeconds"] = str(int(timeout_seconds))
        timeout, read_timeout = params.get("timeout"), params.get("read_timeout")
        max_line_size = params.get("max_line_size")

        async def open_response() -> Any:
            res = await self._resolve(resource)
            path = res.path(namespace if res.namespaced else None)
            return await self._transport.open_stream(
                path, verb="watch", resource=str(res), query=query, timeout=timeout,
                read_timeout=read_timeout,
            )

        return WatchStream(open_response, max_line_size=max_line_size or self._max_line)
