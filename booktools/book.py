"""What the book's scripts and the tests of the built book share.

The book's files (``_toc.yml`` in reading order, each entry's source, its
markdown and its title), the Jupyter Book command that ``make book`` and
``make pdf`` run (after writing the notebooks' zip the preface links to),
Debian's Chromium with the arguments it is started with, and a quiet web server
on 127.0.0.1 for a built folder.

``ROOT`` is the checkout this package's folder sits in: ``make setup`` installs
it editable (``pip install -e booktools``), so the paths are those of the book.
"""

import contextlib
import functools
import http.server
import json
import os
import pathlib
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import yaml

from booktools.download import write_zip

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHROMIUM = pathlib.Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOST = "127.0.0.1"
HTML = ROOT / "_build" / "html"
_STAMP = ROOT / "_build" / ".html-built"  # when the last successful build started

# Why a Chromium-based job cannot run; callers add what it would have done.
chromium_missing_reason = (
    f"no Chromium at {CHROMIUM}: install it with `apt-get install chromium` (Debian)"
)


# --- the book's files ---------------------------------------------------------


def toc_files() -> list[str]:
    """Every file of ``_toc.yml`` in reading order (the root first), without
    its suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key, []))

    walk([toc])
    return [f.removesuffix(".ipynb").removesuffix(".md") for f in files]


def source(name: str) -> pathlib.Path:
    """The ``.ipynb`` or ``.md`` file of a ``_toc.yml`` entry."""
    for suffix in (".ipynb", ".md"):
        if (ROOT / (name + suffix)).exists():
            return ROOT / (name + suffix)
    raise FileNotFoundError(f"{name} is in _toc.yml but has no .ipynb or .md file")


def markdown(name: str) -> str:
    """The markdown of a source file (of a notebook: its markdown cells)."""
    path = source(name)
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".ipynb":
        return text
    cells = json.loads(text)["cells"]
    return "\n".join(
        "".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
    )


def title(name: str) -> str:
    """The source's first ``# `` heading, as written in markdown."""
    lines = markdown(name).splitlines()
    return next(line for line in lines if line.startswith("# "))[2:]


# Marks markdown does not print: code and emphasis; an underscore only where it
# opens or closes emphasis, not inside a word such as log_softmax.
_MARKS = re.compile(r"[`*]|(?<!\w)_+|_+(?!\w)")


def title_words(name: str) -> list[str]:
    """The pieces of the title outside ``$...$`` math, without markdown's code
    and emphasis marks: the text a reader sees of it wherever it is printed."""
    parts = re.split(r"\$[^$]*\$", title(name))
    words = (_MARKS.sub("", part).strip() for part in parts)
    return [word for word in words if word]


# --- a local web server ---------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the browser closing a connection early is not a failure


@contextlib.contextmanager
def serve(folder: pathlib.Path) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1 (a free port) and yield its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = _QuietServer((LOCAL_HOST, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOCAL_HOST}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _changed_since(stamp: float) -> list[pathlib.Path]:
    """Files of the project modified after ``stamp`` (a modification time).

    The project's files are those git tracks or would track: ``.gitignore``
    already names everything that is built or cached. Outside a git checkout
    every file counts as changed, which only costs a full rebuild.
    """
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
    )
    if listed.returncode != 0:
        return [ROOT]
    paths = (ROOT / name for name in listed.stdout.decode().split("\0") if name)
    return [p for p in paths if p.is_file() and p.stat().st_mtime > stamp]


def jupyter_book_build(
    *options: str, capture: bool = True
) -> subprocess.CompletedProcess:
    """Run ``jupyter-book build ROOT <options> -W --keep-going``.

    Warnings are errors (``--keep-going`` only works together with ``-W`` in
    Jupyter Book 1.x, and lists every warning instead of the first). The
    ``jupyter-book`` beside this Python is used, so the build runs in the
    project's environment. ``result.args`` is the command that ran.

    The preface links to the notebooks' zip, so it is written first
    (:func:`booktools.download.write_zip`): without it the link is a warning.
    """
    write_zip()
    jupyter_book = pathlib.Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book), "build", str(ROOT), *options, "-W", "--keep-going"]
    return subprocess.run(command, capture_output=capture, text=True)


def build_html(capture: bool = True) -> subprocess.CompletedProcess:
    """Build the HTML book into ``_build/html`` with warnings as errors.

    Sphinx rebuilds only the pages whose source changed, so a page that did
    not change keeps the sidebar and the configuration it was built with: a
    chapter added to ``_toc.yml`` would be missing from the other pages'
    sidebars. When any file changed since the last successful build (or no
    build is on record), every page is written again (``--all``); with nothing
    changed the build stays incremental and takes a few seconds.
    """
    options = []
    if not _STAMP.exists() or _changed_since(_STAMP.stat().st_mtime):
        options.append("--all")
    started = time.time()
    result = jupyter_book_build(*options, capture=capture)
    if result.returncode == 0:
        # Dated at the start, so that a file saved during the build counts as
        # changed next time.
        _STAMP.touch()
        os.utime(_STAMP, (started, started))
    return result


def built_site() -> pathlib.Path:
    """The built HTML book for the tests: ``BOOK_HTML`` if set (``make
    test-book`` builds it first), else :func:`build_html` now; a failed build
    raises RuntimeError with the end of its log."""
    given = os.environ.get("BOOK_HTML")
    if given:
        return pathlib.Path(given).resolve()
    build = build_html()
    if build.returncode != 0:
        log = (build.stdout + build.stderr)[-6000:]
        raise RuntimeError(f"`jupyter-book build . -W --keep-going` failed:\n{log}")
    return HTML
