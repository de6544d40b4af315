"""pytest fixtures for tests that use the fake apiserver.

Import the fixture into a ``conftest.py``::

    from kcs.testing.pytest_plugin import fake_apiserver  # noqa: F401

or load this module as a plugin: ``pytest -p kcs.testing.pytest_plugin``. Async fixtures
need the anyio pytest plugin (installed with anyio) and an ``anyio_backend`` fixture
returning ``"asyncio"``.
"""

from kcs.testing._pytest import fake_apiserver

__all__ = ["fake_apiserver"]
