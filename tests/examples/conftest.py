"""The examples' tests reuse the command's process helpers (tests/cli/cli_helpers.py)."""

import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[1]
for _helpers in (_TESTS / "cli", _TESTS / "examples"):
    if str(_helpers) not in sys.path:
        sys.path.insert(0, str(_helpers))
