"""Finding what ``kcs run`` runs: ``MODULE[:OBJECT]`` or ``PATH.py[:OBJECT]``.

This part knows nothing of controllers: it imports a module (by name, with the current
directory on ``sys.path`` as ``python -m`` has it, or from a file, with the file's
directory on ``sys.path`` as ``python file.py`` has it) and follows the dotted ``OBJECT``
path in it. What the object means is :mod:`kcs.cli._wiring`'s business.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

__all__ = ["LoadError", "Target", "load_target"]


class LoadError(Exception):
    """A target that cannot be imported or found; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Target:
    """A loaded target: the text it was given as, its module, and the object named
    (the module itself when no ``:OBJECT`` was given)."""

    spec: str
    module: ModuleType
    obj: object
    attribute: str | None


def _split(spec: str) -> tuple[str, str | None]:
    # A Windows drive ("C:\\x.py") is not an object separator; elsewhere the last ":" is.
    head, sep, tail = spec.rpartition(":")
    if not sep or not head or (len(head) == 1 and head.isalpha() and tail.startswith("\\")):
        return spec, None
    return head, tail


def _is_path(where: str) -> bool:
    return where.endswith(".py") or os.sep in where or where.startswith(".")


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise LoadError(f"no such file: {path}")
    name = path.stem if path.stem.isidentifier() else "_kcs_target"
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) != str(path):
        name = f"_kcs_target_{abs(hash(str(path)))}"
    directory = str(path.parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[name]
        raise
    return module


def _import_module(name: str) -> ModuleType:
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            raise LoadError(f"no module named {exc.name!r} (looked in the current "
                            f"directory and on sys.path)") from exc
        raise


def load_target(spec: str) -> Target:
    """Import ``spec`` (``pkg.module``, ``pkg.module:Name``, ``path/to/file.py``,
    ``path/to/file.py:factory``) and return it.

    Raises :class:`LoadError` when the module or file does not exist or has no such
    object. An exception raised by the module's own code while it is imported propagates
    unchanged, with its traceback (it is the user's bug, not a loading problem).
    """
    where, attribute = _split(spec.strip())
    if not where:
        raise LoadError(f"empty target {spec!r}: use MODULE[:OBJECT] or PATH.py[:OBJECT]")
    if _is_path(where):
        module = _import_file(Path(where).resolve())
    else:
        if not all(part.isidentifier() for part in where.split(".")):
            raise LoadError(f"{where!r} is neither a module name nor a .py file")
        module = _import_module(where)
    obj: object = module
    if attribute:
        for part in attribute.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                raise LoadError(
                    f"{module.__name__} has no attribute {attribute!r} (from {spec!r})"
                ) from None
    return Target(spec, module, obj, attribute or None)
