"""Fixtures of the cache tests: the mutation detector is on, as in every test suite."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _mutation_detector_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Store built in these tests checks for mutated cached objects."""
    monkeypatch.setenv("KCS_CACHE_MUTATION_DETECTOR", "1")
