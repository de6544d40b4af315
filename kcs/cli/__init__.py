"""kcs.cli: the ``kcs`` command (also ``python -m kcs``).

* ``kcs run MODULE[:OBJECT]`` (or ``PATH.py[:OBJECT]``) runs controllers under a
  :class:`~kcs.manager.Manager` with the usual flags of a controller manager: kubeconfig
  or in-cluster configuration, leader election, the namespace to watch, the identity,
  health and metrics addresses, log level and format.
* ``kcs fake-apiserver`` serves the fake apiserver (``python -m kcs.testing.apiserver``).
* ``kcs demo`` runs the demo (``python -m kcs.demo``).

The command configures logging (:func:`kcs.logs.configure_logging`); the library never
does. See ``docs/cli.md``.
"""

from kcs.cli._main import main

__all__ = ["main"]
