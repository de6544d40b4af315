"""kcs benchmarks (see BENCHMARKS.md in the team's shared notes): ``python -m benchmarks``."""
