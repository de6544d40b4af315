"""pytest fixtures for tests that use the fake apiserver.

Installed with kcs (``pip install kcs[testing]`` brings pytest), this module is a pytest
plugin registered under its own name through the ``pytest11`` entry point: the
``fake_apiserver`` fixture is there in every test, with no ``-p`` option and no conftest
import. ``-p kcs.testing.pytest_plugin`` names the same plugin (it is not loaded twice), and
``-p no:kcs.testing.pytest_plugin`` turns it off.

The fixture is async: it needs the anyio pytest plugin (installed with anyio), tests marked
``@pytest.mark.anyio``, and an ``anyio_backend`` fixture returning ``"asyncio"`` (kcs runs
on asyncio; anyio's own default also tries trio when trio is installed).
"""

from kcs.testing._pytest import fake_apiserver

__all__ = ["fake_apiserver"]
