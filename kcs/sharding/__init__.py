"""kcs.sharding: one controller spread over several replicas.

Turn it on with one setting, ``Manager(..., sharding=Sharding(ring="web"))``:

* every replica holds a shard Lease (:class:`ShardLease`) and runs its controllers as a
  :class:`Shard`: their ``for_`` and ``owns`` informers select only the objects labelled
  with its identity, and a :class:`ShardGate` admits a reconcile only of its own keys;
* the elected leader also runs the :class:`Sharder` as leader-only work: it watches the
  shard Leases (:class:`Membership`) and the unassigned objects, and writes the
  assignment labels, moving keys between live shards with a drain handshake;
* :class:`HashRing` decides which shard owns which key: consistent hashing with virtual
  nodes, so that a join or a leave moves about ``1/N`` of the keys.

See ``docs/sharding.md`` for the design, the guarantees and when to shard.
"""

from kcs.sharding._fence import ShardFence
from kcs.sharding._gate import ShardGate, ShardGateStats
from kcs.sharding._lease import ShardLease, ShardLost
from kcs.sharding._membership import Member, Membership
from kcs.sharding._options import RING_LABEL, PartitionKey, Sharding, default_partition_key
from kcs.sharding._ring import DEFAULT_VNODES, HashRing
from kcs.sharding._shard import Shard
from kcs.sharding._sharder import Sharder, SharderStats, ShardTarget

__all__ = [
    "DEFAULT_VNODES",
    "RING_LABEL",
    "HashRing",
    "Member",
    "Membership",
    "PartitionKey",
    "Shard",
    "ShardFence",
    "ShardGate",
    "ShardGateStats",
    "ShardLease",
    "ShardLost",
    "ShardTarget",
    "Sharder",
    "SharderStats",
    "Sharding",
    "default_partition_key",
]
