"""``python -m benchmarks [--quick] [--only NAME[,NAME...]] [--json FILE]``.

Runs the benchmarks of ``docs/benchmarks.md`` (each module's ``run(quick) -> dict[str, float]``),
prints a table and optionally writes one flat JSON object, metric name -> number.
``--tiny`` (hidden, for the smoke test) shrinks every size: its figures mean nothing.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import time
import traceback

from benchmarks._harness import Metrics

NAMES = ("watch", "memory", "index", "sync", "failover", "latency", "sharding")
TINY_N = "300"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="quick sizes (about 6 minutes)")
    p.add_argument("--only", default="", help=f"comma-separated subset of {','.join(NAMES)}")
    p.add_argument("--json", default=None, metavar="FILE", help="write the metrics here")
    p.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)
    return p


def _format(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def table(metrics: Metrics) -> str:
    """The metrics as an aligned two-column table."""
    width = max((len(k) for k in metrics), default=10)
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  {'-' * 12}"]
    lines += [f"{k:<{width}}  {_format(v):>12}" for k, v in metrics.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    names = [n for n in args.only.split(",") if n] if args.only else list(NAMES)
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {NAMES}", file=sys.stderr)
        return 2
    if args.tiny:
        os.environ["KCS_BENCH_N"] = TINY_N
        os.environ["KCS_BENCH_ROUNDS"] = "1"
    metrics: Metrics = {}
    failed: list[str] = []
    for name in names:
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"benchmarks.{name}":
                raise
            print(f"[{name}] not available", file=sys.stderr)
            failed.append(name)
            continue
        t0 = time.monotonic()
        print(f"[{name}] running ...", file=sys.stderr, flush=True)
        try:
            result = module.run(args.quick)
        except Exception:
            traceback.print_exc()
            failed.append(name)
            continue
        print(f"[{name}] done in {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
        metrics.update({k: float(v) for k, v in result.items()})
    print(table(metrics))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(metrics, f, indent=2, sort_keys=True)
            f.write("\n")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
