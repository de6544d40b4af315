"""kcs.testing: a fake kube-apiserver that speaks the real wire protocol, for tests.

``FakeApiServer`` runs in the test's event loop on 127.0.0.1; ``ApiServerProcess`` runs the
same server in another OS process (``python -m kcs.testing.apiserver``) and drives it over
its ``/_fake/`` control channel. Both are proved against kubectl and kubernetes-asyncio.
It imports only :mod:`kcs.client`, never the layers it is used to test. The cluster's own
controllers (namespace, service account, garbage collector, and a node agent for the
kubelets) run inside it, as in a cluster; see ``docs/testing.md``.

A pytest fixture lives in :mod:`kcs.testing.pytest_plugin` (imported on demand, so that this
package does not need pytest). ``eventually`` polls a condition that has no event to await,
with a deadline and a clear failure. ``typical_pod`` / ``typical_pods`` build the
deterministic "typical pod" objects the benchmarks use.
"""

from kcs.testing._accounting import RequestLog, ServedRequest, WriteLog, WriteRecord
from kcs.testing._cluster import CONTROLLERS, ClusterControllers
from kcs.testing._eventually import EventuallyOptions, eventually
from kcs.testing._faults import VERBS, Faults, PartitionMode
from kcs.testing._kubelet import NodeAgent, NodeAgentMode
from kcs.testing._process import ApiServerProcess
from kcs.testing._server import DEFAULT_NAMESPACES, FakeApiServer
from kcs.testing._watch import WatchHub
from kcs.testing._workload import typical_pod, typical_pods

__all__ = [
    "CONTROLLERS",
    "DEFAULT_NAMESPACES",
    "VERBS",
    "ApiServerProcess",
    "ClusterControllers",
    "EventuallyOptions",
    "FakeApiServer",
    "Faults",
    "NodeAgent",
    "NodeAgentMode",
    "PartitionMode",
    "RequestLog",
    "ServedRequest",
    "WatchHub",
    "WriteLog",
    "WriteRecord",
    "eventually",
    "typical_pod",
    "typical_pods",
]
