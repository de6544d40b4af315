"""How ``kcs run`` turns loaded targets into controllers under a Manager.

This is the one module of the command that knows how controllers are constructed and
how a :class:`~kcs.manager.Manager` is built; everything else (flags, configuration,
logging, loading) is independent of that API.

A target's object may be:

* a :class:`~kcs.controller.Controller` subclass: built with no arguments, ``cls()``;
* a Controller instance: added as it is;
* a module: every Controller subclass *defined* in it (not imported into it) that
  implements both ``setup`` and ``reconcile`` (a base class of your own that leaves one
  of them to its subclasses is skipped);
* a factory, ``def`` or ``async def``, taking the :class:`~kcs.manager.Manager` or
  nothing: for controllers whose constructors need arguments (settings read from the
  environment, the manager's client). It returns a Controller, an iterable of them or
  ``None`` (when it added them itself with ``manager.add``). An ``async`` factory may do
  I/O first (read a ConfigMap, check that a CRD is installed) on the manager's client.
* a list or tuple of any of these.

The controller's own settings are its business, not the command's: ``kcs run``'s flags
configure the Manager only (as controller-runtime's manager flags and kopf's ``run`` do),
and a factory reads whatever else the controller needs, usually from environment
variables that the Deployment sets. Nothing is passed to a constructor implicitly.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import ModuleType

from kcs.cli._load import LoadError, Target
from kcs.client import Client
from kcs.controller import Controller
from kcs.informer import InformerFactory
from kcs.leaderelection import ElectionTimings
from kcs.manager import Manager

__all__ = ["ControllerFactory", "ManagerSettings", "build_manager", "controller_factories"]

_log = logging.getLogger("kcs.cli")

ControllerFactory = Callable[[Manager], Awaitable[list[Controller]]]
"""Builds controllers against a manager's informers (what every target becomes)."""


@dataclass(frozen=True, slots=True)
class ManagerSettings:
    """What the flags of ``kcs run`` decide about the Manager."""

    identity: str
    lease_name: str | None
    """``None``: no leader election (this replica always leads)."""
    lease_namespace: str | None
    namespace: str | None
    """The namespace every informer watches (``None``: all namespaces)."""
    health_host: str
    health_port: int | None
    """``None``: no health endpoints."""
    timings: ElectionTimings
    drain_timeout: float
    shutdown_timeout: float


def _implements(cls: type[Controller]) -> bool:
    """Whether ``cls`` has its own ``setup`` and ``reconcile`` (not the base's stubs)."""
    return cls.setup is not Controller.setup and cls.reconcile is not Controller.reconcile


def _defined_in(module: ModuleType) -> list[type[Controller]]:
    found = []
    for _, value in inspect.getmembers(module, inspect.isclass):
        if (issubclass(value, Controller) and value is not Controller
                and value.__module__ == module.__name__ and not inspect.isabstract(value)
                and not value.__name__.startswith("_") and _implements(value)):
            found.append(value)
    return found


def _from_class(cls: type[Controller], target: Target) -> ControllerFactory:
    try:
        inspect.signature(cls).bind()
    except TypeError as exc:
        raise LoadError(
            f"{target.spec}: {cls.__qualname__}() needs arguments ({exc}); name a "
            f"factory(manager) that builds it instead") from None

    async def build(manager: Manager) -> list[Controller]:
        return [cls()]

    build.__qualname__ = f"{cls.__module__}.{cls.__qualname__}"
    return build


def _instance(controller: Controller) -> ControllerFactory:
    async def build(manager: Manager) -> list[Controller]:
        return [controller]

    return build


def _wants_manager(factory: Callable[..., object], target: Target) -> bool:
    """Whether ``factory`` takes the manager (one positional argument) or nothing."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin without a signature: try the manager
        return True
    try:
        signature.bind(None)
        return True
    except TypeError:
        pass
    try:
        signature.bind()
        return False
    except TypeError:
        raise LoadError(
            f"{target.spec}: {getattr(factory, '__qualname__', factory)!s}{signature} must "
            f"take the manager, or nothing") from None


def _made(made: object, factory: object) -> list[Controller]:
    """What a factory returned, as a list of controllers (``LoadError`` otherwise)."""
    if made is None:
        return []
    if isinstance(made, Controller):
        return [made]
    name = getattr(factory, "__qualname__", repr(factory))
    if isinstance(made, str | bytes) or not isinstance(made, Iterable):
        raise LoadError(f"the factory {name} returned {made!r:.60}, not a Controller, an "
                        f"iterable of them or None")
    out = list(made)
    for item in out:
        if not isinstance(item, Controller):
            raise LoadError(f"the factory {name} returned {item!r:.60} among its "
                            f"controllers, not a Controller")
    return out


def _from_factory(factory: Callable[..., object], target: Target) -> ControllerFactory:
    with_manager = _wants_manager(factory, target)

    async def call(manager: Manager) -> list[Controller]:
        made = factory(manager) if with_manager else factory()
        if inspect.isawaitable(made):
            made = await made
        return _made(made, factory)

    return call


def _factories(obj: object, target: Target, depth: int = 0) -> list[ControllerFactory]:
    if isinstance(obj, type) and issubclass(obj, Controller):
        return [_from_class(obj, target)]
    if isinstance(obj, Controller):
        return [_instance(obj)]
    if isinstance(obj, ModuleType):
        classes = _defined_in(obj)
        if not classes:
            raise LoadError(
                f"{target.spec}: module {obj.__name__} defines no Controller subclass; "
                f"name the object to run with MODULE:OBJECT")
        return [_from_class(c, target) for c in classes]
    if isinstance(obj, list | tuple) and depth == 0:
        return [f for item in obj for f in _factories(item, target, 1)]
    if callable(obj) and not isinstance(obj, type):
        return [_from_factory(obj, target)]
    raise LoadError(
        f"{target.spec}: {type(obj).__name__} {obj!r:.60} is not a Controller subclass, a "
        f"module, a factory(manager) or a list of them")


def controller_factories(targets: Iterable[Target]) -> list[ControllerFactory]:
    """The factories the targets stand for; :class:`LoadError` for anything else."""
    return [f for t in targets for f in _factories(t.obj, t)]


async def build_manager(
    client: Client,
    election_client: Client | None,
    settings: ManagerSettings,
    factories: Iterable[ControllerFactory],
) -> Manager:
    """The Manager with every controller added (their informers requested from it).

    The factories run in order, in the caller's event loop, before the manager runs."""
    informers = InformerFactory(client, default_namespace=settings.namespace)
    manager = Manager(
        client,
        lease_name=settings.lease_name,
        namespace=settings.lease_namespace,
        identity=settings.identity,
        timings=settings.timings,
        election_client=election_client if settings.lease_name else None,
        informers=informers,
        health_host=settings.health_host,
        health_port=settings.health_port,
        drain_timeout=settings.drain_timeout,
        shutdown_timeout=settings.shutdown_timeout,
    )
    for factory in factories:
        for controller in await factory(manager):
            if all(r.controller is not controller for r in manager.runners):
                manager.add(controller)
    if not manager.runners:
        raise LoadError("the targets gave no controller to run")
    names = ", ".join(r.name for r in manager.runners)
    _log.info("controllers: %s", names)
    return manager
