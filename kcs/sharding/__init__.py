"""kcs.sharding: one controller spread over several replicas.

:class:`HashRing` decides which replica (shard) owns which key: consistent hashing with
virtual nodes, so that a join or a leave moves about ``1/N`` of the keys.
"""

from kcs.sharding._ring import DEFAULT_VNODES, HashRing

__all__ = ["DEFAULT_VNODES", "HashRing"]
