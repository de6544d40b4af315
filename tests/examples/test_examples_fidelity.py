"""What the examples show through kubectl is what kube-apiserver would make it show: the
StaticSite CRD's printer columns, as apiextensions' table convertor serves them."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest
from examples_helpers import STATIC_SITE, one

from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


async def _kubectl(kubeconfig: Path, *args: str) -> str:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(kubeconfig.parent)}
    proc = await anyio.run_process(["kubectl", *args], env=env, check=True)
    return proc.stdout.decode()


async def test_a_crds_printer_columns_are_printed_as_kube_prints_them(tmp_path: Path) -> None:
    import yaml

    crd = one(STATIC_SITE.rendered(), "CustomResourceDefinition")
    site = yaml.safe_load((STATIC_SITE.directory / "site.yaml").read_text())
    async with FakeApiServer() as api:
        api.create("customresourcedefinitions.apiextensions.k8s.io", crd)
        api.create("staticsites.examples.kcs.dev", site)
        api.patch("staticsites.examples.kcs.dev", "hello", {"status": {"conditions": [{
            "type": "Ready", "status": "False", "reason": "Progressing", "message": "m",
            "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}, namespace="default", status=True)
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        table = await _kubectl(kubeconfig, "get", "staticsites")
        wide = await _kubectl(kubeconfig, "get", "staticsites", "-o", "wide")
    header, row = table.splitlines()[:2]
    # kube: Name and the CRD's columns, priority 0 only; AGE as a duration
    assert header.split() == ["NAME", "REPLICAS", "AVAILABLE", "READY", "AGE"], header
    def cell(line: str, column: str) -> str:  # the text under ``column`` of the header
        start = header.index(column)
        names = header.split()
        after = names.index(column) + 1
        end = header.index(names[after], start) if after < len(names) else len(line)
        return line[start:end].strip()

    assert [cell(row, c) for c in ("NAME", "REPLICAS", "READY")] == ["hello", "2", "False"]
    # a path that selects nothing is a null cell, which kubectl leaves blank
    assert cell(row, "AVAILABLE") == "", row
    age = cell(row, "AGE")
    assert age.endswith("s") and age[:-1].isdigit(), f"AGE is a duration such as 0s: {age!r}"
    wide_header, wide_row = wide.splitlines()[:2]
    assert wide_header.split() == ["NAME", "REPLICAS", "AVAILABLE", "READY", "REASON", "AGE"]
    assert "Progressing" in wide_row.split(), wide_row
