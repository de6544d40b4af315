"""Counting slow requests: a :class:`~kcs.client.RequestObserver` that keeps score."""

from __future__ import annotations

from collections import Counter

from kcs.client._observer import NOOP_OBSERVER, RequestObserver, RequestRecord

__all__ = ["SlowRequestCounter"]


class SlowRequestCounter:
    """Counts calls that took longer than ``threshold`` seconds, per (verb, resource).

    Install it as a client's observer (``Client.from_url(url, observer=counter)``, or
    ``client.observer = counter``); it passes every record on to ``inner`` (for example
    the metrics observer), so it can be chained in front of another. Watches are not
    counted (their duration is the time to start the stream). Memory: one counter entry
    per (verb, resource) that was ever slow.
    """

    def __init__(self, threshold: float, inner: RequestObserver = NOOP_OBSERVER) -> None:
        if threshold < 0:
            raise ValueError("threshold must not be negative")
        self.threshold = threshold
        self.inner = inner
        self.total = 0
        """Calls seen."""
        self.slow: Counter[tuple[str, str]] = Counter()
        """Slow calls by (verb, resource)."""

    @property
    def slow_total(self) -> int:
        """All slow calls."""
        return sum(self.slow.values())

    def request_done(self, record: RequestRecord) -> None:
        """Count ``record``, then pass it on."""
        if record.verb != "watch":
            self.total += 1
            if record.duration > self.threshold:
                self.slow[(record.verb, record.resource)] += 1
        self.inner.request_done(record)

    def __repr__(self) -> str:
        return f"SlowRequestCounter(threshold={self.threshold}, slow={self.slow_total})"
