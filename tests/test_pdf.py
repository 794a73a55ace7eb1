"""``make pdf``: the whole book printed to ``_build/pdf/book.pdf``.

The module runs ``scripts/build_pdf.py`` (the single-page build is incremental,
so a second run costs little more than the printing), then reads the PDF with
pypdf: it has pages, every chapter's title is in its text, and no formula was
left as raw TeX. Without Debian's Chromium (``apt-get install chromium``) the
module is skipped.
"""

import json
import pathlib
import re
import subprocess
import sys
import unicodedata

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHROMIUM = pathlib.Path("/usr/bin/chromium")
PDF = ROOT / "_build" / "pdf" / "book.pdf"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"no Chromium at {CHROMIUM}: install it with `apt-get install chromium` "
    "(Debian) to print the book to PDF",
)


def _toc_names() -> list[str]:
    """Every entry of ``_toc.yml`` in reading order, without a suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    names = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                names.append(entry["file"])
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key, []))

    walk([toc])
    return [n.removesuffix(".ipynb").removesuffix(".md") for n in names]


def _source(name: str) -> pathlib.Path:
    for suffix in (".ipynb", ".md"):
        if (ROOT / (name + suffix)).exists():
            return ROOT / (name + suffix)
    raise FileNotFoundError(f"{name} is in _toc.yml but has no .ipynb or .md file")


def _title(source: pathlib.Path) -> str:
    """The first ``# `` heading of a notebook's markdown cells or a .md file."""
    text = source.read_text(encoding="utf-8")
    if source.suffix == ".ipynb":
        cells = json.loads(text)["cells"]
        text = "\n".join(
            "".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
        )
    return next(line[2:] for line in text.splitlines() if line.startswith("# "))


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
    assert len(pdf_pages) >= len(_toc_names())


@pytest.mark.parametrize("name", _toc_names())
def test_pdf_contains_chapter_title(name: str, pdf_pages: list[str]) -> None:
    text = _squash(" ".join(pdf_pages))
    source = _source(name)
    title = _title(source)
    # Text outside $...$; markdown emphasis and code marks are not printed.
    words = [w for w in re.split(r"\$[^$]*\$", title) if w.strip()]
    for fragment in words:
        fragment = re.sub(r"[`*_]", "", fragment)
        assert _squash(fragment) in text, f"{source.name}: {fragment!r} not in the PDF"


def test_pdf_has_no_raw_tex(pdf_pages: list[str]) -> None:
    # Sphinx wraps every formula in \( \) or \[ \]; MathJax removes them. TeX in
    # code (a matplotlib label) is printed as it is, so no TeX command is sought.
    for number, page in enumerate(pdf_pages, start=1):
        for delimiter in ("\\(", "\\["):
            assert delimiter not in page, f"page {number} shows {delimiter!r}"
