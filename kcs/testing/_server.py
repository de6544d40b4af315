"""FakeApiServer: a kube-apiserver stand-in on 127.0.0.1, in the test's own event loop."""

from __future__ import annotations

import asyncio
import ipaddress
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import orjson
from aiohttp import web

from kcs.core import FieldSelector, LabelSelector, NotFound, Resource
from kcs.testing._accounting import RequestLog, WriteLog
from kcs.testing._authn import Authenticator, TokenIssuer, UserInfo
from kcs.testing._bulk import seed, touch
from kcs.testing._cluster import ClusterControllers, Controller
from kcs.testing._control import ControlChannel
from kcs.testing._faults import Faults
from kcs.testing._fields import check_field_selector, field_reader, matches
from kcs.testing._gc import GarbageCollector
from kcs.testing._handlers import ApiHandler
from kcs.testing._kubeconfig import kubeconfig_for, write_kubeconfig_file
from kcs.testing._kubelet import NodeAgent
from kcs.testing._lifecycle import Started
from kcs.testing._listing import ListOptions
from kcs.testing._namespacecontroller import NamespaceController
from kcs.testing._rbac import BOOTSTRAP, RbacAuthorizer
from kcs.testing._reads import Reads
from kcs.testing._registry import AGE_COLUMN, PrinterColumn, Registry, ServedResource
from kcs.testing._reviews import Reviews
from kcs.testing._serviceaccounts import ServiceAccountController
from kcs.testing._store import Store, StoredObject
from kcs.testing._subresources import PodLogs, Subresources
from kcs.testing._tls import ServingCertificate, generate, server_context
from kcs.testing._verbs import IN_PROCESS, MERGE_PATCH, Verbs, object_key
from kcs.testing._watch import BookmarkPolicy, WatchHub

__all__ = ["DEFAULT_NAMESPACES", "Authorization", "FakeApiServer"]

Authorization = Literal["AlwaysAllow", "RBAC"]

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
"""The namespaces that exist when a server starts, as in a new cluster."""

_PATCH_TYPES = {
    "merge": MERGE_PATCH,
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


def _loopback(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"
    try:
        ok = ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"the fake apiserver listens on loopback addresses only, not {host!r}")
    return host


class FakeApiServer(Started):
    """A fake kube-apiserver speaking the real wire protocol on loopback.

    Use it as ``async with FakeApiServer() as api:`` and point any client at ``api.url``
    (or at ``api.kubeconfig()``). It serves the built-in kinds of
    :data:`kcs.core.BUILTIN_RESOURCES` and custom resources (from a CRD object or
    :meth:`register`) with kube-apiserver's semantics for resourceVersions, lists, watches,
    bookmarks, patches, finalizers, subresources and errors; see ``docs/testing.md`` for what
    is emulated, approximated and not.

    Guarantees:

    * It binds to a loopback address only (``host`` is checked); the port is random unless
      given, and stays the same across :meth:`restart`.
    * Everything runs in the event loop that called :meth:`start`; the in-process methods
      (:meth:`create`, :meth:`seed`, :meth:`touch`, ...) are synchronous and atomic with
      respect to HTTP requests, and their events reach open watches like any other write.
    * ``tls=True`` serves HTTPS with a certificate from a CA made for this server alone
      (:attr:`ca_pem`); :meth:`kubeconfig` trusts it. Plain HTTP otherwise.
    * Authentication (see :mod:`kcs.testing._authn`): ``token`` is the admin token (user
      ``kcs:admin``, group ``system:masters``); ``tokens`` maps static tokens to users;
      :meth:`issue_token` and ``serviceaccounts/NAME/token`` issue service-account tokens.
      With ``token`` or ``tokens`` set, a request without a valid token is 401 (unless
      ``anonymous``). Tokens are never logged or recorded; records carry a fingerprint.
    * Authorization is off (``"AlwaysAllow"``) unless ``authorization="RBAC"``: then the
      (Cluster)Role(Binding)s in the store decide, and refusals are kube's 403.
    * Bookmarks are kube-apiserver's (``bookmark_frequency``, default 60 s, carrying the
      resource's own watch-cache revision, plus one 2 s before the watch's deadline);
      ``fast_bookmarks=S`` asks by name for the test convenience of a bookmark every S
      seconds carrying the global revision.
    * Observability: :attr:`writes` (every successful write), :attr:`requests` (in-flight and
      abandoned requests), :attr:`watches` (open watches), :attr:`faults` (fault injection and
      ``faults.counts``).
    * The cluster's own controllers (:data:`CONTROLLERS`: namespace, service-account,
      garbage-collector, node agent) run while the server runs, as in a cluster;
      ``disabled_controllers`` switches some off by name. :attr:`controllers` runs them
      (``await api.controllers.wait_idle()``), :attr:`node_agent` says how pods stop.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        tokens: Mapping[str, UserInfo | str] | None = None,
        anonymous: bool = False,
        authorization: Authorization = "AlwaysAllow",
        tls: bool = False,
        bookmark_frequency: float = 60.0,
        fast_bookmarks: float | None = None,
        min_request_timeout: float = 1800.0,
        history_size: int = 10_000,
        max_body_bytes: int = 3 * 1024 * 1024,
        control: bool = True,
        too_large_wait: float = 3.0,
        namespaces: Iterable[str] = DEFAULT_NAMESPACES,
        disabled_controllers: Iterable[str] = (),
    ) -> None:
        if authorization not in ("AlwaysAllow", "RBAC"):
            raise ValueError(f"authorization must be 'AlwaysAllow' or 'RBAC', not "
                             f"{authorization!r}")
        if bookmark_frequency <= 0 or (fast_bookmarks is not None and fast_bookmarks <= 0):
            raise ValueError("bookmark_frequency and fast_bookmarks must be positive")
        self.host = _loopback(host)
        self.port = port
        self._token = token
        self.bookmarks = BookmarkPolicy(bookmark_frequency, fast_bookmarks,
                                        min_request_timeout)
        self.store = Store(history_size)
        self.registry = Registry()
        self.writes = WriteLog()
        self.requests = RequestLog()
        self.watches = WatchHub(Counter())
        self.faults = Faults(self.watches)
        self.verbs = Verbs(self.store, self.registry, self.writes,
                           on_resources_changed=self._resources_removed)
        self.reads = Reads(self.store, too_large_wait=too_large_wait)
        self.tokens = TokenIssuer(self._service_account_uid)
        self.authn = Authenticator(self.tokens, admin_token=token, tokens=tokens,
                                   anonymous=anonymous)
        self.authorization: Authorization = authorization
        self.authz = RbacAuthorizer(self._rbac_objects) if authorization == "RBAC" else None
        self.logs = PodLogs()
        self.certificate: ServingCertificate | None = generate(self.host) if tls else None
        self._handler: ApiHandler | None = None
        self.subresources = Subresources(self.verbs, self.tokens, self.logs, self._get_handler)
        self.reviews = Reviews(self.authn, self.authz, self._get_handler)
        self.reviews.register(self.registry)
        self.node_agent = NodeAgent(self.verbs)
        service_accounts = ServiceAccountController(self.verbs)
        built: dict[str, Controller] = {
            "namespace-controller": NamespaceController(self.verbs),
            "serviceaccount-controller": service_accounts,
            "garbage-collector-controller": GarbageCollector(self.verbs),
            "node-agent": self.node_agent,
        }
        self.controllers = ClusterControllers(self.verbs, built, disabled_controllers)
        if "serviceaccount-controller" in self.controllers.enabled:
            self.verbs.lifecycle.ensure_default_service_account = service_accounts.ensure
        self._control = ControlChannel(self) if control else None
        self._max_body = max_body_bytes
        self._runner: web.ServerRunner | None = None
        ns = self._served("namespaces")
        for name in namespaces:
            self.verbs.create(ns, None, {"metadata": {"name": name}})
        if self.authz is not None:
            for obj in BOOTSTRAP:
                self.create(f"{obj['kind'].lower()}s.rbac.authorization.k8s.io", obj)
        self.controllers.drain()  # a new cluster already has its default service accounts
        self.writes.clear()

    @property
    def bookmark_frequency(self) -> float:
        """Seconds between faithful bookmarks (kube-apiserver: 60); settable."""
        return self.bookmarks.frequency

    @bookmark_frequency.setter
    def bookmark_frequency(self, seconds: float) -> None:
        self.bookmarks = BookmarkPolicy(seconds, self.bookmarks.fast,
                                        self.bookmarks.min_request_timeout)

    @property
    def fast_bookmarks(self) -> float | None:
        """Seconds between fast bookmarks (global revision), or ``None``; settable."""
        return self.bookmarks.fast

    @fast_bookmarks.setter
    def fast_bookmarks(self, seconds: float | None) -> None:
        self.bookmarks = BookmarkPolicy(self.bookmarks.frequency, seconds,
                                        self.bookmarks.min_request_timeout)

    def _get_handler(self) -> ApiHandler:
        assert self._handler is not None
        return self._handler

    def _service_account_uid(self, namespace: str, name: str) -> str | None:
        cur = self.verbs.rs(self._served("serviceaccounts")).get(f"{namespace}/{name}")
        return None if cur is None else str((cur.obj.get("metadata") or {}).get("uid"))

    def _rbac_objects(self, group_resource: str, namespace: str | None) -> list[Any]:
        rs = self.store.resource(group_resource)
        if namespace is None:
            return [so.obj for so in rs.objects.values()]
        return [so.obj for so in rs.view(self.store.revision, namespace)]

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening (on the configured port, or a free one the first time)."""
        if self._runner is not None:
            raise RuntimeError("the fake apiserver is already running")
        handler = ApiHandler(
            verbs=self.verbs,
            reads=self.reads,
            registry=self.registry,
            hub=self.watches,
            faults=self.faults,
            requests=self.requests,
            authn=self.authn,
            authz=self.authz,
            max_body_bytes=self._max_body,
            bookmarks=lambda: self.bookmarks,
            control=self._control.handle if self._control else None,
            subresource=self.subresources.lookup,
            virtual=self.reviews.lookup,
            extras=self.subresources.names,
        )
        self._handler = handler
        server = web.Server(handler, handler_cancellation=True, access_log=None)
        runner = web.ServerRunner(server, shutdown_timeout=1.0)
        await runner.setup()
        ssl_context = server_context(self.certificate) if self.certificate else None
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True,
                           ssl_context=ssl_context)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self.port = int(runner.addresses[0][1])
        self._runner = runner
        self.controllers.start()

    async def stop(self) -> None:
        """Stop listening and cut every connection (watches included). State is kept."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        await self.controllers.stop()
        self.watches.abort_where(lambda _w: True, "shutdown")
        server = runner.server
        if server is not None:
            for conn in server.connections:
                if conn.transport is not None:
                    conn.transport.abort()
        await runner.cleanup()

    async def restart(self, downtime: float = 0.0, *, compact: bool = False) -> None:
        """Cut every connection, stay down ``downtime`` seconds, listen again on the same port.

        State and history are kept, as when kube-apiserver restarts against the same etcd;
        ``compact=True`` also forgets the history (a cold watch cache: old resourceVersions
        get 410). Counted as the ``restart`` fault.
        """
        self.faults.counts["restart"] += 1
        await self.stop()
        if compact:
            self.compact()
        if downtime > 0:
            await asyncio.sleep(downtime)
        await self.start()

    @property
    def running(self) -> bool:
        """Whether the server is listening."""
        return self._runner is not None

    # --- addresses --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https://`` with ``tls=True``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.certificate else "http"
        return f"{scheme}://{host}:{self.port}"

    @property
    def ca_pem(self) -> bytes | None:
        """The PEM certificate of the CA that signed the serving certificate (HTTPS only)."""
        return self.certificate.ca_pem if self.certificate else None

    def write_ca(self, path: str | os.PathLike[str]) -> Path:
        """Write :attr:`ca_pem` to ``path`` (HTTPS only); returns the path."""
        if self.certificate is None:
            raise RuntimeError("the fake apiserver serves plain HTTP: start it with tls=True")
        p = Path(path)
        p.write_bytes(self.certificate.ca_pem)
        return p

    def kubeconfig(self, *, namespace: str = "default",
                   token: str | None = None) -> dict[str, Any]:
        """A kubeconfig (as a dict) for this server: its URL, the CA (HTTPS), and ``token``
        (default: the admin token, if any). Over plain HTTP kubectl sends no token, so a
        server with a token only works with kubectl over HTTPS."""
        return kubeconfig_for(self.url, self.ca_pem, token or self._token, namespace)

    def write_kubeconfig(self, path: str | os.PathLike[str], *, namespace: str = "default",
                         token: str | None = None) -> Path:
        """Write :meth:`kubeconfig` to ``path`` (JSON, which kubeconfig readers accept;
        mode 0600 since it may hold a token). Returns the path."""
        return write_kubeconfig_file(path, self.kubeconfig(namespace=namespace, token=token))

    # --- identities -------------------------------------------------------------------------

    def issue_token(self, namespace: str, service_account: str, *,
                    audiences: Iterable[str] = (), expiration_seconds: int = 3600) -> str:
        """A bound service-account token for ``namespace/service_account``, as a
        TokenRequest would return (the ServiceAccount must exist: 404 otherwise). Requests
        carrying it are that service account, as long as the ServiceAccount exists."""
        uid = self._service_account_uid(namespace, service_account)
        if uid is None:
            raise NotFound({"kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Failure", "reason": "NotFound", "code": 404,
                            "message": f'serviceaccounts "{service_account}" not found'})
        aud = tuple(audiences) or ("https://kubernetes.default.svc.cluster.local",)
        return self.tokens.issue(namespace, service_account, uid, audiences=aud,
                                 expiration_seconds=expiration_seconds).token

    def in_cluster(self, directory: str | os.PathLike[str], namespace: str,
                   service_account: str) -> dict[str, str]:
        """Lay out a pod's service-account directory for ``namespace/service_account`` in
        ``directory`` (``token``, ``ca.crt``, ``namespace``, as kubelet mounts them at
        ``/var/run/secrets/kubernetes.io/serviceaccount``) and return the environment a
        pod gets (``KUBERNETES_SERVICE_HOST``, ``KUBERNETES_SERVICE_PORT``), so that an
        in-cluster configuration can be tested. Needs ``tls=True`` (in-cluster clients use
        HTTPS) and an existing ServiceAccount."""
        if self.certificate is None:
            raise RuntimeError("in-cluster configuration needs HTTPS: start with tls=True")
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        token = self.issue_token(namespace, service_account)
        (d / "token").write_text(token)
        (d / "token").chmod(0o600)
        (d / "ca.crt").write_bytes(self.certificate.ca_pem)
        (d / "namespace").write_text(namespace)
        return {"KUBERNETES_SERVICE_HOST": self.host, "KUBERNETES_SERVICE_PORT": str(self.port),
                "KUBERNETES_SERVICE_PORT_HTTPS": str(self.port)}

    def append_log(self, pod: str, text: str, namespace: str = "default",
                   container: str | None = None) -> None:
        """Append ``text`` to the log of a pod's container (the only one if not given), as
        ``pods/log`` (``kubectl logs``) then serves it."""
        if container is None:
            obj = self.get("pods", pod, namespace)
            names = [c.get("name") for c in (obj.get("spec") or {}).get("containers") or ()]
            if len(names) != 1:
                raise ValueError(f"pod {pod} has {len(names)} containers: name one")
            container = str(names[0])
        self.logs.append(namespace, pod, container, text)

    # --- resources and state --------------------------------------------------------------

    @property
    def revision(self) -> int:
        """The current resourceVersion of the whole server (the latest write's)."""
        return self.store.revision

    def register(
        self,
        resource: Resource,
        *,
        storage_version: str | None = None,
        selectable_fields: Iterable[str] = (),
        printer_columns: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Serve a custom resource without a CRD object (served at once, like an
        Established CRD). ``selectable_fields`` extends field selectors; ``printer_columns``
        are ``(name, "spec.path")`` pairs for kubectl's table output (string columns;
        none: the Age column a CRD without columns gets)."""
        columns = tuple(
            PrinterColumn.of({"name": name, "jsonPath": "." + path.lstrip(".")})
            for name, path in printer_columns
        )
        self.verbs.register(ServedResource(
            resource, storage_version or resource.version,
            selectable_fields=tuple(selectable_fields), custom=True,
            printer_columns=columns or (AGE_COLUMN,),
        ))

    def compact(self) -> int:
        """Forget all history up to now (etcd compaction): any older resourceVersion or
        continue token now gets 410 Expired. Counted as the ``compact`` fault."""
        self.faults.counts["compact"] += 1
        return self.store.compact()

    async def wait_for_watchers(
        self, count: int = 1, resource: Resource | str | None = None
    ) -> None:
        """Wait until at least ``count`` watches are open (on ``resource``, if given).

        Bound it with the caller's scope (``with anyio.fail_after(5):``)."""
        gr = None if resource is None else self._served(resource).group_resource
        await self.watches.wait_for(count, gr)

    def _served(self, resource: Resource | str) -> ServedResource:
        if isinstance(resource, Resource):
            return self.verbs.served(resource)
        for s in self.registry.all():
            if resource in (s.group_resource, s.resource.plural) and (
                s.resource.version == s.storage_version
            ):
                return s
        raise KeyError(f"no served resource {resource!r}")

    def _resources_removed(self, removed: list[ServedResource]) -> None:
        gone = {(s.resource.group, s.resource.version, s.resource.plural) for s in removed}
        for w in list(self.watches.watchers):
            r = w.served.resource
            if (r.group, r.version, r.plural) in gone:
                w.finish()

    # --- in-process API ---------------------------------------------------------------------

    def create(self, resource: Resource | str, obj: Mapping[str, Any],
               namespace: str | None = None) -> dict[str, Any]:
        """Create ``obj`` as a client would (same rules, same events); returns a copy."""
        s = self._served(resource)
        ns = namespace or (obj.get("metadata") or {}).get("namespace")
        return _copy(self.verbs.create(s, ns, dict(obj)), s)

    def get(self, resource: Resource | str, name: str,
            namespace: str | None = None) -> dict[str, Any]:
        """A copy of the current object (raises :class:`kcs.core.NotFound`)."""
        s = self._served(resource)
        return _copy(self.verbs.get(s, namespace, name), s)

    def list(
        self,
        resource: Resource | str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        """Copies of the current objects, in key order, optionally filtered."""
        s = self._served(resource)
        opts = ListOptions(label=LabelSelector.parse(label_selector),
                           field=FieldSelector.parse(field_selector))
        rs = self.verbs.rs(s)
        check_field_selector(s, opts.field)
        reader = field_reader(s)
        return [
            _copy(so, s) for so in rs.view(self.store.revision, namespace)
            if opts.label.matches((so.obj.get("metadata") or {}).get("labels"))
            and matches(reader, opts.field, so.obj)
        ]

    def update(self, resource: Resource | str, obj: Mapping[str, Any], *,
               status: bool = False, unchecked: bool = False) -> dict[str, Any]:
        """Replace an object (``status=True``: its status subresource); returns a copy.

        ``unchecked=True`` stores ``obj`` as given: no decoding, defaulting or validation (the
        resourceVersion, events and write log are as for any update). A real apiserver
        never stores such an object; it is for testing how clients cope with objects the API
        would refuse (a Lease with a nonsense duration, say)."""
        s = self._served(resource)
        meta = obj.get("metadata") or {}
        return _copy(self.verbs.update(s, meta.get("namespace"), str(meta.get("name")), dict(obj),
                                       subresource="status" if status else "",
                                       unchecked=unchecked), s)

    def patch(
        self,
        resource: Resource | str,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: str = "merge",
        status: bool = False,
        field_manager: str | None = None,
        force: bool | None = None,
    ) -> dict[str, Any]:
        """Patch an object (``patch_type``: merge, json, strategic or apply). An apply
        patch needs a ``field_manager`` (``"in-process"`` unless given), and may
        ``force``."""
        s = self._served(resource)
        ptype = _PATCH_TYPES[patch_type]
        if patch_type == "apply" and field_manager is None:
            field_manager = "in-process"
        obj, _ = self.verbs.patch(s, namespace, name, ptype, orjson.dumps(patch), IN_PROCESS,
                                  subresource="status" if status else "",
                                  field_manager=field_manager, force=force)
        return _copy(obj, s)

    def delete(self, resource: Resource | str, name: str, namespace: str | None = None,
               *, preconditions: Mapping[str, str] | None = None,
               propagation_policy: str | None = None,
               grace_period_seconds: int | None = None) -> dict[str, Any]:
        """Delete an object, as a DELETE with these options would; returns the object as
        the DELETE answers it (its last state, or its state while deletion goes on:
        finalizers, graceful deletion of scheduled pods, terminating namespaces)."""
        s = self._served(resource)
        opts: dict[str, Any] = {}
        if preconditions:
            opts["preconditions"] = dict(preconditions)
        if propagation_policy is not None:
            opts["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            opts["gracePeriodSeconds"] = grace_period_seconds
        obj, _ = self.verbs.delete(s, namespace, name, opts)
        return _copy(obj, s)

    def seed(self, resource: Resource | str, objects: Iterable[Mapping[str, Any]]) -> int:
        """Bulk-load objects without HTTP (for benchmarks): missing uid, timestamps and
        namespaces are filled in, one ADDED event each, nothing else checked. Returns the
        revision after the last one. Not recorded in :attr:`writes`."""
        return seed(self.verbs, self._served(resource), (dict(o) for o in objects))

    def touch(self, resource: Resource | str, keys: Iterable[str] | None = None,
              *, times: int = 1) -> int:
        """Re-write objects unchanged but for their resourceVersion, ``times`` rounds: a burst
        of MODIFIED events (for benchmarks). ``keys`` are ``namespace/name`` (or ``name``);
        ``None`` means every object. Returns the revision after the last write."""
        return touch(self.verbs, self._served(resource), keys, times)

    def key(self, resource: Resource | str, name: str, namespace: str | None = None) -> str:
        """The key :meth:`touch` takes for an object."""
        return object_key(self._served(resource), namespace, name)


def _copy(so: StoredObject, served: ServedResource) -> dict[str, Any]:
    """A copy of a stored object, as ``served`` serves it."""
    out: dict[str, Any] = orjson.loads(so.as_version(served.resource.api_version))
    return out
