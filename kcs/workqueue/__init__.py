"""kcs.workqueue: keys, not events.

The controller layer's queue, as in client-go's workqueue: dedup of keys, one worker per
key at a time, delays, per-key exponential backoff under an overall token bucket,
priorities with aging, and a draining shutdown. Self-contained: stdlib and anyio only.
"""

from kcs.workqueue._metrics import NoQueueMetrics, QueueMetrics
from kcs.workqueue._priority import Priority
from kcs.workqueue._queue import QueueShutDown, WorkQueue
from kcs.workqueue._ratelimit import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemRateLimiter,
    MaxOfRateLimiter,
    default_controller_rate_limiter,
)
from kcs.workqueue._workers import run_workers

__all__ = [
    "BucketRateLimiter",
    "ItemExponentialFailureRateLimiter",
    "ItemRateLimiter",
    "MaxOfRateLimiter",
    "NoQueueMetrics",
    "Priority",
    "QueueMetrics",
    "QueueShutDown",
    "WorkQueue",
    "default_controller_rate_limiter",
    "run_workers",
]
