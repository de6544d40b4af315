"""The wheel as a user gets it: built from the files an sdist or a Dockerfile copies, then
installed into a fresh virtual environment (dependencies from the package index) where
kcs imports, the pytest plugin is found through its entry point, and the console script
runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_INPUTS = ("pyproject.toml", "README.md", "LICENSE", "kcs")


def _run(cmd: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          check=False)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip wheel --no-deps`` of a copy of the build inputs (nothing is written into the
    checkout)."""
    src = tmp_path_factory.mktemp("src")
    for name in BUILD_INPUTS:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out),
          str(src)], src, 240)
    wheels = list(out.glob("kcs-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def fresh_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A new virtual environment with ``kcs[testing]`` installed from the wheel."""
    env = tmp_path_factory.mktemp("venv")
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--quiet", f"{wheel}[testing]"], env, 300)
    yield env


def _source_modules() -> set[str]:
    return {str(p.relative_to(ROOT)) for p in (ROOT / "kcs").rglob("*.py")
            if "__pycache__" not in p.parts}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_wheel_holds_every_package_py_typed_the_license_and_the_entry_points(
    wheel: Path,
) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(zf.read(f"{info}/METADATA").decode())
        entry_points = zf.read(f"{info}/entry_points.txt").decode()
    assert "kcs/py.typed" in names
    missing = _source_modules() - names
    assert not missing, f"modules missing from the wheel: {sorted(missing)}"
    packages = {str(p.parent.relative_to(ROOT)) for p in (ROOT / "kcs").rglob("__init__.py")}
    assert {"kcs", "kcs/core", "kcs/client", "kcs/testing", "kcs/manager"} <= packages
    assert f"{info}/licenses/LICENSE" in names
    assert metadata["License-Expression"] == "Apache-2.0"
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL") or [])
    assert set(urls) == {"Homepage", "Documentation", "Source", "Changelog"}
    assert all(u.startswith("https://") for u in urls.values()), urls
    extras = set(metadata.get_all("Provides-Extra") or [])
    assert {"testing", "prometheus", "dev"} <= extras
    testing = [r for r in metadata.get_all("Requires-Dist") or [] if 'extra == "testing"' in r]
    assert any(r.startswith("pytest") for r in testing), testing
    assert not any(r.startswith(("mypy", "ruff", "mkdocs")) for r in testing), testing
    assert "[pytest11]\nkcs.testing.pytest_plugin = kcs.testing.pytest_plugin" in entry_points


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_fresh_venv_imports_kcs_and_pytest_finds_the_fixture_by_its_entry_point(
    fresh_venv: Path, tmp_path: Path,
) -> None:
    python = fresh_venv / "bin" / "python"
    proc = _run([str(python), "-c",
                 "import kcs, kcs.core, kcs.client, kcs.testing; print(kcs.__file__)"],
                tmp_path, 60)
    assert str(fresh_venv) in proc.stdout, "kcs was not imported from the fresh venv"
    (tmp_path / "conftest.py").write_text(
        "import pytest\n\n@pytest.fixture\ndef anyio_backend():\n    return 'asyncio'\n")
    (tmp_path / "test_uses_fixture.py").write_text(
        "import aiohttp, pytest\n\n"
        "@pytest.mark.anyio\n"
        "async def test_it(fake_apiserver):\n"
        "    async with aiohttp.ClientSession() as s:\n"
        "        async with s.get(fake_apiserver.url + '/api/v1/namespaces/default') as r:\n"
        "            body = await r.json()\n"
        "    assert body['metadata']['name'] == 'default'\n")
    # No -p and no conftest import: the entry point brings the fixture.
    proc = _run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], tmp_path, 120)
    assert "1 passed" in proc.stdout, proc.stdout
    # Naming the plugin as well does not register it twice.
    proc = _run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 "-p", "kcs.testing.pytest_plugin"], tmp_path, 120)
    assert "1 passed" in proc.stdout, proc.stdout
    # And it can be turned off by that name.
    off = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-p", "no:kcs.testing.pytest_plugin"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, check=False)
    assert off.returncode != 0 and "fixture 'fake_apiserver' not found" in off.stdout, off.stdout
