"""Shared pytest configuration.

Every async test runs on asyncio through anyio, and every cache in every test runs with
the cache mutation detector on: a test that mutates an object it read from a cache fails
loudly instead of corrupting the cache silently.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("KCS_CACHE_MUTATION_DETECTOR", "1")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
