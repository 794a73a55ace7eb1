"""Copy MathJax from the pinned ``django-static-mathjax`` wheel into a folder.

The book loads MathJax from its own site (``html_extra_path`` in ``_config.yml``)
so that a reader with no network still sees typeset mathematics. The files come
from the locked registry package at set-up time; none of them is committed.

Usage: ``python scripts/fetch_mathjax.py DEST`` writes ``DEST/mathjax/es5/``.
"""

import importlib.metadata
import pathlib
import shutil
import sys

import mathjax

EXPECTED = "3.2.2"
BUNDLE = "tex-chtml-full.js"


def _unused(folder: str, names: list[str]) -> list[str]:
    """Leave out the other bundles and the speech-rule engine (about 20 MB).

    The book loads the single bundle ``BUNDLE``; the fonts under ``output/`` and
    the menu's optional components under ``ui/`` and ``a11y/`` stay.
    """
    if pathlib.Path(folder).name != "es5":
        return []
    return [n for n in names if n == "sre" or (n.endswith(".js") and n != BUNDLE)]


def main(dest: str) -> None:
    version = importlib.metadata.version("django-static-mathjax")
    if not version.startswith(EXPECTED):
        sys.exit(f"django-static-mathjax {version} installed; expected {EXPECTED}.x")
    src = pathlib.Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    target = pathlib.Path(dest) / "mathjax" / "es5"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(src, target, ignore=_unused)
    print(f"MathJax {version} copied to {target}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "_mathjax")
