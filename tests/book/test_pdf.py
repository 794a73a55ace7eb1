"""``make pdf``: the whole book printed to ``_build/pdf/book.pdf``.

The module runs ``scripts/build_pdf.py`` (the single-page build is incremental,
so a second run costs little more than the printing), then reads the PDF with
pypdf: it has pages, every chapter's title is in its text, and no formula was
left as raw TeX. Without Debian's Chromium (``apt-get install chromium``) the
module is skipped.
"""

import re
import subprocess
import sys
import unicodedata

import pytest

from booktools.book import (
    CHROMIUM,
    ROOT,
    chromium_missing_reason,
    source,
    title_words,
    toc_files,
)

PDF = ROOT / "_build" / "pdf" / "book.pdf"

pytestmark = [
    pytest.mark.book,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{chromium_missing_reason} to print the book to PDF",
    ),
]


def _squash(text: str) -> str:
    """Compare text without case, spacing or ligatures (PDF text is re-flowed)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


@pytest.fixture(scope="module")
def pdf_pages() -> list[str]:
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_pdf.py"), str(PDF)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, f"build_pdf.py failed:\n{run.stdout}\n{run.stderr}"
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(PDF).pages]


def test_pdf_has_a_page_per_chapter(pdf_pages: list[str]) -> None:
    # Each chapter starts on a new page (_static/book-print.css).
    assert len(pdf_pages) >= len(toc_files())


@pytest.mark.parametrize("name", toc_files())
def test_pdf_contains_chapter_title(name: str, pdf_pages: list[str]) -> None:
    text = _squash(" ".join(pdf_pages))
    # The title's text outside $...$, without markdown's code and emphasis marks.
    for fragment in title_words(name):
        assert _squash(fragment) in text, (
            f"{source(name).name}: {fragment!r} not in the PDF"
        )


def test_pdf_has_no_raw_tex(pdf_pages: list[str]) -> None:
    # Sphinx wraps every formula in \( \) or \[ \]; MathJax removes them. TeX in
    # code (a matplotlib label) is printed as it is, so no TeX command is sought.
    for number, page in enumerate(pdf_pages, start=1):
        for delimiter in ("\\(", "\\["):
            assert delimiter not in page, f"page {number} shows {delimiter!r}"


SINGLE = ROOT / "_build" / "pdf" / "_build" / "singlehtml"


def test_pdf_shows_stills_of_the_interactive_figures(pdf_pages: list[str]) -> None:
    # booktools.interactive: the single page takes each figure's PNG still, so
    # it needs no BokehJS, and the still stands beside the figure's caption.
    from pypdf import PdfReader

    from booktools.interactive import MARKER

    page = (SINGLE / f"{toc_files()[0]}.html").read_text(encoding="utf-8")
    assert MARKER not in page and "_bokeh/" not in page, "Bokeh HTML in the PDF"
    assert not (SINGLE / "_bokeh").exists(), (
        f"BokehJS copied into {SINGLE} (a build older than the fix leaves it:"
        " remove _build/pdf)"
    )
    captions = [
        number
        for number, text in enumerate(pdf_pages)
        if "(interactiveinthehtmlbook)" in _squash(text)
    ]
    assert len(captions) == 3, f"figure captions on pages {captions}"
    reader = PdfReader(PDF)
    for number in captions:
        assert reader.pages[number].images, f"page {number + 1}: no still"
