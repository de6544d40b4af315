"""The example controller: its image parsing, and its --demo run end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))

import image_policy  # noqa: E402


@pytest.mark.parametrize(
    ("image", "path"),
    [
        ("nginx", "docker.io/library/nginx"),
        ("nginx:1.25", "docker.io/library/nginx"),
        ("acme/app:1", "docker.io/acme/app"),
        ("ghcr.io/acme/app:1.2", "ghcr.io/acme/app"),
        ("localhost:5000/app", "localhost:5000/app"),
        ("registry.k8s.io/pause@sha256:abc", "registry.k8s.io/pause"),
    ],
)
def test_registry_path(image: str, path: str) -> None:
    assert image_policy.registry_path(image) == path


def test_allowed_prefixes_match_whole_components() -> None:
    assert image_policy.allowed("ghcr.io/acme/app:1", ["ghcr.io/acme"])
    assert not image_policy.allowed("ghcr.io/acme-evil/app:1", ["ghcr.io/acme"])
    assert not image_policy.allowed("nginx", ["registry.k8s.io"])


@pytest.mark.timeout(60)
def test_the_demo_runs_against_the_fake_apiserver() -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "image_policy.py"), "--demo"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    first, _, second = proc.stdout.partition("after moving legacy")
    assert "legacy   violation=true" in first
    assert "DisallowedRegistry" in first
    assert "legacy   violation=-" in second
    assert "ImagesAllowed" in second
