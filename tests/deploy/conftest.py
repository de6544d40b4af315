"""The deployment tests reuse the command's process helpers and the wheel test's list of
build inputs (the Dockerfile must copy the same files)."""

import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[1]
for _helpers in (_TESTS / "cli", _TESTS / "packaging"):
    if str(_helpers) not in sys.path:
        sys.path.insert(0, str(_helpers))
