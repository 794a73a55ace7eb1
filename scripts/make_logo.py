"""Draw the book's logo and favicon with matplotlib.

Usage: ``python scripts/make_logo.py [DEST]`` writes ``DEST/logo.png`` and
``DEST/favicon.png`` (``DEST`` defaults to ``_static``). Both files are committed;
run this again only to change the design. The output is byte-for-byte the same
on every run: no timestamp or software version is written into the PNGs.

The motif is the book's subject: four scores (grey, some negative) pass through
the softmax and come out as four probability bars that are positive and sum to
one. The colours are the first four of the Okabe-Ito palette, which colour-blind
readers can tell apart, drawn on a white card so that the logo reads the same in
the light and the dark theme.
"""

import io
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402
from PIL import Image  # noqa: E402

OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#0072B2"]
INK = "#222222"
SCORES = np.array([1.2, -0.6, 2.4, 0.3])


def _softmax(o: np.ndarray) -> np.ndarray:
    e = np.exp(o - o.max())
    return e / e.sum()


def _card(fig: plt.Figure) -> None:
    """A white card with a thin grey border filling the figure."""
    fig.patches.append(
        FancyBboxPatch(
            (0.01, 0.01),
            0.98,
            0.98,
            boxstyle="round,pad=0,rounding_size=0.06",
            transform=fig.transFigure,
            facecolor="white",
            edgecolor="#bbbbbb",
            linewidth=1.5,
            zorder=-10,  # below the axes, which figure artists cover otherwise
        )
    )


def _save(fig: plt.Figure, path: pathlib.Path, colours: int) -> None:
    """Save as a small palette PNG without metadata (reproducible bytes)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", transparent=True, metadata={"Software": None})
    plt.close(fig)
    buf.seek(0)
    image = Image.open(buf).convert("RGBA")
    image = image.quantize(colors=colours, method=Image.Quantize.FASTOCTREE)
    image.save(path, format="PNG", optimize=True)


def logo(path: pathlib.Path) -> None:
    """The sidebar logo: scores, an arrow labelled softmax, probabilities."""
    fig = plt.figure(figsize=(4.0, 2.0), dpi=150)
    _card(fig)
    left = fig.add_axes((0.07, 0.25, 0.33, 0.62))
    right = fig.add_axes((0.60, 0.25, 0.33, 0.62))
    x = np.arange(SCORES.size)
    left.bar(x, SCORES, color="#999999", width=0.7)
    left.axhline(0, color=INK, linewidth=1)
    right.bar(x, _softmax(SCORES), color=OKABE_ITO, width=0.7)
    right.axhline(0, color=INK, linewidth=1)
    right.set_ylim(0, 1)
    for ax in (left, right):
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ("top", "right", "left", "bottom"):
            ax.spines[side].set_visible(False)
        ax.patch.set_alpha(0)
    fig.text(0.235, 0.08, r"scores $\mathbf{o}$", ha="center", color=INK, size=13)
    fig.text(0.765, 0.08, "probabilities", ha="center", color=INK, size=13)
    fig.patches.append(
        FancyArrowPatch(
            (0.42, 0.56),
            (0.58, 0.56),
            transform=fig.transFigure,
            arrowstyle="-|>",
            mutation_scale=18,
            linewidth=2,
            color=INK,
        )
    )
    fig.text(0.5, 0.66, "softmax", ha="center", color=INK, size=12, style="italic")
    _save(fig, path, colours=48)


def favicon(path: pathlib.Path) -> None:
    """The browser-tab icon: the four probability bars alone, 64 by 64 pixels."""
    fig = plt.figure(figsize=(0.64, 0.64), dpi=100)
    _card(fig)
    ax = fig.add_axes((0.12, 0.14, 0.76, 0.74))
    ax.bar(np.arange(SCORES.size), _softmax(SCORES), color=OKABE_ITO, width=0.8)
    ax.set_ylim(0, _softmax(SCORES).max())
    ax.set_axis_off()
    _save(fig, path, colours=16)


def main(dest: str) -> None:
    folder = pathlib.Path(dest)
    folder.mkdir(parents=True, exist_ok=True)
    logo(folder / "logo.png")
    favicon(folder / "favicon.png")
    for name in ("logo.png", "favicon.png"):
        size = (folder / name).stat().st_size
        print(f"wrote {folder / name} ({size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "_static")
