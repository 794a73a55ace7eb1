"""The size of the smallest text in each figure a chapter shows.

``make execute`` loads this module into the kernel as an IPython extension;
every figure that matplotlib's inline backend displays then carries, in its
output's metadata, ``min_text_px``: the height in pixels of the PNG of its
smallest visible text (font size in points times the figure's dots per inch,
over 72). The browser test divides by the scale at which the page shows the
PNG and asserts that no figure text is smaller than 8 CSS pixels at a
laptop's width. A reader's own Jupyter does not load it; nothing else
changes.
"""

from __future__ import annotations

KEY = "min_text_px"


def min_text_px(fig) -> float | None:
    """Pixel height (at the figure's dpi) of its smallest visible, non-empty text."""
    from matplotlib.text import Text

    sizes = [
        t.get_fontsize()
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and _drawn(t)
    ]
    return round(min(sizes) * fig.dpi / 72, 2) if sizes else None


def _drawn(text) -> bool:
    """Whether the text's axes (if it has any) are visible."""
    axes = text.axes
    return axes is None or axes.get_visible()


def load_ipython_extension(ipython) -> None:  # noqa: ARG001 (IPython's signature)
    """Add ``min_text_px`` to the metadata of every inline figure."""
    from matplotlib_inline import backend_inline

    fetch = backend_inline._fetch_figure_metadata
    if getattr(fetch, "records_text_size", False):
        return

    def fetch_with_text_size(fig):
        metadata = dict(fetch(fig) or {})
        size = min_text_px(fig)
        if size is not None:
            metadata[KEY] = size
        return metadata

    fetch_with_text_size.records_text_size = True
    backend_inline._fetch_figure_metadata = fetch_with_text_size


def stored_text_sizes(notebooks) -> dict[str, float | None]:
    """``{sha256 of a PNG output: its min_text_px}`` over the stored outputs of
    ``notebooks`` (paths); None where the output has no such metadata."""
    import base64
    import hashlib
    import json

    sizes: dict[str, float | None] = {}
    for path in notebooks:
        for cell in json.loads(path.read_text())["cells"]:
            for output in cell.get("outputs", []):
                png = output.get("data", {}).get("image/png")
                if png:
                    digest = hashlib.sha256(base64.b64decode(png)).hexdigest()
                    sizes[digest] = output.get("metadata", {}).get(KEY)
    return sizes
