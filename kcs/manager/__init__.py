"""kcs.manager: runs it all — caches on every replica, controllers only on the leader.

* :class:`Manager` — runs the informers on every replica (warm standby), gates the
  controllers on a :class:`~kcs.leaderelection.LeaderElector`, reports readiness once the
  caches have synced, and shuts down gracefully on SIGTERM/SIGINT (drain, then hand the
  Lease to a synced standby or release it).
* :class:`HealthServer` / :class:`HealthStatus` — ``/healthz``, ``/readyz`` and
  ``/leader`` on a local port.

See ``docs/manager.md``.
"""

from kcs.manager._health import HealthServer, HealthStatus
from kcs.manager._manager import Manager

__all__ = ["HealthServer", "HealthStatus", "Manager"]
