"""The one download of the built book: the notebooks and what runs them.

A reader of the site has no clone of the repository, and a chapter notebook
downloaded alone stops at ``import softmaxlib``. :func:`write_zip` packs into
``_build/download/softmax-book-notebooks.zip`` (:data:`ZIP`) a folder with

- ``chapters/*.ipynb``: every chapter notebook as committed, with its outputs;
- a wheel of ``softmaxlib`` and one of ``booktools``, built here from this
  checkout (the performance appendix imports ``booktools.bench`` and
  ``booktools.kernels``, which need only NumPy and softmaxlib);
- ``requirements.txt``: the packages the notebooks import (:data:`IMPORTED`) and
  JupyterLab, pinned to the versions of ``requirements.lock``, then the two wheels;
- ``README.txt``: the commands that run it.

The preface links to the zip with the ``{download}`` role, which makes Sphinx
copy it into ``_build/html/_downloads/<hash>/``. A missing zip is a warning and
so a failed build: :func:`booktools.book.jupyter_book_build` writes it first.

The wheels are built with the setuptools already in the environment (no build
isolation, nothing fetched), from a copy of the sources in a temporary folder so
that no ``build/`` folder is left in the checkout. Every file in the zip is dated
with the last commit, so the same sources give the same bytes.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
NAME = "softmax-book-notebooks"
ZIP = ROOT / "_build" / "download" / f"{NAME}.zip"

#: What the notebooks import from the registry, as distribution names: the
#: scientific stack the chapters use, and JupyterLab (with ipykernel and nbconvert)
#: to open them. tests/book/test_download.py checks that every chapter's imports
#: are covered, so a new import must be added here.
IMPORTED = [
    "numpy",
    "scipy",
    "sympy",
    "mpmath",
    "matplotlib",
    "bokeh",  # booktools.interactive draws the chapters' interactive figures
    "scikit-learn",
    "ipython",  # IPython.display typesets the SymPy results
    "myst-nb",  # the performance appendix glues its figures into the text
    "jupyterlab",
]

README = """\
Softmax and Cross-Entropy, Derived and Checked: the notebooks
==============================================================

chapters/             the book's chapters as Jupyter notebooks, with the outputs
                      the book shows
softmaxlib-*.whl      the small NumPy library the chapters import (softmaxlib)
booktools-*.whl       the timing harness of the performance appendix (booktools)
requirements.txt      the packages the notebooks import and JupyterLab, at the
                      versions the book was checked with, and the two wheels
constraints.txt       the versions of everything those packages need in turn

Run them with Python 3.11 to 3.13, from this folder:

    python -m venv .venv
    .venv/bin/pip install -r requirements.txt
    .venv/bin/jupyter lab

(On Windows: .venv\\Scripts\\pip and .venv\\Scripts\\jupyter.)

The second command downloads NumPy, SciPy, SymPy, Matplotlib, scikit-learn,
JupyterLab and what they need from the Python Package Index, so it needs the
internet once; after that everything runs offline. For a machine without a
connection, fill a folder on one that has it, with the same operating system and
Python version:

    pip download -r requirements.txt -d wheelhouse

copy this folder with the wheelhouse in it, and install from it:

    .venv/bin/pip install --no-index --find-links wheelhouse -r requirements.txt

The notebooks are the book's sources: cross-references such as {eq}`label` and
citations such as {cite}`key` are shown as written; the built book resolves them.
"""


def _lock_entries(lock: pathlib.Path) -> dict[str, tuple[str, set[str]]]:
    """``{name: (pin, parents)}`` for every package of a uv lock.

    ``pin`` is the line without hashes (``name==version`` and its environment
    marker, if any); ``parents`` are the packages its ``# via`` comment names.
    """
    entries: dict[str, tuple[str, set[str]]] = {}
    parents: set[str] = set()
    for line in lock.read_text(encoding="utf-8").splitlines():
        head = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==", line)
        if head:
            parents = set()
            entries[head[1].lower()] = (line.removesuffix("\\").strip(), parents)
            continue
        via = re.match(r"\s+#\s+(?:via\s+)?([A-Za-z0-9][A-Za-z0-9._-]*)\s*$", line)
        if via and entries:
            parents.add(via[1].lower())
    return entries


def pinned(lock: pathlib.Path, names: list[str]) -> tuple[list[str], list[str]]:
    """The pins of ``names`` in ``lock``, and those of everything they need.

    The second list is the dependency closure of ``names`` within the lock (read
    from its ``# via`` comments), with the environment markers of the universal
    lock: what the book's tooling alone needs (Jupyter Book, pytest, ruff, ...)
    is left out.
    """
    entries = _lock_entries(lock)
    missing = [name for name in names if name.lower() not in entries]
    if missing:
        raise ValueError(f"{lock.name} does not pin {missing}")
    needed = {name.lower() for name in names}
    grown = True
    while grown:
        more = {n for n, (_, via) in entries.items() if via & needed} - needed
        needed |= more
        grown = bool(more)
    top = [entries[name.lower()][0] for name in names]
    return top, [pin for name, (pin, _) in sorted(entries.items()) if name in needed]


def _commit_time() -> int:
    """The last commit's time (seconds since 1970), or now outside git."""
    got = subprocess.run(
        ["git", "log", "-1", "--format=%ct"], cwd=ROOT, capture_output=True, text=True
    )
    stamp = got.stdout.strip()
    return int(stamp) if got.returncode == 0 and stamp.isdigit() else int(time.time())


def build_wheel(project: pathlib.Path, out: pathlib.Path, epoch: int) -> pathlib.Path:
    """Build the wheel of ``project`` (a folder with a pyproject.toml) into ``out``.

    ``uv build`` from this environment, offline and without build isolation: the
    locked setuptools does the work. It runs on a copy, because setuptools writes
    ``build/`` and ``*.egg-info`` beside the sources.
    """
    uv = pathlib.Path(sys.executable).with_name("uv")
    with tempfile.TemporaryDirectory() as tmp:
        copy = pathlib.Path(tmp) / project.name
        shutil.copytree(
            project,
            copy,
            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"),
        )
        before = set(out.glob("*.whl"))
        subprocess.run(
            [str(uv), "build", "--wheel", "--no-build-isolation", "--offline"]
            + ["--quiet", "--python", sys.executable, "--out-dir", str(out), str(copy)],
            check=True,
            env={**os.environ, "SOURCE_DATE_EPOCH": str(epoch)},
        )
    (wheel,) = set(out.glob("*.whl")) - before
    return wheel


def _library_sources(tmp: pathlib.Path) -> pathlib.Path:
    """softmaxlib's project alone (pyproject.toml, README.md, the package):
    the repository root holds the chapters, the tests and .venv as well."""
    src = tmp / "softmaxlib-src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "softmaxlib",
        src / "softmaxlib",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return src


def write_zip(path: pathlib.Path = ZIP) -> pathlib.Path:
    """Write the download (see the module's docstring) to ``path``."""
    epoch = _commit_time()
    date = time.gmtime(max(epoch, 315532800))[:6]  # zip dates start in 1980
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = pathlib.Path(tmp_name)
        wheels = tmp / "wheels"
        wheels.mkdir()
        built = [
            build_wheel(_library_sources(tmp), wheels, epoch),
            build_wheel(ROOT / "booktools", wheels, epoch),
        ]
        top, closure = pinned(ROOT / "requirements.lock", IMPORTED)
        requirements = [
            "# What the book's notebooks import, and JupyterLab to open them, at",
            "# the versions the book was checked with (constraints.txt pins the",
            "# packages these need in turn).",
            *top,
            "-c constraints.txt",
            "# The book's library and the performance appendix's timing harness.",
            *(f"./{wheel.name}" for wheel in built),
        ]
        constraints = [
            "# Every package that requirements.txt needs, at the version of the",
            "# book's requirements.lock (resolved for Linux, macOS and Windows and",
            "# Python 3.11 to 3.13, with markers where they differ).",
            *closure,
        ]
        members: list[tuple[str, bytes]] = [
            ("README.txt", README.encode()),
            ("requirements.txt", "".join(f"{x}\n" for x in requirements).encode()),
            ("constraints.txt", "".join(f"{x}\n" for x in constraints).encode()),
            *((wheel.name, wheel.read_bytes()) for wheel in built),
            *(
                (f"chapters/{nb.name}", nb.read_bytes())
                for nb in sorted((ROOT / "chapters").glob("*.ipynb"))
            ),
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(f"{NAME}/{name}", date_time=date)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    if path.exists() and path.read_bytes() == partial.read_bytes():
        partial.unlink()  # unchanged: its date stays, so Sphinx copies nothing anew
    else:
        partial.replace(path)
    return path


if __name__ == "__main__":
    print(write_zip())
