"""Fail if a built page of the docs site still shows reST markup as raw text, or if the
reference lacks the constructors users call.

``python docs/_ext/check_site.py SITE_DIR`` (``scripts/test`` runs it on ``.site`` after
``mkdocs build``): every HTML page is searched, outside code blocks, for a Sphinx role
(``:class:`x```, rendered as ``:class:<code>x</code>``) or a ``.. code-block::``
directive; and the reference pages must show the signature of each class in
:data:`CONSTRUCTORS`, with its parameters. Prints each problem with its page and exits 1,
or exits 0.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

__all__ = ["CONSTRUCTORS", "constructor_parameters", "raw_markup"]

CONSTRUCTORS = {
    # the classes the tutorial and the guides construct, and the parameters each shows
    "kcs.core.Resource": ("group", "version", "plural", "kind", "namespaced"),
    "kcs.manager.Manager": ("client", "lease_name", "identity", "health_port"),
    "kcs.controller.Runner": ("controller", "client", "informers"),
    "kcs.informer.InformerFactory": ("client", "default_namespace"),
    "kcs.testing.FakeApiServer": ("token", "tls", "authorization"),
    "kcs.controller.Result": ("requeue_after",),
}
"""Class -> parameters its constructor's signature must show on the reference pages."""

_TAG = re.compile(r"<[^>]+>")

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


def constructor_parameters(html: str, qualified: str) -> list[str] | None:
    """The parameter names in the signature right after the heading of ``qualified``
    (``None`` when the page has no such heading, or no signature follows it)."""
    m = re.search(rf'<h\d id="{re.escape(qualified)}" class="doc doc-heading">.*?</h\d>\s*'
                  r'<div class="doc-signature[^"]*">(?P<sig>.*?)</div>', html, re.S)
    if m is None:
        return None
    text = _TAG.sub("", m.group("sig"))
    name = qualified.rsplit(".", 1)[1]
    head, sep, rest = text.partition("(")
    if not sep or head.strip() != name:
        return None
    return re.findall(r"(?:^\s*|[,(*]\s*)(\w+)\s*[:=]", rest)


def missing_constructors(site: Path) -> list[str]:
    """A problem per class of :data:`CONSTRUCTORS` not shown with its parameters."""
    problems = []
    for qualified, wanted in CONSTRUCTORS.items():
        package = qualified.rsplit(".", 1)[0]
        page = site / "reference" / package.split(".", 1)[1] / "index.html"
        found = (constructor_parameters(page.read_text(encoding="utf-8"), qualified)
                 if page.is_file() else None)
        if found is None:
            problems.append(f"{page.relative_to(site)}: no constructor signature for "
                            f"{qualified}")
        elif missing := [p for p in wanted if p not in found]:
            problems.append(f"{page.relative_to(site)}: {qualified}'s signature lacks "
                            f"{', '.join(missing)}")
    return problems


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
    problems = missing_constructors(site)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"check_site: {len(pages)} pages, no raw reST roles or directives; "
          f"{len(CONSTRUCTORS)} constructors shown with their parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
