"""pytest settings for this controller's tests.

The ``fake_apiserver`` fixture comes from kcs's pytest plugin, registered when kcs is
installed with its ``testing`` extra (``pip install 'kcs[testing]'``)."""

import os

import pytest

# Fail loudly if the controller ever mutates an object it read from a cache (the cache
# hands out shared objects: a mutation would corrupt it silently).
os.environ.setdefault("KCS_CACHE_MUTATION_DETECTOR", "1")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # kcs runs on asyncio
