"""The ``kcs`` command: ``run``, ``fake-apiserver``, ``demo``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from kcs import __version__

__all__ = ["main", "parser"]

_DESCRIPTION = """\
kcs: Kubernetes controllers in Python.

  kcs run app.controllers:Mirror          run controllers under a Manager (warm standby,
                                          leader election, probes, metrics)
  kcs fake-apiserver --port 8001          a fake kube-apiserver on 127.0.0.1, for tests
  kcs demo                                two replicas, a crash and a hand-off, measured
"""


def _fake_apiserver(argv: list[str]) -> int:
    from kcs.testing.apiserver import main as serve

    return serve(argv, prog="kcs fake-apiserver")


def _demo(argv: list[str]) -> int:
    from kcs.demo import main as demo

    return demo(argv, prog="kcs demo")


# Subcommands that parse their own arguments (they are also ``python -m`` modules).
_DELEGATED: dict[str, Callable[[list[str]], int]] = {
    "fake-apiserver": _fake_apiserver,
    "demo": _demo,
}


def parser() -> argparse.ArgumentParser:
    """The parser of ``kcs`` (``kcs run``'s flags included)."""
    from kcs.cli._run import add_run_arguments

    p = argparse.ArgumentParser(prog="kcs", description=_DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"kcs {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = sub.add_parser(
        "run", help="run controllers under a Manager",
        description="Run controllers under a kcs Manager: informers on every replica (warm "
                    "standby), the controllers only on the one holding the Lease, "
                    "/healthz and /readyz for probes, /metrics for Prometheus, and a "
                    "graceful hand-off on SIGTERM.",
        epilog="examples:\n"
               "  kcs run app.controllers                  every Controller subclass in it\n"
               "  kcs run app/mirror.py:MirrorController   one class from a file\n"
               "  kcs run app.main:controllers             factory(manager) -> controllers\n"
               "  kcs run --no-leader-elect --namespace dev app.controllers",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(run)
    sub.add_parser("fake-apiserver", help="serve the fake kube-apiserver on 127.0.0.1",
                   add_help=False)
    sub.add_parser("demo", help="the demo: two replicas, a crash, a hand-off", add_help=False)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kcs`` command with ``argv`` (default ``sys.argv[1:]``); returns the exit
    status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in _DELEGATED:
        return _DELEGATED[args[0]](args[1:])
    parsed = parser().parse_args(args)
    from kcs.cli._run import run

    return run(parsed)
