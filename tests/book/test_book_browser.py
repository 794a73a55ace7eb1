"""The built HTML book in headless Chromium, page by page, with no network.

The module builds the book the way ``make book`` does (``booktools.book.build_html``:
warnings are errors, and every page is rewritten when a file changed, so no
sidebar is stale), serves ``_build/html`` on
127.0.0.1 and opens every page of ``_toc.yml`` plus ``genindex.html`` and
``search.html``. Requests to any other host are aborted and reported, so a page
that needs the internet (MathJax from a CDN, say) fails here as it would for an
offline reader. A full-page screenshot of each page in the light theme, and of its first
screen in the dark theme, is written to ``_build/screenshots/``.

Set ``BOOK_HTML=<folder>`` to test an existing build instead (no build is run):
``make test-book`` does so with the build ``make book`` has just made.
Without Debian's Chromium (``apt-get install chromium``) the module is skipped.
"""

import hashlib
import json
import pathlib
import re
import urllib.parse

import pytest

from booktools.book import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LOCAL_HOST,
    ROOT,
    built_site,
    chromium_missing_reason,
    markdown,
    serve,
    source,
    title_words,
    toc_files,
)
from booktools.figures import stored_text_sizes

TIMEOUT_MS = 30_000

pytestmark = [
    pytest.mark.book,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{chromium_missing_reason} to run the browser tests of the built book",
    ),
]


TOC = toc_files()
EXTRA = ["genindex", "search"]  # Sphinx's own pages; index.html only redirects
PAGES = TOC + EXTRA


# --- fixtures: the built site, a local web server, one browser ---------------


@pytest.fixture(scope="module")
def site() -> pathlib.Path:
    html = built_site()
    assert (html / "index.html").exists(), f"no built book in {html}"
    return html


@pytest.fixture(scope="module")
def base_url(site: pathlib.Path):
    with serve(site) as url:
        yield url


@pytest.fixture(scope="module")
def context():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        ctx = browser.new_context(
            viewport={"width": 1280, "height": 900},
            color_scheme="light",
            service_workers="block",
        )
        ctx.set_default_timeout(TIMEOUT_MS)

        def offline(route) -> None:  # the reader has no network
            if urllib.parse.urlsplit(route.request.url).hostname == LOCAL_HOST:
                route.continue_()
            else:
                route.abort("internetdisconnected")

        ctx.route("**/*", offline)
        yield ctx
        ctx.close()
        browser.close()


@pytest.fixture(scope="module")
def figure_text(site: pathlib.Path) -> dict[str, float]:
    """``{file name in _images: pixel height of the figure's smallest text}``
    for every chapter figure (recorded by booktools.figures at execution)."""
    stored = stored_text_sizes(sorted((ROOT / "chapters").glob("*.ipynb")))
    sizes = {}
    for path in (site / "_images").glob("*.png"):
        size = stored.get(hashlib.sha256(path.read_bytes()).hexdigest())
        if size is not None:
            sizes[path.name] = size
    return sizes


@pytest.fixture(scope="module")
def screenshots(site: pathlib.Path) -> pathlib.Path:
    folder = site.parent / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# --- what is measured in the page -------------------------------------------

MATH_JS = """async () => {
  const math = [...document.querySelectorAll('.math')];
  const mj = window.MathJax;
  const loaded = !!(mj && mj.startup && mj.startup.promise);
  if (loaded) { await mj.startup.promise; }
  await document.fonts.ready;  // MathJax's web fonts, before the screenshot
  return {
    sourceMath: math.length,
    loaded: loaded,
    version: loaded ? mj.version : null,
    containers: document.querySelectorAll('mjx-container').length,
    untypeset: math.filter(e => !e.querySelector('mjx-container'))
                   .map(e => e.textContent.trim().slice(0, 80)),
    errors: loaded ? texErrors(mj) : [],
  };
  // A TeX error gives an merror node; an undefined macro (the noundefined
  // extension of the full bundle) gives a red mtext holding the macro's name.
  function texErrors(mj) {
    const bad = [];
    for (const item of mj.startup.document.math) {
      item.root.walkTree(node => {
        const backslash = String.fromCharCode(92);
        const red = node.isKind('mtext')
          && node.attributes.get('mathcolor') === 'red' && node.childNodes.length
          && node.childNodes[0].getText().startsWith(backslash);
        if (node.isKind('merror') || red) { bad.push(item.math.slice(0, 120)); }
      });
    }
    return [...new Set(bad)];
  }
}"""

# Text a reader sees, outside code, scripts and typeset math; collapsed
# content (exercise solutions) is included because a reader can open it.
TEXT_JS = """() => {
  const skip = 'pre, code, script, style, textarea, mjx-container, .highlight';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const parts = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.parentElement.closest(skip)) { parts.push(n.textContent); }
  }
  return parts.join(' ');
}"""

IMAGES_JS = """() => [...document.images].map(img => {
  const figure = img.closest('figure');
  const caption = figure && figure.querySelector('figcaption');
  return {
    src: img.getAttribute('src'),
    loaded: img.complete && img.naturalWidth > 0,
    alt: (img.getAttribute('alt') || '').trim(),
    caption: caption ? caption.textContent.trim() : '',
    content: !!img.closest('article'),
    file: (img.getAttribute('src') || '').split('/').pop(),
    scale: img.naturalWidth ? img.clientWidth / img.naturalWidth : 0,
  };
})"""

#: No text in a figure smaller than this many CSS pixels at a laptop's width.
MIN_FIGURE_TEXT_PX = 8

HEADINGS_JS = """() => [...document.querySelectorAll(
    ':is(article.bd-article, .bd-search-container) :is(h1, h2, h3, h4, h5, h6)')]
  .map(h => [Number(h.tagName[1]), h.textContent.replace('#', '').trim()])"""

# Links in the page's frame (header, sidebars, footer), i.e. not the text.
CHROME_LINKS_JS = """() => [...document.querySelectorAll(
    '.bd-header a[href], .bd-header-article a[href], .bd-sidebar-primary a[href],'
    + ' .bd-sidebar-secondary a[href], footer a[href]')].map(a => a.href)"""

SIDEBAR_JS = """() => [...document.querySelectorAll(
    '.bd-sidebar-primary nav a[href]')].map(a => a.href)"""

COMFORTS_JS = """() => ({
  favicon: (document.querySelector('link[rel~="icon"]') || {}).href || null,
  logo: [...document.querySelectorAll('img.logo__image')].map(i => i.src),
  download: [...document.querySelectorAll('a.btn-download-source-button')]
              .map(a => a.href),
  launch: document.querySelectorAll(
      '.dropdown-launch-buttons, [class*="btn-launch"], .btn-launch-thebe').length,
  codeBlocks: document.querySelectorAll('.cell_input div.highlight pre').length,
  copyButtons: document.querySelectorAll('.cell_input button.copybtn').length,
  unselectable: [...document.querySelectorAll('.cell_output pre')]
      .filter(p => getComputedStyle(p).userSelect === 'none').length,
})"""

# WCAG contrast of text against the first opaque background behind it.
CONTRAST_JS = """() => {
  const rgb = s => { const m = s.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const v = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return {r: v[0], g: v[1], b: v[2], a: v.length > 3 ? v[3] : 1}; };
  const lum = c => { const f = x => { x /= 255;
      return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const background = el => { for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0.5) return c; }
    return {r: 255, g: 255, b: 255, a: 1}; };
  const out = {};
  const probes = {'body text': 'article p', 'code': '.cell_input pre',
                  'output': '.cell_output pre', 'caption': 'figcaption',
                  'sidebar link': '.bd-sidebar-primary a'};
  for (const [what, selector] of Object.entries(probes)) {
    const el = document.querySelector(selector);
    if (!el) continue;
    const fg = rgb(getComputedStyle(el).color), bg = background(el);
    if (!fg) { out[what] = null; continue; }
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    out[what] = (hi + 0.05) / (lo + 0.05);
  }
  return out;
}"""

# Displayed equations, tables, figures and code cells wider than the text column:
# each would be cut off or need a sideways scroll at the tested width.
OVERFLOW_JS = """() => {
  const article = document.querySelector('article.bd-article');
  if (!article) return [];
  const right = article.getBoundingClientRect().right;
  const sel = 'mjx-container[display="true"], table, figure img, .cell_output img,'
    + ' .cell_input pre';
  return [...article.querySelectorAll(sel)]
    .filter(e => e.scrollWidth > e.clientWidth + 1
                 || e.getBoundingClientRect().right > right + 1)
    .map(e => e.tagName.toLowerCase() + ' "'
         + (e.textContent || e.getAttribute('src') || '')
             .replace(/\\s+/g, ' ').slice(0, 60) + '"');
}"""


# On a phone (390 px) a display equation or a table may be wider than the text
# column (MathJax 3 does not break lines, and shrinking a formula to fit would
# make it unreadable), but then it must scroll inside its own box: the page
# itself never scrolls sideways and nothing is cut off.
NARROW_JS = """() => {
  const article = document.querySelector('article.bd-article');
  if (!article) return {page: 0, cut: []};
  const box = article.getBoundingClientRect();
  const scrolls = e => {
    for (let a = e; a && a !== article.parentElement; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      const inside = a.getBoundingClientRect().right <= box.right + 1;
      if ((o === 'auto' || o === 'scroll') && inside) return true;
    }
    return false;
  };
  const sel = 'mjx-container[display="true"], table, figure img, .cell_output img,'
    + ' .cell_input pre, .cell_output pre';
  const cut = [...article.querySelectorAll(sel)]
    .filter(e => e.getBoundingClientRect().width > box.width + 1 && !scrolls(e))
    .map(e => e.tagName.toLowerCase() + ' "'
         + (e.textContent || e.getAttribute('src') || '')
             .replace(/\\s+/g, ' ').slice(0, 60) + '"');
  return {page: document.documentElement.scrollWidth - window.innerWidth, cut: cut};
}"""


# In the dark theme a content image must be opaque (a white figure background)
# or sit on a light background supplied by the theme.
DARK_IMAGES_JS = """() => [...document.querySelectorAll('article img')].map(img => {
  let opaque = null;
  try {
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const g = c.getContext('2d'); g.drawImage(img, 0, 0);
    opaque = g.getImageData(1, 1, 1, 1).data[3] === 255;
  } catch (e) { opaque = null; }
  const m = getComputedStyle(img).backgroundColor.match(/\\d+(\\.\\d+)?/g) || [];
  const [r, g, b, a] = m.map(Number);
  const lightBehind = m.length >= 3 && (a === undefined || a > 0.5)
                      && (r + g + b) / 3 > 200;
  return {src: img.getAttribute('src'), opaque: opaque, lightBehind: lightBehind};
})"""


# Delimiters MathJax should have consumed, and TeX commands such as
# \mathbf{ or \exp( that reach the text without them (a formula in a chapter
# title is printed as plain text by {doc} links and by pages without math).
RAW_TEX = re.compile(r"\\\(|\\\[|\$\$|\\[A-Za-z]{2,}[{(]")


def _raw_tex(text: str) -> list[str]:
    return [
        text[max(0, m.start() - 40) : m.end() + 40].replace("\n", " ")
        for m in RAW_TEX.finditer(text)
    ]


def _local(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.scheme in ("http", "https") and parts.hostname == LOCAL_HOST


def _page_path(url: str, base_url: str) -> str:
    """``http://127.0.0.1:PORT/chapters/x.html#y`` -> ``chapters/x``."""
    path = urllib.parse.urlsplit(urllib.parse.urljoin(base_url, url)).path
    return path.lstrip("/").removesuffix(".html")


def _open(context, url: str):
    """A new page whose console errors, bad responses and requests are recorded."""
    page = context.new_page()
    log = {"requests": [], "errors": []}
    page.on("request", lambda r: log["requests"].append(r.url))
    page.on(
        "console",
        lambda m: (
            log["errors"].append(f"console: {m.text}") if m.type == "error" else None
        ),
    )
    page.on("pageerror", lambda e: log["errors"].append(f"uncaught: {e}"))
    page.on(
        "response",
        lambda r: (
            log["errors"].append(f"HTTP {r.status}: {r.url}")
            if r.status >= 400
            else None
        ),
    )
    response = page.goto(url, wait_until="load")
    assert response is not None and response.ok, f"{url}: {response}"
    return page, log


def _contrast_problems(page, theme: str) -> list[str]:
    problems = []
    for what, ratio in page.evaluate(CONTRAST_JS).items():
        if ratio is None:
            problems.append(f"{theme} theme: colour of {what} not measurable")
        elif ratio < 4.5:
            problems.append(f"{theme} theme: {what} contrast {ratio:.2f} < 4.5")
    return problems


# --- the tests ---------------------------------------------------------------


def test_every_built_page_is_tested(site: pathlib.Path) -> None:
    """The parametrised list below covers every HTML page of the build."""
    skip = {"_static", "_sources", "_images", "mathjax"}
    built = {
        p.relative_to(site).as_posix().removesuffix(".html")
        for p in site.rglob("*.html")
        if not skip & set(p.relative_to(site).parts)
    }
    assert built - {"index"} == set(PAGES), (
        f"pages built but not tested: {sorted(built - {'index'} - set(PAGES))}; "
        f"pages tested but not built: {sorted(set(PAGES) - built)}"
    )


@pytest.mark.parametrize("name", PAGES)
def test_page(
    name: str, context, base_url: str, screenshots: pathlib.Path, figure_text
) -> None:
    """Everything a reader of one page relies on, reported together."""
    page, log = _open(context, base_url + name + ".html")
    problems: list[str] = []

    math = page.evaluate(MATH_JS)
    if math["sourceMath"] and not math["loaded"]:
        problems.append(f"{math['sourceMath']} math elements but MathJax never loaded")
    problems += [f"math not typeset: {t!r}" for t in math["untypeset"]]
    problems += [f"TeX error or undefined macro in {e!r}" for e in math["errors"]]
    text = page.evaluate(TEXT_JS)
    problems += [f"raw TeX in the text: ...{snippet}..." for snippet in _raw_tex(text)]
    if name in TOC and "$" in markdown(name) and not math["containers"]:
        problems.append("the source has $ math but the page shows none typeset")

    for img in page.evaluate(IMAGES_JS):
        if not img["loaded"]:
            problems.append(f"image did not load: {img['src']}")
        alt = img["alt"]
        if alt.lower().endswith((".png", ".jpg", ".jpeg", ".svg", ".gif")):
            alt = ""  # docutils puts the file name there when alt text is missing
        if not (alt or img["caption"]):
            problems.append(f"image without alt text or caption: {img['src']}")
        if img["file"] in figure_text:
            shown = figure_text[img["file"]] * img["scale"]
            if shown < MIN_FIGURE_TEXT_PX:
                problems.append(
                    f"figure text {shown:.1f} px high at 1280 px: {img['src']}"
                )

    levels = page.evaluate(HEADINGS_JS)
    if [lvl for lvl, _ in levels].count(1) != 1:
        problems.append(f"expected one h1, found {levels}")
    for (before, _), (level, title) in zip(levels, levels[1:], strict=False):
        if level > before + 1:
            problems.append(f"heading level skips from h{before} to h{level}: {title}")

    comforts = page.evaluate(COMFORTS_JS)
    if not comforts["favicon"]:
        problems.append("no favicon")
    if not comforts["logo"]:
        problems.append("no logo")
    if comforts["launch"]:
        problems.append("launch buttons present")
    if comforts["copyButtons"] < comforts["codeBlocks"]:
        n, m = comforts["copyButtons"], comforts["codeBlocks"]
        problems.append(f"{n} copy buttons for {m} code cells")
    if comforts["unselectable"]:
        problems.append(f"{comforts['unselectable']} outputs cannot be selected")
    if name in TOC and source(name).suffix == ".ipynb":
        ipynb = [u for u in comforts["download"] if u.endswith(".ipynb")]
        if not ipynb:
            problems.append("no download button for the .ipynb")
        else:
            got = page.request.get(ipynb[0])
            if not (got.ok and "cells" in json.loads(got.text())):
                problems.append(f"download {ipynb[0]} gives HTTP {got.status}")
    problems += [
        f"link in the page frame leaves the site: {u}"
        for u in page.evaluate(CHROME_LINKS_JS)
        if not _local(u)
    ]
    sidebar = {_page_path(u, base_url) for u in page.evaluate(SIDEBAR_JS)}
    problems += [f"sidebar has no link to {t}" for t in TOC if t not in sidebar]

    problems += [
        f"wider than the text column at 1280 px: {e}"
        for e in page.evaluate(OVERFLOW_JS)
    ]
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(200)
    narrow = page.evaluate(NARROW_JS)
    if narrow["page"] > 1:
        problems.append(f"at 390 px the page scrolls sideways by {narrow['page']} px")
    problems += [f"cut off at 390 px (no scroll box): {e}" for e in narrow["cut"]]
    page.set_viewport_size({"width": 1280, "height": 900})
    page.wait_for_timeout(200)
    problems += _contrast_problems(page, "light")
    stem = name.replace("/", "__")
    page.screenshot(path=screenshots / f"{stem}.png", full_page=True)
    page.evaluate(
        "() => { document.documentElement.dataset.mode = 'dark';"
        " document.documentElement.dataset.theme = 'dark'; }"
    )
    page.wait_for_timeout(200)
    problems += _contrast_problems(page, "dark")
    for img in page.evaluate(DARK_IMAGES_JS):
        if img["opaque"] is False and not img["lightBehind"]:
            problems.append(f"transparent image on a dark background: {img['src']}")
    # The dark theme's contrast is measured on the whole page above; its
    # screenshot shows the first screen, which halves the time of this test.
    page.screenshot(path=screenshots / f"{stem}-dark.png")
    page.close()

    problems += log["errors"]
    problems += [
        f"request leaves {LOCAL_HOST}: {u}" for u in log["requests"] if not _local(u)
    ]
    assert not problems, f"{name}.html:\n  " + "\n  ".join(problems)


def test_sidebar_reaches_every_chapter(context, base_url: str) -> None:
    """Following the sidebar from the start page opens each chapter by its title."""
    page, _ = _open(context, base_url + "index.html")
    page.wait_for_url(f"**/{TOC[0]}.html")  # index.html redirects to the root file
    links = {}
    for url in page.evaluate(SIDEBAR_JS):
        links.setdefault(_page_path(url, base_url), url)
    missing = [t for t in TOC if t not in links]
    assert not missing, f"the sidebar has no link to {missing}"
    page.close()
    for name in TOC:
        # The rendered pages are checked one by one in test_page; here the link
        # target's HTML is enough to tell which chapter it opens.
        got = context.request.get(links[name])
        assert got.ok, f"{links[name]}: HTTP {got.status}"
        h1 = re.search(r"<h1[^>]*>(.*?)</h1>", got.text(), re.S)
        h1 = re.sub(r"<[^>]+>", "", h1.group(1)) if h1 else ""
        words = title_words(name)
        assert all(w in h1 for w in words), f"{name}: h1 {h1!r}, source {words!r}"


def test_search_finds_a_chapter(context, base_url: str) -> None:
    page, log = _open(context, base_url + "search.html?q=logsumexp")
    page.wait_for_selector("#search-results ul.search li a")
    hits = {
        _page_path(u, base_url)
        for u in page.evaluate(
            "() => [...document.querySelectorAll('#search-results ul.search li a')]"
            ".map(a => a.href)"
        )
    }
    page.close()
    chapters = set(TOC[1:])
    assert hits & chapters, f"searching 'logsumexp' found {sorted(hits)}, no chapter"
    assert not log["errors"], log["errors"]


def test_favicon_and_logo_are_served(context, base_url: str) -> None:
    page, _ = _open(context, base_url + TOC[0] + ".html")
    comforts = page.evaluate(COMFORTS_JS)
    page.close()
    for url in [comforts["favicon"], *comforts["logo"]]:
        assert url, "favicon or logo missing"
        got = context.request.get(url)
        assert got.ok and got.headers["content-type"] == "image/png", url
