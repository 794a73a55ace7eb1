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

import numpy as np
import pytest

import softmaxlib as sm
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
# Shared by the two width checks: the article, the elements that may be wider
# than its column (display math, tables, figures, code), and how a problem
# names one of them.
_WIDE_JS = """
  const article = document.querySelector('article.bd-article');
  const wide = extra => article ? [...article.querySelectorAll(
    'mjx-container[display="true"], table, figure img, .cell_output img,'
    + ' .cell_input pre' + extra)] : [];
  const name = e => e.tagName.toLowerCase() + ' "'
    + (e.textContent || e.getAttribute('src') || '')
        .replace(/\\s+/g, ' ').slice(0, 60) + '"';
"""

OVERFLOW_JS = (
    "() => {"
    + _WIDE_JS
    + """
  if (!article) return [];
  const right = article.getBoundingClientRect().right;
  return wide('')
    .filter(e => e.scrollWidth > e.clientWidth + 1
                 || e.getBoundingClientRect().right > right + 1)
    .map(name);
}"""
)


# On a phone (390 px) a display equation or a table may be wider than the text
# column (MathJax 3 does not break lines, and shrinking a formula to fit would
# make it unreadable), but then it must scroll inside its own box: the page
# itself never scrolls sideways and nothing is cut off.
NARROW_JS = (
    "() => {"
    + _WIDE_JS
    + """
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
  const cut = wide(', .cell_output pre')
    .filter(e => e.getBoundingClientRect().width > box.width + 1 && !scrolls(e))
    .map(name);
  return {page: document.documentElement.scrollWidth - window.innerWidth, cut: cut};
}"""
)


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


# --- the interactive figures (booktools.interactive) ---------------------------
#
# Each figure is moved from the keyboard (a slider's handle is focused and the
# arrow, Home and End keys pressed; a menu is focused and the arrow keys
# pressed), and what it then plots is read back from Bokeh's document model and
# compared with softmaxlib at the settings the page shows, to the three decimals
# the figure prints.

SHOWN = 5e-4 + 1e-6  # half a unit in the third decimal (the values are float32)

BOKEH_READY_JS = "() => window.Bokeh && Bokeh.documents.length > 0"

# {name: {value, title, text, location, data}} of the named Bokeh models.
BOKEH_MODELS_JS = """(names) => {
  const out = {};
  for (const name of names) {
    const model = Bokeh.documents.map(d => d.get_model_by_name(name)).find(m => m);
    if (!model) { out[name] = null; continue; }
    const data = {};
    if (model.data) {
      for (const [k, v] of Object.entries(model.data)) { data[k] = [...v]; }
    }
    out[name] = {value: model.value ?? null, title: model.title ?? null,
                 text: model.text ?? null, location: model.location ?? null,
                 data: data};
  }
  return out;
}"""

# The figure's box, its canvases and whether they hold drawn pixels, and the
# contrast of a slider's title against the figure's background (dark theme).
FIGURE_JS = """() => {
  const fig = document.querySelector('[data-bokeh-figure]');
  if (!fig) return null;
  const canvases = [];
  const walk = root => {
    for (const el of root.querySelectorAll('*')) {
      if (el.tagName === 'CANVAS') canvases.push(el);
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(fig);
  const drawn = canvases.filter(c => {
    if (!c.width || !c.height) return false;
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < px.length; i += 4 * 97) if (px[i] > 0) return true;
    return false;
  }).length;
  const box = fig.getBoundingClientRect();
  return {width: box.width, height: box.height, canvases: canvases.length,
          drawn: drawn, background: getComputedStyle(fig).backgroundColor,
          label: fig.getAttribute('aria-label') || ''};
}"""


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+\.\d+|-?\d+", text)]


def _open_figure(context, url: str):
    page, log = _open(context, url)
    page.wait_for_function(BOKEH_READY_JS)
    page.wait_for_timeout(300)
    return page, log


def _models(page, *names: str) -> dict:
    state = page.evaluate(BOKEH_MODELS_JS, list(names))
    missing = [n for n, m in state.items() if m is None]
    assert not missing, f"no Bokeh models named {missing} on the page"
    return state


def _press(page, handle: int, *keys: str) -> None:
    """Focus the page's ``handle``-th slider handle and press ``keys``."""
    target = page.locator("[data-bokeh-figure] [role=slider]").nth(handle)
    target.focus()
    for key in keys:
        page.keyboard.press(key)
    page.wait_for_timeout(100)


# What a reader sees above a slider and what a screen reader speaks for it.
HANDLE_JS = """(handle) => {
  const title = handle.getRootNode().querySelector('.bk-slider-title');
  return {header: title ? title.textContent : null,
          label: handle.getAttribute('aria-label'),
          valuetext: handle.getAttribute('aria-valuetext')};
}"""


def _slider_speaks(
    page, handle: int, model: dict, problems: list[str], where: str
) -> None:
    """The ``handle``-th slider's header reads "title: value", its name for a
    screen reader (``aria-label``, from _ext/bokeh_a11y.js) is the title, and
    its ``aria-valuetext`` is the value (the grid's entry, not its index)."""
    target = page.locator("[data-bokeh-figure] [role=slider]").nth(handle)
    read = target.evaluate(HANDLE_JS)
    want = f"{model['title']}: {model['value']}"
    if (
        read["header"] != want
        or read["label"] != model["title"]
        or read["valuetext"] != str(model["value"])
    ):
        problems.append(
            f"{where}: slider reads {read}, expected header {want!r}, aria-label"
            f" {model['title']!r} and aria-valuetext {model['value']!r}"
        )


def _offline_checks(page, log, problems: list[str]) -> None:
    problems += log["errors"]
    problems += [
        f"request leaves the machine: {u}"
        for u in log["requests"]
        if not (_local(u) or u.startswith("file:"))
    ]
    figure = page.evaluate(FIGURE_JS)
    assert figure, "no interactive figure on the page"
    # each Bokeh plot has three canvas layers, of which the top ones may be empty
    if not (figure["canvases"] and 3 * figure["drawn"] >= figure["canvases"]):
        problems.append(f"figure not drawn: {figure}")
    if len(figure["label"]) < 40:
        problems.append(f"no text alternative (aria-label): {figure['label']!r}")
    names = page.locator("[data-bokeh-figure] [role=slider]").evaluate_all(
        "handles => handles.map(h => h.getAttribute('aria-label'))"
    )
    if not all(names):  # every handle named (_ext/bokeh_a11y.js)
        problems.append(f"slider handles without an accessible name: {names}")


def _dark_theme_checks(page, problems: list[str]) -> None:
    page.evaluate(
        "() => { document.documentElement.dataset.mode = 'dark';"
        " document.documentElement.dataset.theme = 'dark'; }"
    )
    page.wait_for_timeout(200)
    figure = page.evaluate(FIGURE_JS)
    if figure["background"] not in ("rgb(255, 255, 255)", "rgba(255, 255, 255, 1)"):
        problems.append(f"dark theme: the figure lost its white card: {figure}")
    if not (figure["canvases"] and 3 * figure["drawn"] >= figure["canvases"]):
        problems.append(f"dark theme: figure not drawn: {figure}")


def _check_playground(page, problems: list[str], where: str) -> None:
    """The bars and the entropy against softmaxlib at the sliders' settings."""
    state = _models(
        page, "ch2-o1", "ch2-o2", "ch2-o3", "ch2-T", "ch2-bars", "ch2-stats"
    )
    o = np.array([state[f"ch2-o{j}"]["value"] for j in (1, 2, 3)], dtype=float)
    T = float(state["ch2-T"]["value"])  # the label the slider shows
    _slider_speaks(page, 3, state["ch2-T"], problems, where)
    want = sm.softmax(o / T)
    got = np.array(state["ch2-bars"]["data"]["p"])
    labels = np.array([float(x) for x in state["ch2-bars"]["data"]["label"]])
    if np.max(np.abs(got - want)) > SHOWN or np.max(np.abs(labels - want)) > SHOWN:
        problems.append(f"{where}: o = {o}, T = {T}: bars {labels}, softmax {want}")
    H_shown = _numbers(state["ch2-stats"]["text"])[0]
    H = float(-np.sum(want * sm.log_softmax(o / T)))
    if abs(H_shown - H) > SHOWN:
        problems.append(f"{where}: entropy shown {H_shown}, softmaxlib {H:.6f}")


def test_softmax_playground(context, base_url: str) -> None:
    """Chapter 2: every slider moved by keyboard; bars and entropy read back."""
    page, log = _open_figure(context, base_url + "chapters/02_softmax.html")
    problems: list[str] = []
    _check_playground(page, problems, "default view")
    start = _models(page, "ch2-o1", "ch2-o2", "ch2-o3", "ch2-T")
    assert [start[f"ch2-o{j}"]["value"] for j in (1, 2, 3)] == [2, 1, -1]
    assert start["ch2-T"]["value"] == "1", start["ch2-T"]
    # the temperature's two ends: the one-hot and the uniform limits
    _press(page, 3, "Home")
    _check_playground(page, problems, "T at its left end")
    bars = np.array(_models(page, "ch2-bars")["ch2-bars"]["data"]["p"])
    if np.max(np.abs(bars - [1, 0, 0])) > SHOWN:
        problems.append(f"T -> 0 should show the one-hot vector, shows {bars}")
    _press(page, 3, "End")
    _check_playground(page, problems, "T at its right end")
    bars = np.array(_models(page, "ch2-bars")["ch2-bars"]["data"]["p"])
    if np.max(np.abs(bars - 1 / 3)) > 2e-3:
        problems.append(f"T -> infinity should show 1/3 each, shows {bars}")
    _press(page, 3, "ArrowLeft", "ArrowLeft", "ArrowLeft")
    # each score: one step up, then to its lower end
    for j in (1, 2, 3):
        before = _models(page, f"ch2-o{j}")[f"ch2-o{j}"]["value"]
        _press(page, j - 1, "ArrowLeft")
        after = _models(page, f"ch2-o{j}")[f"ch2-o{j}"]["value"]
        assert after == before - 1, f"o{j}: the arrow key moved {before} to {after}"
        _check_playground(page, problems, f"o{j} one step down")
        _press(page, j - 1, "Home")
        _check_playground(page, problems, f"o{j} at its lower end")
    _offline_checks(page, log, problems)
    _dark_theme_checks(page, problems)
    page.close()
    assert not problems, "\n  ".join(["chapter 2 playground:", *problems])


def test_softmax_playground_from_file(site: pathlib.Path, context) -> None:
    """The same page opened from the disk (file://), with every request to a
    network address refused: the figure loads and answers the keyboard."""
    # a context of its own in the module's browser, routed for file://
    ctx = context.browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(TIMEOUT_MS)
    ctx.route(
        "**/*",
        lambda route: (
            route.continue_()
            if urllib.parse.urlsplit(route.request.url).scheme in ("file", "data")
            else route.abort("internetdisconnected")
        ),
    )
    page = ctx.new_page()
    log = {"requests": [], "errors": []}
    page.on("request", lambda r: log["requests"].append(r.url))
    page.on("pageerror", lambda e: log["errors"].append(f"uncaught: {e}"))
    page.on(
        "console",
        lambda m: log["errors"].append(m.text) if m.type == "error" else None,
    )
    page.goto((site / "chapters" / "02_softmax.html").as_uri(), wait_until="load")
    page.wait_for_function(BOKEH_READY_JS)
    problems: list[str] = []
    _check_playground(page, problems, "file://, default view")
    _press(page, 3, "End")
    _check_playground(page, problems, "file://, T at its right end")
    _offline_checks(page, log, problems)
    ctx.close()
    assert not problems, "\n  ".join(["chapter 2 playground from file://:", *problems])


def _check_gradient(page, problems: list[str], where: str) -> tuple[int, float]:
    state = _models(
        page, "ch4-class", "ch4-logit", "ch4-bars", "ch4-point", "ch4-stats"
    )
    y = int(state["ch4-class"]["value"]) - 1
    value = float(state["ch4-logit"]["value"])  # the label the slider shows
    _slider_speaks(page, 0, state["ch4-logit"], problems, where)
    if state["ch4-logit"]["title"] != f"true-class logit o{y + 1}":
        problems.append(f"{where}: slider title {state['ch4-logit']['title']!r}")
    o = np.array([2.0, 1.0, -1.0])
    o[y] = value
    p = sm.softmax(o)
    want_grad = sm.cross_entropy_grad(o, y)
    want_loss = float(sm.cross_entropy(o, y))
    grad = np.array(state["ch4-bars"]["data"]["grad"])
    labels = np.array([float(x) for x in state["ch4-bars"]["data"]["label"]])
    loss = state["ch4-point"]["data"]["loss"][0]
    # "p3 = 0.035, loss −log p3 = 3.349, length of the gradient |p − y| = 1.223"
    shown = re.findall(r"= (-?[\d.]+)", state["ch4-stats"]["text"])
    py_shown, loss_shown, norm_shown = map(float, shown)
    if (
        np.max(np.abs(grad - want_grad)) > SHOWN
        or np.max(np.abs(labels - want_grad)) > SHOWN
        or abs(loss - want_loss) > SHOWN
        or abs(loss_shown - want_loss) > SHOWN
        or abs(py_shown - p[y]) > SHOWN
        or abs(norm_shown - np.linalg.norm(want_grad)) > SHOWN
    ):
        problems.append(
            f"{where}: y = {y + 1}, o = {o}: shown gradient {labels}, loss"
            f" {loss_shown}; softmaxlib {want_grad}, {want_loss:.6f}"
        )
    return y, value


def test_loss_and_gradient(context, base_url: str) -> None:
    """Chapter 4: each true class chosen by keyboard, its logit moved to both
    ends; the gradient vanishes at the upper end."""
    page, log = _open_figure(context, base_url + "chapters/04_gradient.html")
    problems: list[str] = []
    assert _check_gradient(page, problems, "default view") == (2, -1.0)
    menu = page.locator("[data-bokeh-figure] select").first
    for y in (2, 1, 0):
        if y != 2:
            menu.focus()
            page.keyboard.press("ArrowUp")
            page.wait_for_timeout(100)
        _press(page, 0, "ArrowRight")
        got_y, value = _check_gradient(page, problems, f"y = {y + 1}, one step up")
        assert got_y == y, f"the menu shows class {got_y + 1}, expected {y + 1}"
        _press(page, 0, "Home")
        assert _check_gradient(page, problems, f"y = {y + 1}, lower end")[1] == -4
        _press(page, 0, "End")
        assert _check_gradient(page, problems, f"y = {y + 1}, upper end")[1] == 8
        grad = _models(page, "ch4-bars")["ch4-bars"]["data"]["grad"]
        if np.linalg.norm(grad) > 0.01:
            problems.append(f"y = {y + 1}: gradient {grad} does not vanish at 8")
    _offline_checks(page, log, problems)
    _dark_theme_checks(page, problems)
    page.close()
    assert not problems, "\n  ".join(["chapter 4 figure:", *problems])


# The strongly penalised model's test ECE and NLL at T = 0.2, 1, T* and 5, as
# chapter 7 prints them in the cell after the figure (which nbval compares, and
# which asserts that they are the ones softmaxlib gives at those temperatures).
CH7_PRINTED = {
    0.2: (0.044, 0.256),
    1.0: (0.138, 0.281),
    0.458: (0.019, 0.162),
    5.0: (0.714, 1.507),
}


def _check_calibration(page, problems: list[str], where: str) -> tuple[float, str]:
    names = ("ch7-model", "ch7-T", "ch7-diagram", "ch7-stats", "ch7-point")
    state = _models(page, *names, "ch7-fitted")
    # the label the slider shows: "0.458 (fitted on the validation split)"
    T = float(state["ch7-T"]["value"].split()[0])
    _slider_speaks(page, 0, state["ch7-T"], problems, where)
    if abs(T - state["ch7-point"]["data"]["T"][0]) > 5e-4:
        problems.append(f"{where}: slider at T = {T}, point at {state['ch7-point']}")
    # the label names the fitted T* exactly where the dotted line is
    at_fitted = state["ch7-point"]["data"]["T"][0] == state["ch7-fitted"]["location"]
    if ("fitted" in state["ch7-T"]["value"]) != at_fitted:
        problems.append(
            f"{where}: label {state['ch7-T']['value']!r}, T* dotted at"
            f" {state['ch7-fitted']['location']}"
        )
    ece, nll = (
        state["ch7-point"]["data"]["ece"][0],
        state["ch7-point"]["data"]["nll"][0],
    )
    shown = _numbers(state["ch7-stats"]["text"])
    if abs(shown[0] - ece) > SHOWN or abs(shown[1] - nll) > SHOWN:
        problems.append(f"{where}: text {shown[:2]} but points ({ece}, {nll})")
    # the ECE (7.9) from the diagram the page draws
    d = state["ch7-diagram"]["data"]
    counts = np.array([int(c) for c in d["count"]])
    ece_diagram = np.sum(counts / counts.sum() * np.abs(np.array(d["acc"]) - d["conf"]))
    if abs(ece_diagram - ece) > 1e-9:
        problems.append(f"{where}: ECE {ece} but the diagram gives {ece_diagram}")
    model = state["ch7-model"]["value"]
    key = min(CH7_PRINTED, key=lambda t: abs(t - T))
    if model == "strong penalty" and abs(key - T) < 1e-3:
        want = CH7_PRINTED[key]
        if abs(ece - want[0]) > SHOWN or abs(nll - want[1]) > SHOWN:
            problems.append(f"{where}: T = {T}: ({ece}, {nll}), printed {want}")
    return T, model


def test_calibration_by_temperature(context, base_url: str) -> None:
    """Chapter 7: the temperature moved by keyboard to both ends and to the
    fitted T*; each model chosen from the menu."""
    page, log = _open_figure(
        context, base_url + "chapters/07_smoothing_weights_calibration.html"
    )
    problems: list[str] = []
    assert _check_calibration(page, problems, "default") == (1.0, "strong penalty")
    _press(page, 0, "Home")
    assert _check_calibration(page, problems, "left end")[0] == 0.2
    _press(page, 0, "End")
    assert _check_calibration(page, problems, "right end")[0] == 5.0
    seen = set()
    _press(page, 0, "Home")
    for _ in range(26):  # walk the grid up to the fitted temperature
        label = _models(page, "ch7-T")["ch7-T"]["value"]
        if "fitted" in label:
            break
        _press(page, 0, "ArrowRight")
    T, _ = _check_calibration(page, problems, "fitted T*")
    assert "fitted" in label and abs(T - 0.458) < 1e-3, label
    fitted = _models(page, "ch7-fitted")["ch7-fitted"]
    menu = page.locator("[data-bokeh-figure] select").first
    for key in ("ArrowUp", "ArrowDown", "ArrowDown"):
        menu.focus()
        page.keyboard.press(key)
        page.wait_for_timeout(100)
        seen.add(_check_calibration(page, problems, f"menu {key}")[1])
    assert seen == {"weak penalty", "strong penalty", "label smoothing"}, seen
    assert fitted is not None
    _offline_checks(page, log, problems)
    _dark_theme_checks(page, problems)
    page.close()
    assert not problems, "\n  ".join(["chapter 7 figure:", *problems])
