"""kcs.testing.chaos: chaos testing for controllers built on kcs.

Seeded fault schedules against the fake apiserver and against replicas run as real
processes (kill, pause, resume, partition), and the checks that say whether a controller
survived them. Like the rest of :mod:`kcs.testing` it imports only :mod:`kcs.core` and
:mod:`kcs.client`: what it needs of the layers above comes in as callables. See
``docs/testing.md``.
"""

from kcs.testing._proxy import TcpProxy

__all__ = ["TcpProxy"]
