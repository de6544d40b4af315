"""kcs.observability: OpenTelemetry metrics and spans for every layer of kcs.

The library uses only the OpenTelemetry API, so everything here is a no-op until the
application installs an SDK (see ``docs/observability.md``). The hooks are installed by
default: controllers record reconciles and their queues, informers are observed when they
are made, and the :class:`~kcs.manager.Manager` puts a :class:`ClientTelemetry` on its
clients. Metric names, units and attributes are listed in ``docs/observability.md``.

It imports nothing of kcs but :mod:`kcs.client` (for the request hook's types), so every
layer can import it.
"""

from kcs.observability._client import ClientTelemetry
from kcs.observability._controller import ReconcileTelemetry, reconcile_span
from kcs.observability._informer import ObservedInformer, observe_informer
from kcs.observability._leader import ElectionEventLike, LeaderTelemetry
from kcs.observability._telemetry import INSTRUMENTATION_NAME, Telemetry, default_telemetry
from kcs.observability._workqueue import QueueTelemetry, RunningQueue, observe_queue

__all__ = [
    "INSTRUMENTATION_NAME",
    "ClientTelemetry",
    "ElectionEventLike",
    "LeaderTelemetry",
    "ObservedInformer",
    "QueueTelemetry",
    "ReconcileTelemetry",
    "RunningQueue",
    "Telemetry",
    "default_telemetry",
    "observe_informer",
    "observe_queue",
    "reconcile_span",
]
