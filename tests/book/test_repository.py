"""The conventions that keep the book reproducible, checked on the committed files."""

import json
import re

import pytest

from booktools.book import ROOT, toc_files

CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


def _code_cells(path):
    nb = json.loads(path.read_text())
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def test_there_are_chapters():
    assert len(CHAPTERS) >= 1


def test_every_toc_entry_exists_and_every_chapter_is_listed():
    listed = set(toc_files())
    for entry in listed:
        matches = list(ROOT.glob(entry + ".*"))
        assert matches, f"_toc.yml lists {entry!r} but no such file exists"
    for path in CHAPTERS:
        assert str(path.relative_to(ROOT).with_suffix("")) in listed, path.name


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_notebook_is_executed_in_order_without_timing(path):
    cells = [c for c in _code_cells(path) if "".join(c["source"]).strip()]
    counts = [c["execution_count"] for c in cells]
    assert None not in counts, "run `make execute`: a code cell has no output"
    assert counts == list(range(1, len(counts) + 1)), "re-execute top to bottom"
    for cell in cells:
        assert "execution" not in cell.get("metadata", {}), "timing metadata"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_notebook_has_no_path_hacks_or_installs(path):
    for cell in _code_cells(path):
        source = "".join(cell["source"])
        assert "sys.path" not in source
        assert not re.search(r"^\s*[!%]\s*pip", source, re.M)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_notebook_outputs_have_no_svg_or_addresses(path):
    for cell in _code_cells(path):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            assert "image/svg+xml" not in data, "SVG carries a date; use PNG"
            text = "".join(output.get("text", "")) + "".join(data.get("text/plain", ""))
            assert not re.search(r"/(work|tmp|root)/", text), "a path in an output"


def test_no_jupytext_twins():
    for path in CHAPTERS:
        assert not path.with_suffix(".md").exists(), (
            f"{path.stem}.md shadows the notebook"
        )


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_cells_nbval_ignores_still_assert_their_claims(path):
    """A cell whose output nbval does not compare must check its own bound.

    Raw figures that move with the CPU (ulps, tiny errors, iteration counts) are
    shown in ``nbval-ignore-output`` cells, and each such cell asserts the claim
    the text makes of them, so that it still fails when the claim fails. Timing
    cells (they call ``bench.measure``, directly or through the appendix's
    ``ns_per_logit``) are the exception: no test asserts a time.
    """
    for number, cell in enumerate(_code_cells(path), start=1):
        if "nbval-ignore-output" not in cell.get("metadata", {}).get("tags", []):
            continue
        source = "".join(cell["source"])
        if re.search(r"bench\.measure|ns_per_logit\(", source):
            continue
        assert re.search(r"^\s*assert\b", source, re.M), (
            f"code cell {number} is nbval-ignore-output but asserts nothing"
        )


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_figure_records_its_smallest_text(path):
    """`make execute` stores with each figure the size of its smallest text
    (booktools.figures), which the browser test needs to check it on the page."""
    from booktools.figures import stored_text_sizes

    sizes = stored_text_sizes([path])
    missing = [digest[:12] for digest, size in sizes.items() if size is None]
    assert not missing, f"re-run `make execute NB={path.name}`: figures {missing}"
