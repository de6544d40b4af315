"""docs/leader-election.md's first block runs as written: its program finds the fake apiserver through
``$KUBECONFIG`` (``Client.auto()``), leads, runs the leader-only work until it is asked to
stop, then releases the Lease. The page's own placeholders (``run_controllers``,
``caches_synced``, ``shutdown_requested``) are the parts a reader writes; here they record
what the elector did with them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
import pytest
from doc_blocks import python_blocks, run_block

from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

PAGE = "leader-election.md"


async def test_leader_election_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    leading, stopped = anyio.Event(), anyio.Event()

    async def run_controllers(stopping: anyio.Event) -> None:
        leading.set()
        await stopping.wait()  # the page: "stop taking new work and return"
        stopped.set()

    async def caches_synced() -> None:
        return None  # nothing to sync here: no informers

    async def shutdown_requested() -> None:
        await leading.wait()  # stop once the work has started on the leader

    async with FakeApiServer() as api:
        monkeypatch.setenv("KUBECONFIG", str(api.write_kubeconfig(tmp_path / "kubeconfig")))
        ns: dict[str, Any] = {
            "run_controllers": run_controllers, "caches_synced": caches_synced,
            "shutdown_requested": shutdown_requested}
        with anyio.fail_after(20):
            await run_block(python_blocks(PAGE)[0], ns)  # "Using it": defines main()
            await ns["main"]()
        lease = api.get("leases", "my-controller", "kube-system")
    assert leading.is_set() and stopped.is_set()  # the work ran, and returned when asked
    out = capsys.readouterr().out.splitlines()
    # No Lease yet, then this replica (identity: host_random), then released.
    assert len(out) == 4 and re.fullmatch(r"leader is \S+_[0-9a-f]+", out[1]), out
    assert out[:1] + out[2:] == ["leader is nobody", "not leading", "leader is nobody"], out
    assert not lease["spec"].get("holderIdentity"), lease  # released: no one holds it
