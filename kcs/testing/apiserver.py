"""Run the fake apiserver standalone: ``python -m kcs.testing.apiserver --port PORT``
(or ``kcs fake-apiserver --port PORT``).

It prints the URL it listens on (one line, flushed) and serves until SIGTERM or SIGINT.
The bearer token may be given with ``--token`` or, to keep it out of process listings, in
the environment variable ``KCS_FAKE_APISERVER_TOKEN``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import Any, get_args

from kcs.testing._cluster import CONTROLLERS
from kcs.testing._process import TOKEN_ENV
from kcs.testing._server import Authorization, FakeApiServer

__all__ = ["main"]

_COMMAND_ONLY = ("tls_dir", "kubeconfig")
"""The flags that say what the command does around the server; every other flag's ``dest``
is the :class:`FakeApiServer` keyword it sets."""


def _parser(prog: str = "python -m kcs.testing.apiserver") -> argparse.ArgumentParser:
    """The command's flags. A server flag left out is not passed at all (its default is
    ``argparse.SUPPRESS``), so its default is the one :class:`FakeApiServer` declares."""
    p = argparse.ArgumentParser(prog=prog, argument_default=argparse.SUPPRESS,
                                description="A fake kube-apiserver on loopback, for tests.")
    p.add_argument("--host", help="a loopback address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="0 picks a free port (default)")
    p.add_argument("--token", default=None, help=f"require this bearer token (or ${TOKEN_ENV})")
    p.add_argument("--bookmark-frequency", type=float,
                   help="seconds between faithful watch bookmarks (default 60, as kube)")
    p.add_argument("--fast-bookmarks", type=float, metavar="SECONDS",
                   help="instead, a bookmark every SECONDS carrying the global revision "
                        "(a test convenience kube-apiserver lacks)")
    p.add_argument("--min-request-timeout", type=float,
                   help="a watch without timeoutSeconds ends after 1-2x this (default 1800)")
    p.add_argument("--tls", action="store_true", help="serve HTTPS with a generated CA")
    p.add_argument("--tls-dir", default=None,
                   help="with --tls, write the CA certificate there as ca.crt")
    p.add_argument("--authorization", choices=get_args(Authorization))
    p.add_argument("--anonymous", action="store_true",
                   help="requests without a token are system:anonymous, not 401")
    p.add_argument("--history-size", type=int,
                   help="events kept per resource for watch resumption (default 10000)")
    p.add_argument("--max-body-bytes", type=int)
    p.add_argument("--too-large-wait", type=float,
                   help="seconds a request for a future resourceVersion waits before 504")
    p.add_argument("--no-control", action="store_false", dest="control",
                   help="disable the /_fake/ endpoints")
    p.add_argument("--disable-controller", action="append", dest="disabled_controllers",
                   metavar="NAME",
                   help="switch off one of the cluster's controllers (repeatable): "
                        + ", ".join(CONTROLLERS))
    p.add_argument("--kubeconfig", default=None, help="also write a kubeconfig to this path")
    return p


def _server_options(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`FakeApiServer` keywords the command line gives (the token falls back to
    ``$KCS_FAKE_APISERVER_TOKEN``)."""
    options = {k: v for k, v in vars(args).items() if k not in _COMMAND_ONLY}
    options["token"] = args.token or os.environ.get(TOKEN_ENV) or None
    return options


async def _serve(args: argparse.Namespace) -> None:
    api = FakeApiServer(**_server_options(args))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await api.start()
    try:
        if args.kubeconfig:
            api.write_kubeconfig(args.kubeconfig)
        if api.certificate is not None and args.tls_dir:
            api.write_ca(os.path.join(args.tls_dir, "ca.crt"))
        print(api.url, flush=True)
        await stop.wait()
    finally:
        await api.stop()


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Parse ``argv``, serve until SIGTERM/SIGINT, return the exit status (``prog``: the
    command's name in its help, ``kcs fake-apiserver`` for the ``kcs`` command)."""
    args = (_parser(prog) if prog else _parser()).parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
