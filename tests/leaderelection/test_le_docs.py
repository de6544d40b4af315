"""The crash-detection example of docs/leader-election.md runs as written (listening on
127.0.0.1 instead of every address: test servers bind loopback only)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
import pytest

from kcs.client import Client
from kcs.leaderelection import (
    ANNOTATION_LIVENESS,
    LeaderElector,
    candidate_lease_name,
    parse_endpoint,
)
from kcs.testing import FakeApiServer, eventually

PAGE = Path(__file__).resolve().parents[2] / "docs" / "leader-election.md"

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


async def test_the_crash_detection_example_builds_an_elector_that_advertises_its_endpoint(
    fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    section = PAGE.read_text().split("### Crash failover", 1)[1]
    code = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]
    assert 'host="0.0.0.0"' in code
    code = code.replace('host="0.0.0.0"', 'host="127.0.0.1"')
    monkeypatch.setenv("POD_IP", "127.0.0.1")
    async with Client.from_url(fake_apiserver.url, qps=None) as client:
        namespace: dict[str, Any] = {"client": client}  # the snippet imports the rest
        exec(compile(code, str(PAGE), "exec"), namespace)
        elector: LeaderElector = namespace["elector"]
        assert elector.crash_detection is not None
        async with anyio.create_task_group() as tg:
            tg.start_soon(elector.run)
            name = candidate_lease_name("my-controller", elector.identity)

            def advertised() -> str:
                try:
                    lease = fake_apiserver.get("leases", name, "default")
                except Exception:
                    return ""
                return str(lease["metadata"].get("annotations", {}).get(ANNOTATION_LIVENESS, ""))

            await eventually(lambda: bool(advertised()), 5, "the advertised endpoint")
            endpoint = parse_endpoint(advertised())
            assert endpoint is not None and endpoint.host == "127.0.0.1"
            assert elector.liveness_endpoint == str(endpoint)
            await elector.release(None)
            tg.cancel_scope.cancel()
