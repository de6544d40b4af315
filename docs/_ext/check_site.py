"""Fail if a built page of the docs site still shows reST markup as raw text.

``python docs/_ext/check_site.py SITE_DIR`` (``scripts/test`` runs it on ``.site`` after
``mkdocs build``): every HTML page is searched, outside code blocks, for a Sphinx role
(``:class:`x```, rendered as ``:class:<code>x</code>``) or a ``.. code-block::``
directive. Prints each one found with its page and exits 1, or exits 0.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

__all__ = ["raw_markup"]

_PRE = re.compile(r"<pre\b.*?</pre>", re.S | re.I)
_CODE = re.compile(r"<code\b[^>]*>.*?</code>", re.S | re.I)
_RAW = re.compile(
    r":(?:py:)?(?:class|meth|func|attr|mod|exc|data|obj|const|type|property|ref|doc):"
    r"(?:<code>(?P<target>[^<]*)|`[^<`]*)"
    r"|\.\. (?:code-block|code|note|warning|versionadded|seealso)::"
)


def raw_markup(html: str) -> list[str]:
    """The raw roles and directives in ``html``: code blocks and inline code excluded (a
    page may quote ``:class:`` or ``.. code-block::`` as code), except as the target of a
    role left raw (``:class:<code>x</code>``)."""
    text = _PRE.sub("", html)
    kept: list[str] = []
    pos = 0
    for m in _CODE.finditer(text):
        before = text[max(0, m.start() - 40):m.start()]
        if re.search(r":(?:py:)?[a-z]+:$", before):
            kept.append(text[pos:m.end()])  # the target of a raw role: keep it
        else:
            kept.append(text[pos:m.start()] + "<code></code>")
        pos = m.end()
    kept.append(text[pos:])
    return [m.group(0) for m in _RAW.finditer("".join(kept))]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: check_site.py SITE_DIR", file=sys.stderr)
        return 2
    site = Path(argv[0])
    pages = sorted(site.rglob("*.html"))
    if not pages:
        print(f"check_site: no HTML pages under {site}", file=sys.stderr)
        return 1
    found = 0
    for page in pages:
        for raw in raw_markup(page.read_text(encoding="utf-8")):
            found += 1
            print(f"{page.relative_to(site)}: raw reST markup: {raw}", file=sys.stderr)
    if found:
        print(f"check_site: {found} raw roles or directives in the built docs", file=sys.stderr)
        return 1
    print(f"check_site: {len(pages)} pages, no raw reST roles or directives")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
