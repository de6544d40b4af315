"""Every entry point of the command answers ``--help`` (exit 0, its own usage line, its
flags) without doing anything else; ``python -m kcs.demo --help`` no longer runs the demo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
PY = [sys.executable, "-m"]

CASES = [
    # (command, the usage line's program, flags its help must list)
    ([str(BIN / "kcs"), "--help"], "kcs", ["run", "fake-apiserver", "demo", "--version"]),
    ([*PY, "kcs", "--help"], "kcs", ["run", "fake-apiserver", "demo"]),
    ([str(BIN / "kcs"), "run", "--help"], "kcs run",
     ["--kubeconfig", "--context", "--in-cluster", "--leader-elect", "--no-leader-elect",
      "--lease-name", "--lease-namespace", "--namespace", "--identity", "POD_NAME",
      "--health-bind-address", "--metrics-bind-address", "--log-level", "--log-format",
      "--shutdown-timeout", "--drain-timeout", "MODULE[:OBJECT]"]),
    ([str(BIN / "kcs"), "fake-apiserver", "--help"], "kcs fake-apiserver",
     ["--port", "--token", "--kubeconfig"]),
    ([*PY, "kcs.testing.apiserver", "--help"], "python -m kcs.testing.apiserver", ["--port"]),
    ([str(BIN / "kcs"), "demo", "--help"], "kcs demo",
     ["--url", "--kubeconfig", "--context", "--token", "--ca-file", "--in-cluster",
      "--namespace"]),
    ([*PY, "kcs.demo", "--help"], "python -m kcs.demo", ["--url", "--kubeconfig"]),
    ([*PY, "kcs.demo", "replica", "--help"], "python -m kcs.demo replica", ["--name", "--url"]),
    ([str(BIN / "kcs"), "demo", "replica", "--help"], "kcs demo replica", ["--name"]),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("cmd", "prog", "flags"), CASES, ids=[" ".join(c[0][-3:]) for c in CASES])
def test_help(cmd: list[str], prog: str, flags: list[str]) -> None:
    # A RuntimeWarning is an error here: runpy warns when ``python -m`` runs a module the
    # package had already imported, and would run it twice.
    env = {**os.environ, "PYTHONWARNINGS": "error::RuntimeWarning"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=50, check=False,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.startswith(f"usage: {prog} "), proc.stdout[:200]
    missing = [f for f in flags if f not in proc.stdout]
    assert not missing, f"{missing} not in:\n{proc.stdout}"
    assert "fake apiserver at" not in proc.stdout  # nothing was started


@pytest.mark.timeout(30)
def test_version_and_a_wrong_subcommand() -> None:
    proc = subprocess.run([str(BIN / "kcs"), "--version"], capture_output=True, text=True,
                          timeout=20, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("kcs 0."), proc.stdout
    proc = subprocess.run([str(BIN / "kcs"), "serve"], capture_output=True, text=True,
                          timeout=20, check=False)
    assert proc.returncode == 2 and "invalid choice: 'serve'" in proc.stderr, proc.stderr
    proc = subprocess.run([str(BIN / "kcs")], capture_output=True, text=True, timeout=20,
                          check=False)
    assert proc.returncode == 2 and "usage: kcs" in proc.stderr, proc.stderr
