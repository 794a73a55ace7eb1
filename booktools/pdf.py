"""Print the whole book to one PDF with headless Chromium.

``scripts/build_pdf.py [OUT]`` (``make pdf``) runs :func:`main`; ``OUT`` defaults
to ``_build/pdf/book.pdf``.

1. Jupyter Book builds the book as a single HTML page (``--builder singlehtml``)
   into ``_build/pdf/_build/singlehtml``, with warnings as errors. The
   intermediate files stay under ``_build/pdf`` so that this never touches the
   HTML book in ``_build/html``.
2. That page is served on 127.0.0.1 and opened in Debian's Chromium through
   Playwright, with every request to another host refused (the PDF must not
   depend on the network). Once MathJax has typeset every formula and the
   exercise solutions are opened (as the "print" button of the site does), the
   page is printed to A4 with page numbers in the footer.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``); Playwright's own
browser download is not used.
"""

import pathlib
import sys
import urllib.parse

from .book import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LOCAL_HOST,
    ROOT,
    chromium_missing_reason,
    jupyter_book_build,
    serve,
    toc_files,
)

FOOTER = (
    '<div style="width:100%;font-size:8px;text-align:center;color:#444">'
    '<span class="pageNumber"></span> / <span class="totalPages"></span></div>'
)

# Wait for MathJax's first typesetting pass; report what was not typeset.
TYPESET_JS = """async () => {
  const math = document.querySelectorAll('.math').length;
  const mj = window.MathJax;
  if (!(mj && mj.startup && mj.startup.promise)) {
    return {math: math, loaded: false, untypeset: math};
  }
  await mj.startup.promise;
  await document.fonts.ready;  // print with MathJax's own fonts, not fallbacks
  const untypeset = [...document.querySelectorAll('.math')]
    .filter(e => !e.querySelector('mjx-container')).length;
  return {math: math, loaded: true, untypeset: untypeset};
}"""


def build_singlehtml(workdir: pathlib.Path) -> pathlib.Path:
    """Build the book as one HTML page; return the folder holding it."""
    result = jupyter_book_build(
        "--builder", "singlehtml", "--path-output", str(workdir)
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-6000:] + result.stderr[-6000:])
        sys.exit(f"the single-page build failed: {' '.join(result.args)}")
    return workdir / "_build" / "singlehtml"


def print_pdf(html: pathlib.Path, out: pathlib.Path) -> int:
    """Open ``html/<root>.html`` in Chromium and print it; return the page count."""
    from playwright.sync_api import sync_playwright

    page_file = _root_page(html)
    out.parent.mkdir(parents=True, exist_ok=True)
    with serve(html) as base_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(
                viewport={"width": 1000, "height": 1400}, color_scheme="light"
            )
            page.set_default_timeout(120_000)
            refused: list[str] = []

            def offline(route) -> None:
                url = route.request.url
                if urllib.parse.urlsplit(url).hostname == LOCAL_HOST:
                    route.continue_()
                else:
                    refused.append(url)
                    route.abort("internetdisconnected")

            page.route("**/*", offline)
            page.goto(base_url + page_file, wait_until="load")
            state = page.evaluate(TYPESET_JS)
            if state["math"] and not state["loaded"]:
                sys.exit("MathJax did not load; the PDF would show raw TeX")
            if state["untypeset"]:
                sys.exit(f"{state['untypeset']} formulas were not typeset")
            if refused:
                sys.exit(f"the page asked for other hosts: {sorted(set(refused))}")
            # sphinx-togglebutton opens collapsed blocks (the solutions) on this
            # event; the browser's print dialog sends it, page.pdf() does not.
            page.evaluate("() => window.dispatchEvent(new Event('beforeprint'))")
            page.emulate_media(media="print")
            page.pdf(
                path=str(out),
                format="A4",
                print_background=True,
                margin={
                    "top": "18mm",
                    "bottom": "18mm",
                    "left": "16mm",
                    "right": "16mm",
                },
                display_header_footer=True,
                header_template="<span></span>",
                footer_template=FOOTER,
            )
        finally:
            browser.close()
    return _count_pages(out)


def _root_page(html: pathlib.Path) -> str:
    """The single page's file name: the ``root`` of ``_toc.yml``."""
    name = toc_files()[0] + ".html"
    if not (html / name).exists():
        sys.exit(f"no {name} in {html}")
    return name


def _count_pages(pdf: pathlib.Path) -> int:
    from pypdf import PdfReader

    return len(PdfReader(pdf).pages)


DEFAULT_OUT = ROOT / "_build" / "pdf" / "book.pdf"


def main(out: str | pathlib.Path = DEFAULT_OUT) -> None:
    """Build the single page and print it to ``out``; exit with a message on failure."""
    if not CHROMIUM.exists():
        sys.exit(chromium_missing_reason)
    target = pathlib.Path(out).resolve()
    html = build_singlehtml(ROOT / "_build" / "pdf")
    pages = print_pdf(html, target)
    print(f"wrote {target} ({pages} pages)")
