"""The controller guide's code runs: its controller and its runner, against the fake
apiserver, do what the page says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
import pytest
from ctl_helpers import deployment

from kcs.core import NotFound, builtin
from kcs.testing import FakeApiServer, eventually

PAGE = Path(__file__).resolve().parents[2] / "docs" / "writing-a-controller.md"
CONFIGMAPS = builtin("configmaps")
DEPLOYMENTS = builtin("deployments.apps")


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)


@pytest.mark.anyio
@pytest.mark.timeout(20)
async def test_the_first_controller_and_its_runner_work_as_written() -> None:
    controller_code, runner_code = python_blocks(PAGE)[:2]
    namespace: dict[str, Any] = {"anyio": anyio, "__name__": "docs_snippet"}
    exec(compile(controller_code + runner_code, str(PAGE), "exec"), namespace)

    def config() -> dict[str, Any] | None:
        try:
            return api.get(CONFIGMAPS, "web-config", "default")
        except NotFound:
            return None

    async with FakeApiServer() as api, anyio.create_task_group() as tg:
        tg.start_soon(namespace["main"], api.url)
        api.create(DEPLOYMENTS, deployment("web", image="app:1"))
        cm = await eventually(config)
        assert cm["data"] == {"image": "app:1"}
        assert cm["metadata"]["ownerReferences"][0]["name"] == "web"
        api.patch(DEPLOYMENTS, "web", {"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "app:2"}]}}}}, namespace="default")
        await eventually(lambda: (config() or {}).get("data") == {"image": "app:2"})
        tg.cancel_scope.cancel()
