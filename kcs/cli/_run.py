"""``kcs run``: run controllers under a Manager, configured by flags as controller
managers usually are (kubeconfig or in-cluster, leader election, probes, metrics, logs)."""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import sys
from pathlib import PurePath

import anyio

from kcs._exceptiongroups import find_error
from kcs.cli._load import LoadError, load_target
from kcs.cli._wiring import ManagerSettings, build_manager, controller_factories
from kcs.client import Client, ClientError, ConfigError
from kcs.core import ApiError
from kcs.leaderelection import ElectionTimings, default_identity
from kcs.logs import LOG_FORMATS, LOG_LEVELS, configure_logging

__all__ = ["BindAddress", "add_run_arguments", "default_lease_name", "parse_bind", "run"]

_log = logging.getLogger("kcs.cli")

BindAddress = tuple[str, int] | None
"""``(host, port)`` to listen on, or ``None``: off."""

DEFAULT_HEALTH = "127.0.0.1:8081"
DEFAULT_METRICS = "health"


def parse_bind(text: str) -> BindAddress:
    """``HOST:PORT`` or ``:PORT`` (all interfaces) -> ``(host, port)``; ``0`` -> off.

    Port 0 in ``HOST:0`` picks a free port. Raises ``argparse.ArgumentTypeError``
    otherwise."""
    text = text.strip()
    if text == "0":
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT, :PORT or 0 (off)")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def _metrics_bind(text: str) -> BindAddress | str:
    return DEFAULT_METRICS if text.strip() == DEFAULT_METRICS else parse_bind(text)


_NAME = re.compile(r"[^a-z0-9-]+")


def _short(spec: str) -> str:
    where, sep, attribute = spec.rpartition(":")
    if not sep:
        where, attribute = spec, ""
    if where.endswith(".py") or "/" in where:
        where = PurePath(where).stem
    return f"{where}-{attribute}" if attribute else where


def default_lease_name(specs: list[str]) -> str:
    """A Lease name derived from the targets, the same for every replica started with the
    same targets: ``kcs-<module or file stem>[-<object>]`` reduced to name characters
    (``kcs-stamp`` for ``app/stamp.py``; shortened with a hash past 63 characters)."""
    slug = _NAME.sub("-", "-".join(_short(s) for s in specs).lower()).strip("-")
    name = f"kcs-{slug}" if slug else "kcs"
    if len(name) > 63:
        digest = hashlib.sha256(" ".join(specs).encode()).hexdigest()[:8]
        name = f"{name[:54].rstrip('-')}-{digest}"
    return name


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``kcs run``."""
    p.add_argument("targets", nargs="+", metavar="TARGET",
                   help="what to run: MODULE[:OBJECT] or PATH.py[:OBJECT]; OBJECT is a "
                        "Controller subclass, a factory(manager) returning controllers, or "
                        "a list of them; a module alone runs every Controller subclass "
                        "defined in it")
    conn = p.add_argument_group("cluster connection (default: $KUBECONFIG, else in-cluster, "
                                "else ~/.kube/config)")
    conn.add_argument("--kubeconfig", metavar="PATH", help="use this kubeconfig file")
    conn.add_argument("--context", metavar="NAME", help="the kubeconfig context to use")
    conn.add_argument("--in-cluster", action="store_true",
                      help="use the pod's service account (fail outside a pod)")
    el = p.add_argument_group("leader election")
    el.add_argument("--leader-elect", action=argparse.BooleanOptionalAction, default=True,
                    help="run the controllers only on the replica holding the Lease; the "
                         "others keep warm caches as standbys (default: on)")
    el.add_argument("--lease-name", metavar="NAME",
                    help="the Lease to elect on (default: kcs-<targets>)")
    el.add_argument("--lease-namespace", metavar="NS",
                    help="the Lease's namespace (default: the pod's namespace in a cluster, "
                         "else the kubeconfig context's)")
    el.add_argument("--identity", metavar="ID",
                    help="this replica's identity in the election (default: $POD_NAME, "
                         "else <hostname>_<random>)")
    el.add_argument("--lease-duration", type=float, default=15.0, metavar="SECONDS",
                    help="how long a Lease holds without renewal (default 15)")
    el.add_argument("--renew-deadline", type=float, default=10.0, metavar="SECONDS",
                    help="a leader that has not renewed for this long stops (default 10)")
    el.add_argument("--retry-period", type=float, default=2.0, metavar="SECONDS",
                    help="how often to renew or retry (default 2)")
    work = p.add_argument_group("work")
    work.add_argument("--namespace", metavar="NS",
                      help="watch only this namespace (default: all namespaces)")
    work.add_argument("--drain-timeout", type=float, default=10.0, metavar="SECONDS",
                      help="on SIGTERM, how long reconciles in flight may finish (default 10)")
    work.add_argument("--shutdown-timeout", type=float, default=30.0, metavar="SECONDS",
                      help="on SIGTERM, the bound on drain plus hand-off (default 30); give "
                           "the pod a longer terminationGracePeriodSeconds")
    srv = p.add_argument_group("endpoints")
    srv.add_argument("--health-bind-address", type=parse_bind, default=DEFAULT_HEALTH,
                     metavar="HOST:PORT",
                     help="/healthz, /readyz and /leader (default 127.0.0.1:8081; 0: off; "
                          "in a pod use 0.0.0.0:8081 so the kubelet can probe it)")
    srv.add_argument("--metrics-bind-address", type=_metrics_bind, default=DEFAULT_METRICS,
                     metavar="HOST:PORT",
                     help="/metrics in the Prometheus format, with kcs[prometheus] installed "
                          "(default 'health': on the health port; 0: off)")
    logs = p.add_argument_group("logging")
    logs.add_argument("--log-level", choices=LOG_LEVELS, default="info", type=str.lower)
    logs.add_argument("--log-format", choices=LOG_FORMATS, default="text",
                      help="text: one readable line per record; json: one JSON object per line")


async def _connect(args: argparse.Namespace) -> tuple[Client, Client]:
    if args.in_cluster:
        work = await Client.in_cluster()
    elif args.kubeconfig or args.context:
        work = await Client.from_kubeconfig(args.kubeconfig, args.context)
    else:
        work = await Client.auto()
    election = Client(work.config, qps=None, user_agent_suffix="leader-election")
    return work, election


def _settings(args: argparse.Namespace, client: Client) -> ManagerSettings:
    identity = args.identity or os.environ.get("POD_NAME") or default_identity()
    health = args.health_bind_address
    return ManagerSettings(
        identity=identity,
        lease_name=(args.lease_name or default_lease_name(args.targets))
        if args.leader_elect else None,
        lease_namespace=args.lease_namespace or client.namespace,
        namespace=args.namespace,
        health_host=health[0] if health else "127.0.0.1",
        health_port=health[1] if health else None,
        timings=ElectionTimings(lease_duration=args.lease_duration,
                                renew_deadline=args.renew_deadline,
                                retry_period=args.retry_period),
        drain_timeout=args.drain_timeout,
        shutdown_timeout=args.shutdown_timeout,
    )


async def _run(args: argparse.Namespace) -> int:
    targets = [load_target(spec) for spec in args.targets]
    factories = controller_factories(targets)
    from kcs.cli._metrics import MetricsEndpoint

    metrics = MetricsEndpoint.from_flag(args.metrics_bind_address, health=args.health_bind_address)
    work, election = await _connect(args)
    async with work, election:
        settings = _settings(args, work)
        manager = await build_manager(work, election, settings, factories)
        where = (f"lease {settings.lease_namespace}/{settings.lease_name}"
                 if settings.lease_name else "no leader election")
        _log.info("starting as %s against %s: %s, watching %s", settings.identity, work.server,
                  where, f"namespace {settings.namespace}" if settings.namespace
                  else "all namespaces")
        async with metrics.serving(manager):
            await manager.run()
        if manager.handed_to:
            _log.info("stopped; the lease went to %s", manager.handed_to)
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``kcs run`` with parsed ``args``; returns the exit status."""
    configure_logging(args.log_level, args.log_format)
    try:
        return anyio.run(_run, args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        error = find_error(exc, (LoadError, ConfigError, ClientError, ApiError))
        if error is None:
            raise
        if isinstance(error, LoadError):
            print(f"kcs run: {error}", file=sys.stderr)
            return 2
        _log.error("%s", error)
        return 1
