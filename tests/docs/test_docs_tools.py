"""The docs build's own tools: the griffe extension that turns reST roles and code blocks
into Markdown links and fences, and the check that no built page shows a raw role."""

from __future__ import annotations

import sys
from pathlib import Path

import griffe
import pytest

EXT = Path(__file__).resolve().parents[2] / "docs" / "_ext"
sys.path.insert(0, str(EXT))

from check_site import constructor_parameters, raw_markup  # noqa: E402
from sphinx_roles import SphinxRoles  # noqa: E402

IMPL = '''
class Thing:
    """A thing. :meth:`run` runs it; :class:`~pkgx.Thing` is itself, :class:`the thing
    <pkgx.Thing>` too; :func:`time.monotonic` is not ours; :meth:`_hidden` is private.

    .. code-block:: python

        thing = Thing()
        thing.run()

    Also::

        print("literal")

    The end.
    """

    def run(self) -> None:
        """Run; see :attr:`size` and :meth:`Other.go` (not exported)."""

    def _hidden(self) -> None:
        """Private."""

    size: int = 0
    """How big."""


class Other:
    def go(self) -> None:
        """Go."""
'''


@pytest.fixture
def loaded(tmp_path: Path) -> tuple[griffe.Module, SphinxRoles]:
    pkg = tmp_path / "src" / "pkgx"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        '"""The package."""\nfrom pkgx._impl import Other, Thing\n\n__all__ = ["Thing"]\n')
    (pkg / "_impl.py").write_text(IMPL)
    ref = tmp_path / "reference"
    ref.mkdir()
    (ref / "pkgx.md").write_text("# pkgx\n\n::: pkgx\n")
    ext = SphinxRoles(reference=str(ref))
    module = griffe.load("pkgx", search_paths=[str(tmp_path / "src")],
                         extensions=griffe.load_extensions(ext))
    assert isinstance(module, griffe.Module)
    return module, ext


@pytest.mark.timeout(30)
def test_roles_become_links_to_rendered_objects_and_code_otherwise(
    loaded: tuple[griffe.Module, SphinxRoles],
) -> None:
    module, ext = loaded
    thing = module["Thing"].final_target
    doc = thing.docstring.value
    assert "[`run()`][pkgx.Thing.run]" in doc  # relative, in the class; the public path
    assert "[`Thing`][pkgx.Thing]" in doc  # ~ keeps the last component
    assert "[`the thing`][pkgx.Thing]" in doc  # an explicit title
    assert "`time.monotonic()`" in doc and "[`time" not in doc  # outside the package
    assert "`_hidden()`" in doc and "][pkgx.Thing._hidden]" not in doc  # not rendered
    run = thing["run"].docstring.value
    assert "[`size`][pkgx.Thing.size]" in run
    assert "`Other.go()`" in run and "][pkgx" not in run.split("size]")[1]  # not exported
    assert ":meth:" not in doc and ":class:" not in doc and ":func:" not in doc
    assert ext.linked == 4


@pytest.mark.timeout(30)
def test_code_block_directives_and_literal_blocks_become_fences(
    loaded: tuple[griffe.Module, SphinxRoles],
) -> None:
    doc = loaded[0]["Thing"].final_target.docstring.value
    assert ".. code-block::" not in doc
    assert "```python\nthing = Thing()\nthing.run()\n```" in doc
    assert "Also:\n\n```python\nprint(\"literal\")\n```" in doc
    assert doc.rstrip().endswith("The end.")


def test_the_site_check_finds_raw_roles_outside_code_blocks_only() -> None:
    assert raw_markup("<p>see :class:<code>~kcs.core.Object</code> and :meth:`run`</p>") == [
        ":class:<code>~kcs.core.Object", ":meth:`run"]
    assert raw_markup("<p>.. code-block:: python</p>") == [".. code-block::"]
    assert raw_markup('<p>see <a href="x"><code>Object</code></a></p>') == []
    assert raw_markup("<pre><code>:class:`quoted in an example`</code></pre>") == []
    assert raw_markup("<p>roles such as <code>:class:</code> and "
                      "<code>.. code-block::</code>, quoted</p>") == []


def test_constructor_parameters_reads_the_signature_after_a_class_heading() -> None:
    page = ('<h2 id="kcs.x.Thing" class="doc doc-heading"><span>Thing</span></h2>\n'
            '<div class="doc-signature highlight"><pre><code><span class="nf">Thing</span>'
            '<span class="p">(</span>\n    <span class="n">client</span>: Client,\n'
            '    <span class="o">*</span>, <span class="n">size</span>: int = 1)'
            '</code></pre></div>')
    assert constructor_parameters(page, "kcs.x.Thing") == ["client", "size"]
    assert constructor_parameters(page, "kcs.x.Other") is None
    bare = '<h2 id="kcs.x.Thing" class="doc doc-heading">Thing</h2>\n<div class="doc doc-contents">'
    assert constructor_parameters(bare, "kcs.x.Thing") is None  # no signature shown
