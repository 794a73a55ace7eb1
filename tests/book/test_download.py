"""The notebooks' zip the preface offers, used as a reader without the repository would.

``make book`` writes ``softmax-book-notebooks.zip`` (booktools.download) and the
preface links to it. The ``book`` test follows that link in the built preface,
unpacks the zip into a temporary folder, installs what it names into a new virtual
environment (no system site-packages, nothing from this checkout) and runs a
chapter there with the environment's own ``jupyter nbconvert``.

The test has no network: uv installs from the cache that ``make setup`` filled.
That cache holds the wheels of ``requirements.lock`` but not the metadata a
resolver needs, so the install is resolver-free: every pin of the zip's
``constraints.txt`` and ``requirements.txt`` with ``--no-deps``, after which
``uv pip check`` proves that each installed package has what it declares. (Its
``--override`` drops rfc3987-syntax, which the lock leaves out too.) A reader's
``pip install -r requirements.txt`` resolves to the same versions, since the
constraints pin every one.

The other test, not marked ``book``, checks that every chapter's imports are
among the packages the zip's requirements name.
"""

import ast
import html.parser
import importlib.metadata
import json
import os
import pathlib
import subprocess
import sys
import urllib.parse
import zipfile

import nbformat
import pytest

from booktools.book import ROOT, built_site, toc_files
from booktools.download import IMPORTED, NAME

UV = pathlib.Path(sys.executable).with_name("uv")
CHAPTER = "chapters/02_softmax.ipynb"  # the chapter the zip's environment runs
OWN = {"softmaxlib", "booktools"}  # shipped in the zip as wheels


def _import_statements(notebook: pathlib.Path) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of a notebook's code cells."""
    cells = nbformat.read(notebook, as_version=4).cells
    trees = [ast.parse(c.source) for c in cells if c.cell_type == "code"]
    return [
        node
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]


def _imports(notebook: pathlib.Path) -> set[str]:
    """The top-level modules a notebook imports, besides the standard library's."""
    names = set()
    for node in _import_statements(notebook):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        else:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names)


def test_every_chapter_import_is_in_the_requirements():
    """A chapter importing a package the zip's requirements.txt does not name
    would fail at that import for a reader: add it to booktools.download.IMPORTED."""
    providers = importlib.metadata.packages_distributions()
    named = {name.lower() for name in IMPORTED}
    missing = {}
    for notebook in sorted((ROOT / "chapters").glob("*.ipynb")):
        for module in sorted(_imports(notebook) - OWN):
            dists = {d.lower() for d in providers.get(module, [module])}
            if not dists & named:
                missing.setdefault(notebook.name, []).append(f"{module} ({dists})")
    assert not missing, f"imports not in booktools.download.IMPORTED: {missing}"


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


@pytest.fixture(scope="module")
def zip_path() -> pathlib.Path:
    """The zip the built preface links to (BOOK_HTML, or a build made here)."""
    site = built_site()
    preface = toc_files()[0] + ".html"
    parser = _Links()
    parser.feed((site / preface).read_text(encoding="utf-8"))
    links = [h for h in parser.hrefs if h.endswith(f"/{NAME}.zip")]
    assert len(links) == 1, f"{preface} links to {NAME}.zip {len(links)} times"
    path = site / urllib.parse.unquote(links[0])
    assert path.is_file(), f"{preface} links to {links[0]}, which was not built"
    return path


@pytest.mark.book
def test_a_chapter_runs_from_the_zip_alone(zip_path: pathlib.Path, tmp_path) -> None:
    if not UV.exists():
        pytest.skip(f"uv is not installed beside {sys.executable} (make setup does)")
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(tmp_path)
    folder = tmp_path / NAME
    venv = tmp_path / "venv"
    # Nothing of this checkout or of the test's environment may leak in.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "JUPYTER", "VIRTUAL_ENV", "UV_", "MPL"))
    }
    env["JUPYTER_DATA_DIR"] = str(tmp_path / "jupyter-data")
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "jupyter-config")
    env["UV_CACHE_DIR"] = os.environ.get("UV_CACHE_DIR", "")

    def run(*command: str | pathlib.Path) -> subprocess.CompletedProcess:
        got = subprocess.run(
            [str(c) for c in command],
            cwd=folder,
            env={k: v for k, v in env.items() if v},
            capture_output=True,
            text=True,
            timeout=300,
        )
        log = (got.stdout + got.stderr)[-4000:]
        assert got.returncode == 0, f"{' '.join(map(str, command))} failed:\n{log}"
        return got

    run(UV, "venv", "--quiet", "--offline", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    run(UV, "pip", "install", "--quiet", "--offline", "--no-deps", "--python", python,
        "--override", ROOT / "requirements-overrides.txt",
        "-r", "requirements.txt", "-r", "constraints.txt")  # fmt: skip
    run(UV, "pip", "check", "--quiet", "--python", python)

    # The chapter, and after its own cells one that makes every import of every
    # chapter and tells where Python and softmaxlib came from.
    chapters = sorted((folder / "chapters").glob("*.ipynb"))
    statements = {ast.unparse(s) for nb in chapters for s in _import_statements(nb)}
    nb = nbformat.read(folder / CHAPTER, as_version=4)
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "\n".join(sorted(statements | {"import json", "import sys"}))
            + "\nimport softmaxlib\n"
            + "print(json.dumps([sys.prefix, softmaxlib.__file__]))"
        )
    )
    probe = folder / "chapters" / "probe.ipynb"
    nbformat.write(nb, probe)
    run(venv / "bin" / "jupyter", "nbconvert", "--to", "notebook", "--execute",
        "--ExecutePreprocessor.timeout=120", "--inplace", probe)  # fmt: skip

    ran = nbformat.read(probe, as_version=4)
    prefix, library = json.loads(ran.cells[-1].outputs[0]["text"])
    assert pathlib.Path(prefix).resolve() == venv.resolve(), prefix
    assert pathlib.Path(library).resolve().is_relative_to(venv.resolve()), library
    # nbconvert stops at an error, except in a cell tagged raises-exception
    # (an error shown on purpose), which must then still raise one.
    for cell in ran.cells:
        shown = "raises-exception" in cell.metadata.get("tags", [])
        raised = any(o.output_type == "error" for o in cell.get("outputs", []))
        assert raised == shown, cell.source
