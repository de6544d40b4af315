"""How ``kcs run`` turns targets into controllers (kcs/cli/_wiring.py): the shapes a
factory may take, base classes skipped in a module, and clear errors for the rest."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from kcs.cli._load import LoadError, load_target
from kcs.cli._wiring import ManagerSettings, build_manager, controller_factories
from kcs.client import Client
from kcs.leaderelection import ElectionTimings
from kcs.manager import Manager

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

MODULE = '''
from kcs.controller import Builder, Context, Controller, Result
from kcs.core import ObjectKey, builtin

CONFIGMAPS = builtin("configmaps")


class Base(Controller):
    """A base of the user's own: it leaves setup to its subclasses."""

    async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
        return None


class Mirror(Base):
    name = "mirror"

    def __init__(self, prefix: str = "m-") -> None:
        self.prefix = prefix

    def setup(self, builder: Builder) -> None:
        builder.for_(CONFIGMAPS)


def no_arguments():
    return Mirror("none-")


async def asynchronous(manager):
    assert manager.client is not None  # the factory can use the manager's client
    return [Mirror("async-"), Mirror("async2-")]


def adds_itself(manager):
    manager.add(Mirror("added-"))


def returns_a_string(manager):
    return "mirror"


def returns_a_list_with_junk(manager):
    return [Mirror(), 42]


def two_arguments(manager, settings):
    return []
'''

_names = itertools.count()


@pytest.fixture
def module(tmp_path: Path) -> str:
    path = tmp_path / f"user_controllers_{next(_names)}.py"
    path.write_text(MODULE)
    return str(path)


SETTINGS = ManagerSettings(
    identity="test", lease_name=None, lease_namespace=None, namespace=None,
    health_host="127.0.0.1", health_port=None, timings=ElectionTimings(),
    drain_timeout=1.0, shutdown_timeout=2.0,
)


async def manager_for(*specs: str) -> Manager:
    factories = controller_factories([load_target(s) for s in specs])
    async with Client.from_url("http://127.0.0.1:9") as client:  # never contacted
        return await build_manager(client, None, SETTINGS, factories)


def prefixes(manager: Manager) -> list[str]:
    return [r.controller.prefix for r in manager.runners]  # type: ignore[attr-defined]


async def test_a_module_runs_the_classes_that_implement_both_methods(module: str) -> None:
    manager = await manager_for(module)
    assert [type(r.controller).__name__ for r in manager.runners] == ["Mirror"]


@pytest.mark.parametrize(("factory", "expected"), [
    ("no_arguments", ["none-"]),
    ("asynchronous", ["async-", "async2-"]),
    ("adds_itself", ["added-"]),
])
async def test_factories_with_or_without_the_manager_sync_or_async(
    module: str, factory: str, expected: list[str],
) -> None:
    assert prefixes(await manager_for(f"{module}:{factory}")) == expected


@pytest.mark.parametrize(("factory", "message"), [
    ("returns_a_string", "returned 'mirror', not a Controller, an iterable of them or None"),
    ("returns_a_list_with_junk", "returned 42 among its controllers"),
    ("two_arguments", "must take the manager, or nothing"),
])
async def test_factories_that_return_something_else_are_clear_errors(
    module: str, factory: str, message: str,
) -> None:
    with pytest.raises(LoadError, match=message):
        await manager_for(f"{module}:{factory}")
