"""How ``kcs run`` turns loaded targets into controllers under a Manager.

This is the one module of the command that knows how controllers are constructed and
how a :class:`~kcs.manager.Manager` is built; everything else (flags, configuration,
logging, loading) is independent of that API.

A target's object may be:

* a :class:`~kcs.controller.Controller` subclass: built with no arguments, ``cls()``;
* a Controller instance: added as it is;
* a module: every Controller subclass *defined* in it (not imported into it);
* a callable ``factory(manager) -> Iterable[Controller] | None``: for controllers whose
  constructors need arguments (settings, the manager's client); it returns them, or adds
  them itself with ``manager.add``;
* a list or tuple of any of these.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable
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

ControllerFactory = Callable[[Manager], Iterable[Controller]]
"""Builds controllers against a manager's informers."""


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


def _defined_in(module: ModuleType) -> list[type[Controller]]:
    found = []
    for _, value in inspect.getmembers(module, inspect.isclass):
        if (issubclass(value, Controller) and value is not Controller
                and value.__module__ == module.__name__ and not inspect.isabstract(value)
                and not value.__name__.startswith("_")):
            found.append(value)
    return found


def _from_class(cls: type[Controller], target: Target) -> ControllerFactory:
    try:
        inspect.signature(cls).bind()
    except TypeError as exc:
        raise LoadError(
            f"{target.spec}: {cls.__qualname__}() needs arguments ({exc}); name a "
            f"factory(manager) that builds it instead") from None

    def build(manager: Manager) -> Iterable[Controller]:
        return [cls()]

    build.__qualname__ = f"{cls.__module__}.{cls.__qualname__}"
    return build


def _instance(controller: Controller) -> ControllerFactory:
    return lambda manager: [controller]


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
        factory = obj

        def call(manager: Manager) -> Iterable[Controller]:
            made = factory(manager)
            return list(made) if made is not None else []

        return [call]
    raise LoadError(
        f"{target.spec}: {type(obj).__name__} {obj!r:.60} is not a Controller subclass, a "
        f"module, a factory(manager) or a list of them")


def controller_factories(targets: Iterable[Target]) -> list[ControllerFactory]:
    """The factories the targets stand for; :class:`LoadError` for anything else."""
    return [f for t in targets for f in _factories(t.obj, t)]


def build_manager(
    client: Client,
    election_client: Client | None,
    settings: ManagerSettings,
    factories: Iterable[ControllerFactory],
) -> Manager:
    """The Manager with every controller added (their informers requested from it)."""
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
        for controller in factory(manager):
            if not isinstance(controller, Controller):
                raise LoadError(f"a factory returned {controller!r:.60}, not a Controller")
            if all(r.controller is not controller for r in manager.runners):
                manager.add(controller)
    if not manager.runners:
        raise LoadError("the targets gave no controller to run")
    names = ", ".join(r.name for r in manager.runners)
    _log.info("controllers: %s", names)
    return manager
