"""kcs benchmarks: ``python -m benchmarks`` (the protocol is in ``docs/benchmarks.md``)."""
