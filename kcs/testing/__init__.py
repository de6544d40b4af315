"""kcs.testing: a fake apiserver and test helpers."""

from kcs.testing._workload import typical_pod, typical_pods

__all__ = ["typical_pod", "typical_pods"]
