"""Make the project's ``benchmarks`` package importable by these tests (it is not
installed: it lives beside ``kcs`` in the checkout)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
