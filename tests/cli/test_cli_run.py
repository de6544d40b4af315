"""``kcs run`` as a user runs it: a controller file of their own, a kubeconfig, the flags,
a real process against the fake apiserver; probes, leader election between two replicas,
/metrics, logs, SIGTERM, and clear errors for targets that are not there."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from cli_helpers import CONTROLLERS, http_get, kcs_process, run_kcs

from kcs.testing import FakeApiServer, eventually

pytestmark = [pytest.mark.anyio]


CONFIGURED = '''
from kcs.controller import Builder, Context, Controller, Result
from kcs.core import ObjectKey, builtin


CONFIGMAPS = builtin("configmaps")


class Configured(Controller):
    \"\"\"Its constructor needs an argument, so kcs run cannot build it alone.\"\"\"

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def setup(self, builder: Builder) -> None:
        builder.for_(CONFIGMAPS)

    async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
        return None
'''

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d (INFO|WARNING|ERROR|DEBUG) ")


@pytest.fixture
def app(tmp_path: Path) -> Path:
    path = tmp_path / "app" / "stamp.py"
    path.parent.mkdir()
    path.write_text(CONTROLLERS)
    return path


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[FakeApiServer]:
    server = FakeApiServer()
    await server.start()
    yield server
    await server.stop()


def _stamped(api: FakeApiServer, name: str, value: str) -> bool:
    try:
        obj = api.get("configmaps", name, "default")
    except Exception:
        return False
    return bool((obj["metadata"].get("annotations") or {}).get("stamp.example/value") == value)


def _flags(kubeconfig: Path, identity: str) -> list[str]:
    return ["--kubeconfig", str(kubeconfig), "--identity", identity,
            "--health-bind-address", "127.0.0.1:0",
            "--lease-duration", "2", "--renew-deadline", "1.2", "--retry-period", "0.3",
            "--drain-timeout", "2", "--shutdown-timeout", "5"]


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_two_replicas_of_a_file_target_elect_one_leader_probe_and_hand_off(
    api: FakeApiServer, app: Path, tmp_path: Path,
) -> None:
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
    api.create("configmaps", {"metadata": {"name": "one", "namespace": "default"},
                              "data": {"value": "1"}})
    async with kcs_process(["run", str(app), *_flags(kubeconfig, "a")]) as a:
        port_a = await a.health_port()
        await eventually(lambda: _ready(port_a), 20, "a ready")
        await eventually(lambda: _leads(port_a, "a"), 20, "a leads")
        async with kcs_process(["run", str(app), *_flags(kubeconfig, "b")]) as b:
            port_b = await b.health_port()
            await eventually(lambda: _ready(port_b), 20, "b ready (a warm standby)")
            # the same command gives the same Lease: b is a standby, not a second leader
            status, text, _ = await http_get(port_b, "/leader")
            leader = json.loads(text)
            assert status == 200 and leader["leader"] == "a" and not leader["isLeader"], leader
            await eventually(lambda: anyio.to_thread.run_sync(_stamped, api, "one", "1"), 20,
                             "the leader reconciled")
            lease = api.get("leases.coordination.k8s.io", "kcs-stamp", "default")
            assert lease["spec"]["holderIdentity"] == "a"

            assert await a.stop() == 0, a.text()
            await eventually(lambda: _leads(port_b, "b"), 20, "b took over")
            api.patch("configmaps", "one", {"data": {"value": "2"}}, namespace="default")
            await eventually(lambda: anyio.to_thread.run_sync(_stamped, api, "one", "2"), 20,
                             "b reconciles")
            assert await b.stop() == 0, b.text()
    logs = a.stderr + b.stderr
    assert all(ISO.match(line) for line in logs if line.strip()), a.text()
    assert any("handed the lease to b" in line or "the lease went to b" in line
               for line in a.stderr), a.text()
    assert "stamp" in "".join(a.stderr)  # the controller's name is logged at start


async def _ready(port: int) -> bool:
    return (await http_get(port, "/readyz"))[0] == 200


async def _leads(port: int, identity: str) -> bool:
    status, text, _ = await http_get(port, "/leader")
    data = json.loads(text) if status == 200 else {}
    return bool(data.get("isLeader")) and data.get("identity") == identity


@pytest.mark.timeout(60)
async def test_a_module_target_without_election_and_json_logs(
    api: FakeApiServer, app: Path, tmp_path: Path,
) -> None:
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
    api.create("configmaps", {"metadata": {"name": "m", "namespace": "default"},
                              "data": {"value": "x"}})
    args = ["run", "stamp:controllers", "--kubeconfig", str(kubeconfig), "--no-leader-elect",
            "--health-bind-address", "127.0.0.1:0", "--log-format", "json",
            "--log-level", "DEBUG"]
    async with kcs_process(args, cwd=app.parent) as proc:
        await eventually(lambda: anyio.to_thread.run_sync(_stamped, api, "m", "x"), 20,
                         "reconciled without leader election")
        assert await proc.stop() == 0, proc.text()
    records = [json.loads(line) for line in proc.stderr if line.strip()]
    assert records and all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    assert any(r["level"] == "DEBUG" for r in records)
    assert not api.list("leases.coordination.k8s.io", "default")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("target", "message"), [
    ("no_such_module_kcs", "no module named 'no_such_module_kcs'"),
    ("{app}:Nope", "has no attribute 'Nope'"),
    ("{app}:CONFIGMAPS", "is not a Controller subclass"),
    ("{tmp}/configured.py", "Configured() needs arguments"),
    ("kcs.core", "defines no Controller subclass"),
    ("./missing.py", "no such file"),
])
async def test_targets_that_are_not_there_are_clear_errors(
    app: Path, tmp_path: Path, target: str, message: str,
) -> None:
    (tmp_path / "configured.py").write_text(CONFIGURED)
    proc = await anyio.to_thread.run_sync(lambda: run_kcs(
        ["run", target.format(app=app, tmp=tmp_path), "--kubeconfig", str(tmp_path / "nope")],
        cwd=tmp_path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.timeout(60)
async def test_a_missing_kubeconfig_is_a_clear_error(app: Path, tmp_path: Path) -> None:
    proc = await anyio.to_thread.run_sync(lambda: run_kcs(
        ["run", str(app), "--kubeconfig", str(tmp_path / "nope")], cwd=tmp_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "could not load kubeconfig" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.timeout(60)
async def test_an_error_in_the_users_module_keeps_its_traceback(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import kcs\n\nraise RuntimeError('my bug')\n")
    proc = await anyio.to_thread.run_sync(lambda: run_kcs(["run", "broken"], cwd=tmp_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "RuntimeError: my bug" in proc.stderr and 'broken.py", line 3' in proc.stderr


@pytest.mark.timeout(60)
async def test_a_factory_that_finds_a_setting_missing_stops_with_its_message(
    api: FakeApiServer, tmp_path: Path,
) -> None:
    (tmp_path / "needs.py").write_text(
        "import os\n\n"
        "def controllers():\n"
        "    raise SystemExit('needs: set NEEDS_SETTING')\n")
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
    proc = await anyio.to_thread.run_sync(lambda: run_kcs(
        ["run", "needs:controllers", "--kubeconfig", str(kubeconfig),
         "--health-bind-address", "0"], cwd=tmp_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.strip().endswith("needs: set NEEDS_SETTING"), proc.stderr
    assert "Traceback" not in proc.stderr
