"""The conventions that keep the book reproducible, checked on the committed files."""

import io
import json
import re
import tokenize

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


#: A numbered display equation in a chapter's Markdown: ``$$ ... $$ (label)``.
EQUATION_LABEL = re.compile(r"^[ \t>]*\$\$[ \t]*\(([\w-]+)\)[ \t]*$", re.M)
#: An equation number typed by hand, "(4.12)", in a comment or a string.
EQUATION_NUMBER = re.compile(r"\([1-9]\.\d{1,2}\)")


_F_PREFIX = re.compile(r"[rRbB]?[fF]")


def _comments_and_strings(source: str) -> list[str]:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    # Python 3.12 splits f-strings into pieces; 3.11 keeps each one a STRING
    middle = getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)
    kinds = {tokenize.COMMENT, tokenize.STRING, middle}
    texts = [t.string for t in tokens if t.type in kinds]
    # on 3.11 an f-string is one token: leave out the code between its braces
    return [re.sub(r"\{[^{}]*\}", "", t) if _F_PREFIX.match(t) else t for t in texts]


def test_code_names_equations_by_label_not_by_number():
    """Code and its printed output name an equation by its label, "(ch4-grad)",
    as the preface says: a number typed by hand goes stale when an equation is
    added above it, and no other check would notice. Every label named in a
    comment or a string of a code cell is one that some chapter defines."""
    labels = set()
    for path in CHAPTERS:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "markdown":
                labels.update(EQUATION_LABEL.findall("".join(cell["source"])))
    assert len(labels) > 50, "the pattern no longer finds the chapters' equations"
    problems = []
    for path in CHAPTERS:
        for number, cell in enumerate(_code_cells(path), start=1):
            for text in _comments_and_strings("".join(cell["source"])):
                where = f"{path.name}, code cell {number}"
                problems += [f"{where}: {m}" for m in EQUATION_NUMBER.findall(text)]
                for name in re.findall(r"\((ch\d-[\w-]+)\)", text):
                    if name not in labels:
                        problems.append(f"{where}: no equation is labelled {name}")
    assert not problems, "\n".join(problems)
