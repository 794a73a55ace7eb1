"""Interactive figures: Bokeh layouts over grids that the chapters precompute.

A chapter computes every number a figure can show with ``softmaxlib`` (a grid
over the positions of its sliders) and passes the arrays to one of the builders
below, which only lay them out. The JavaScript of a figure selects the entries
of those arrays that belong to the sliders' positions and formats them; it
computes no softmax, loss or calibration error itself.

A slider over such a grid is a :class:`bokeh.models.CategoricalSlider` whose
categories are the grid's values written out (``"0.02"``, ..., ``"1000"``): the
page shows "temperature T: 1", the handle's ``aria-valuetext`` (which a screen
reader speaks) is that same string rather than the grid index, and the
figure's JavaScript finds the index with ``categories.indexOf(value)``. (A
numeric ``Slider`` with a ``CustomJSTickFormatter`` shows the right title, but
BokehJS does not pass its format to noUiSlider, whose ``aria-valuetext`` then
reads the index, "5.00".)

What each reader sees, from one notebook output (:class:`Interactive`):

- the built HTML book: the Bokeh figure, under the MIME type :data:`MIME`, which
  :class:`BokehRenderPlugin` (a myst-nb renderer, registered in
  ``booktools/pyproject.toml``) passes through as raw HTML. BokehJS itself is
  not in the output: ``_ext/bokeh_static.py`` copies ``bokeh.min.js`` and
  ``bokeh-widgets.min.js`` from the installed wheel into the site once and adds
  them to the pages that show such a figure;
- the PDF (the ``singlehtml`` build) and Jupyter: the ``image/png``, a static
  frame of the figure at its default setting drawn with Matplotlib, because
  neither knows :data:`MIME` (myst-nb gives it priority for ``html`` only, and
  Jupyter shows the richest type it can render);
- text only (a screen reader, ``text/plain``): the figure's text alternative.
"""

from __future__ import annotations

import base64
import html
import io
import re

import numpy as np

#: The output type of the interactive figure (raw HTML that needs BokehJS).
MIME = "application/vnd.softmax-book.bokeh+html"
#: The attribute that marks a page holding one (read by _ext/bokeh_static.py).
MARKER = "data-bokeh-figure"

BLUE, VERMILLION, GREEN, GREY = "#0072B2", "#D55E00", "#009E73", "#555555"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# A white card, as the book's PNG figures have: the dark theme keeps it light,
# so Bokeh's dark axis labels and slider titles stay readable.
_CARD = (
    "background:#ffffff;color:#1a1a1a;border:1px solid #d0d0d0;"
    "border-radius:4px;padding:8px 10px;max-width:100%;box-sizing:border-box"
)


class Interactive:
    """One interactive figure as a notebook output (see the module docstring).

    ``layout`` is the Bokeh layout, ``static`` a Matplotlib figure of its
    default view, ``alt`` the text alternative (what the figure shows and how it
    is operated) and ``name`` a short identifier, also the prefix of the Bokeh
    models' names that the browser tests read.
    """

    def __init__(self, name: str, layout, static, alt: str) -> None:
        self.name, self.layout, self.static, self.alt = name, layout, static, alt

    def html(self) -> str:
        from bokeh.embed import components

        script, div = components(self.layout)
        # components() names the document and its element by random UUIDs;
        # fixed ones keep a re-executed notebook's output the same.
        ids: dict[str, str] = {}
        for found in _UUID.findall(script + div):
            ids.setdefault(found, f"{self.name}-{len(ids) + 1}")
        for old, new in ids.items():
            script, div = script.replace(old, new), div.replace(old, new)
        alt = html.escape(self.alt, quote=True)
        return (
            f'<div class="interactive-figure" {MARKER}="{self.name}" role="group"'
            f' aria-label="{alt}" style="{_CARD}">\n{div}\n{script}\n'
            f"<noscript><p>{alt}</p></noscript>\n</div>\n"
        )

    def png(self) -> bytes:
        buffer = io.BytesIO()
        self.static.savefig(buffer, format="png", dpi=self.static.dpi)
        return buffer.getvalue()

    def _repr_mimebundle_(self, include=None, exclude=None):
        from booktools.figures import KEY, min_text_px

        data = {
            "text/plain": self.alt,
            "image/png": base64.b64encode(self.png()).decode("ascii"),
            MIME: self.html(),
        }
        return data, {KEY: min_text_px(self.static)}


class BokehRenderPlugin:
    """myst-nb renders :data:`MIME` as raw HTML, preferred in the ``html``
    builder only; the ``singlehtml`` build of the PDF takes the PNG."""

    mime_priority_overrides = [("html", MIME, 5), ("dirhtml", MIME, 5)]

    @staticmethod
    def handle_mime(renderer, data, inline):  # noqa: ARG004 (myst-nb's signature)
        if data.mime_type != MIME or inline:
            return None
        from docutils import nodes

        return [nodes.raw(text=data.content, format="html", classes=["output"])]


# --- building blocks ----------------------------------------------------------


def _figure(**options):
    from bokeh.plotting import figure

    fig = figure(
        height=options.pop("height", 260),
        sizing_mode="stretch_width",
        toolbar_location=None,
        tools="",
        **options,
    )
    fig.title.text_font_size = "13px"
    for axis in (fig.xaxis, fig.yaxis):
        axis.axis_label_text_font_size = "13px"
        axis.axis_label_text_font_style = "normal"
        axis.major_label_text_font_size = "12px"
    fig.min_border_left = 50
    return fig


def _static_figure(width: float, height: float):
    """A Matplotlib figure that is not shown by the inline backend."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, facecolor="white")


# --- Chapter 2: the softmax playground ----------------------------------------

_PLAYGROUND_JS = """
const n = values.length, m = t.categories.length;
const pos = sliders.map(s => Math.round((s.value - values[0]) / step));
const k = (pos[0] * n + pos[1]) * n + pos[2];   // the three logits
const row = k * m + t.categories.indexOf(t.value); // and the temperature
const g = grid.data;
const p = [g.p1[row], g.p2[row], g.p3[row]];
bars.data = {
  cls: bars.data.cls,
  p: p,
  label: p.map(x => x.toFixed(3)),
  colour: [0, 1, 2].map(j => g[`top${j + 1}`][row] ? win : other),
};
stats.text = `entropy H = ${g.H[row].toFixed(3)} nats `
  + `(between 0 and log 3 = ${logq}) · largest: ${winners[k]}`;
"""


def _two_panels(left, right, stats, select, slider, callback):
    """Two plots side by side, the text line below them, then the menu and the
    slider, both of which run ``callback`` when they change."""
    from bokeh.layouts import column, row

    slider.js_on_change("value", callback)
    select.js_on_change("value", callback)
    return column(
        row(left, right, sizing_mode="stretch_width"),
        stats,
        row(select, slider, sizing_mode="stretch_width"),
        sizing_mode="stretch_width",
    )


def softmax_playground(values, temperatures, P, H, top, winners, default):
    """The softmax of three logits over a grid, with the temperature.

    ``values``: the logits' grid (equally spaced); ``temperatures``: the
    temperatures; ``P[a, b, c, t]``: softmax((values[a], values[b],
    values[c]) / temperatures[t]); ``H`` its entropy; ``top[a, b, c, t, j]``
    whether entry j is the largest (ties: every tied entry); ``winners[a, b,
    c]``: words naming the largest entry; ``default``: the indices (a, b, c, t)
    of the default view.
    """
    from bokeh.layouts import column, row
    from bokeh.models import (
        CategoricalSlider,
        ColumnDataSource,
        CustomJS,
        Div,
        LabelSet,
        Range1d,
        Slider,
        Span,
    )

    n, m = len(values), len(temperatures)
    assert P.shape == (n, n, n, m, 3) and H.shape == (n, n, n, m)
    labels = [f"{T:g}" for T in temperatures]
    assert len(set(labels)) == m, f"temperatures that print alike: {labels}"
    flat = P.reshape(-1, 3).astype(np.float32)
    top_flat = top.reshape(-1, 3).astype(np.uint8)
    grid = ColumnDataSource(
        {
            "p1": flat[:, 0],
            "p2": flat[:, 1],
            "p3": flat[:, 2],
            "H": H.reshape(-1).astype(np.float32),
            "top1": top_flat[:, 0],
            "top2": top_flat[:, 1],
            "top3": top_flat[:, 2],
        },
        name="ch2-grid",
    )
    a, b, c, t = (int(i) for i in default)
    row0 = ((a * n + b) * n + c) * m + t
    p0 = flat[row0]
    bars = ColumnDataSource(
        {
            "cls": ["class 1", "class 2", "class 3"],
            "p": [float(x) for x in p0],
            "label": [f"{x:.3f}" for x in p0],
            "colour": [VERMILLION if top_flat[row0, j] else BLUE for j in range(3)],
        },
        name="ch2-bars",
    )
    fig = _figure(
        x_range=bars.data["cls"],
        y_range=Range1d(0, 1.12),
        height=250,
        title="softmax(o / T): the largest entry in orange",
    )
    fig.vbar(x="cls", top="p", width=0.6, color="colour", source=bars)
    fig.add_layout(
        LabelSet(
            x="cls",
            y="p",
            text="label",
            source=bars,
            text_align="center",
            y_offset=3,
            text_font_size="12px",
        )
    )
    fig.add_layout(
        Span(location=1 / 3, dimension="width", line_dash="dashed", line_color=GREY)
    )
    fig.yaxis.axis_label = "probability"
    step = float(values[1] - values[0])
    sliders = [
        Slider(
            start=float(values[0]),
            end=float(values[-1]),
            step=step,
            value=float(values[i]),
            title=f"logit o{j + 1}",
            name=f"ch2-o{j + 1}",
            sizing_mode="stretch_width",
        )
        for j, i in enumerate((a, b, c))
    ]
    t_slider = CategoricalSlider(
        categories=labels,
        value=labels[t],
        title="temperature T",
        name="ch2-T",
        sizing_mode="stretch_width",
    )
    stats = Div(
        text=(
            f"entropy H = {float(H.reshape(-1)[row0]):.3f} nats (between 0 and"
            f" log 3 = {np.log(3):.3f}) · largest: {winners[a, b, c]}"
        ),
        name="ch2-stats",
        sizing_mode="stretch_width",
    )
    callback = CustomJS(
        args={
            "grid": grid,
            "bars": bars,
            "sliders": sliders,
            "t": t_slider,
            "stats": stats,
            "values": [float(v) for v in values],
            "step": step,
            "winners": [str(w) for w in winners.reshape(-1)],
            "win": VERMILLION,
            "other": BLUE,
            "logq": f"{np.log(3):.3f}",
        },
        code=_PLAYGROUND_JS,
    )
    for slider in [*sliders, t_slider]:
        slider.js_on_change("value", callback)
    layout = column(
        fig,
        stats,
        row(*sliders, sizing_mode="stretch_width"),
        t_slider,
        sizing_mode="stretch_width",
    )

    static = _static_figure(6.4, 3.2)
    ax = static.subplots()
    colours = [VERMILLION if top_flat[row0, j] else BLUE for j in range(3)]
    ax.bar(bars.data["cls"], p0, color=colours, width=0.6)
    for j, x in enumerate(p0):
        ax.text(j, x + 0.02, f"{x:.3f}", ha="center", fontsize=10)
    ax.axhline(1 / 3, color=GREY, linestyle="--", linewidth=1)
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("probability")
    o0 = ", ".join(f"{values[i]:g}" for i in (a, b, c))
    ax.set_title(
        f"softmax(o / T) at o = ({o0}), T = {labels[t]}:"
        f" entropy {float(H.reshape(-1)[row0]):.3f} nats",
        fontsize=10,
    )
    static.tight_layout()
    return layout, static


# --- Chapter 4: the loss and its gradient as one logit moves -------------------

_GRADIENT_JS = """
const n = values.length, y = Number(select.value) - 1;
const i = slider.categories.indexOf(slider.value);
const row = y * n + i;
const g = grid.data;
const grad = [g.g1[row], g.g2[row], g.g3[row]];
bars.data = {
  cls: bars.data.cls,
  grad: grad,
  label: grad.map(x => x.toFixed(3)),
};
curve.data = {o: values, loss: g.loss.slice(y * n, (y + 1) * n)};
point.data = {o: [values[i]], loss: [g.loss[row]]};
slider.title = `true-class logit o${select.value}`;
stats.text = `p${y + 1} = ${g.py[row].toFixed(3)}, loss −log p${y + 1} = `
  + `${g.loss[row].toFixed(3)}, length of the gradient |p − y| = `
  + `${g.norm[row].toFixed(3)}`;
"""


def loss_and_gradient(values, base, P, loss, grad, default):
    """The loss and the gradient p − y for each true class y as its logit moves.

    ``values``: the grid of the true class's logit; ``base``: the other logits
    (the true class's entry is replaced); ``P[y, i]``, ``loss[y, i]`` and
    ``grad[y, i]``: the probabilities, the loss −log p_y and the gradient when
    class y is true and its logit is ``values[i]``; ``default``: (y, i).
    """
    from bokeh.models import (
        CategoricalSlider,
        ColumnDataSource,
        CustomJS,
        Div,
        LabelSet,
        Range1d,
        Select,
        Span,
    )

    q, n = P.shape[0], len(values)
    assert P.shape == (q, n, q) == grad.shape and loss.shape == (q, n)
    y0, i0 = (int(i) for i in default)
    norm = np.linalg.norm(grad, axis=-1)
    py = P[np.arange(q), :, np.arange(q)]
    labels = [f"{v:g}" for v in values]
    assert len(set(labels)) == n, f"logits that print alike: {labels}"
    grid = ColumnDataSource(
        {
            "g1": grad[..., 0].reshape(-1),
            "g2": grad[..., 1].reshape(-1),
            "g3": grad[..., 2].reshape(-1),
            "loss": loss.reshape(-1),
            "py": py.reshape(-1),
            "norm": norm.reshape(-1),
        },
        name="ch4-grid",
    )
    cls = [f"class {j + 1}" for j in range(q)]
    g0 = grad[y0, i0]
    bars = ColumnDataSource(
        {"cls": cls, "grad": list(map(float, g0)), "label": [f"{x:.3f}" for x in g0]},
        name="ch4-bars",
    )
    curve = ColumnDataSource(
        {"o": list(map(float, values)), "loss": list(map(float, loss[y0]))},
        name="ch4-curve",
    )
    point = ColumnDataSource(
        {"o": [float(values[i0])], "loss": [float(loss[y0, i0])]}, name="ch4-point"
    )
    left = _figure(
        height=250,
        title="loss −log p_y against the true class's logit",
        y_range=Range1d(0, float(loss.max()) * 1.05),
    )
    left.line("o", "loss", source=curve, line_width=2, color=BLUE)
    left.scatter("o", "loss", source=point, size=10, color=VERMILLION)
    left.xaxis.axis_label = "logit of the true class"
    left.yaxis.axis_label = "loss"
    right = _figure(
        height=250,
        x_range=cls,
        y_range=Range1d(-1.1, 1.3),
        title="gradient p − y, entry by entry",
    )
    right.vbar(x="cls", top="grad", width=0.6, color=BLUE, source=bars)
    right.add_layout(
        LabelSet(
            x="cls",
            y=1.1,
            text="label",
            source=bars,
            text_align="center",
            text_font_size="12px",
        )
    )
    right.add_layout(Span(location=0, dimension="width", line_color=GREY))
    slider = CategoricalSlider(
        categories=labels,
        value=labels[i0],
        title=f"true-class logit o{y0 + 1}",
        name="ch4-logit",
        sizing_mode="stretch_width",
    )
    select = Select(
        title="true class y",
        value=str(y0 + 1),
        options=[str(j + 1) for j in range(q)],
        name="ch4-class",
        width=140,
    )
    stats = Div(
        text=(
            f"p{y0 + 1} = {py[y0, i0]:.3f}, loss −log p{y0 + 1} = "
            f"{loss[y0, i0]:.3f}, length of the gradient |p − y| = "
            f"{norm[y0, i0]:.3f}"
        ),
        name="ch4-stats",
        sizing_mode="stretch_width",
    )
    callback = CustomJS(
        args={
            "grid": grid,
            "bars": bars,
            "curve": curve,
            "point": point,
            "slider": slider,
            "select": select,
            "stats": stats,
            "values": list(map(float, values)),
        },
        code=_GRADIENT_JS,
    )
    layout = _two_panels(left, right, stats, select, slider, callback)

    static = _static_figure(8.0, 3.2)
    ax_l, ax_r = static.subplots(1, 2)
    ax_l.plot(values, loss[y0], color=BLUE, linewidth=2)
    ax_l.plot([values[i0]], [loss[y0, i0]], "o", color=VERMILLION)
    ax_l.set_xlabel("logit of the true class")
    ax_l.set_ylabel("loss")
    ax_l.set_title(f"loss −log p_{y0 + 1}, true class {y0 + 1}", fontsize=10)
    ax_r.bar(cls, g0, color=BLUE, width=0.6)
    for j, x in enumerate(g0):
        ax_r.text(j, 1.1, f"{x:.3f}", ha="center")
    ax_r.axhline(0, color=GREY, linewidth=1)
    ax_r.set_ylim(-1.1, 1.3)
    others = ", ".join(f"{v:g}" for v in base)
    ax_r.set_title(
        f"gradient p − y at o{y0 + 1} = {values[i0]:g} (base o = ({others}))",
        fontsize=10,
    )
    static.tight_layout()
    return layout, static


# --- Chapter 7: calibration by temperature --------------------------------------

_CALIBRATION_JS = """
const model = select.options.indexOf(select.value), cats = labels[model];
const shown = slider.categories;
if (shown.join("|") !== cats.join("|")) {
  // Another model, whose grid holds its own T*; keep T if that grid has it.
  // noUiSlider writes aria-valuetext with the categories array the slider was
  // created with (its ariaFormat cannot be updated), so refill that array.
  const same = cats.indexOf(slider.value);
  const at = same >= 0 ? same : shown.indexOf(slider.value);
  shown.splice(0, shown.length, ...cats);
  slider.properties.categories.change.emit();
  slider.value = cats[at];
}
const k = slider.categories.indexOf(slider.value);
const M = nbins, K = ntemps, row = model * K + k;
const g = {...grid.data, ...bins.data}, off = row * M;
const count = g.count.slice(off, off + M);
const keep = [...count.keys()].filter(b => count[b] > 0);
diagram.data = {
  left: keep.map(b => edges[b] + 0.05),
  acc: keep.map(b => g.acc[off + b]),
  conf: keep.map(b => g.conf[off + b]),
  count: keep.map(b => String(Math.round(count[b]))),
};
const s = model * K, e = s + K;
curves.data = {T: g.T.slice(s, e), ece: g.ece.slice(s, e), nll: g.nll.slice(s, e)};
point.data = {T: [g.T[row]], ece: [g.ece[row]], nll: [g.nll[row]]};
fitted.location = g.T[s + fittedAt[model]];
stats.text = `${select.value}, test set: ECE = ${g.ece[row].toFixed(3)}, `
  + `NLL = ${g.nll[row].toFixed(3)}, accuracy ${accuracy[model]} at every T`;
"""


def calibration(
    names, temperatures, fitted_at, count, acc, conf, ece, nll, accuracy, default
):
    """Reliability diagram, ECE and NLL of each model as the temperature moves.

    ``names``: the models; ``temperatures[m, k]``: model m's temperature grid
    (its fitted temperature at ``fitted_at[m]``); ``count``, ``acc``, ``conf``
    ``[m, k, bin]``: the reliability diagram; ``ece``, ``nll`` ``[m, k]``;
    ``accuracy[m]``: the test accuracy (the same at every T); ``default``: (m, k).
    """
    from bokeh.models import (
        CategoricalSlider,
        ColumnDataSource,
        CustomJS,
        Div,
        LabelSet,
        Range1d,
        Select,
        Span,
    )

    n_models, n_temps, n_bins = count.shape
    m0, k0 = (int(i) for i in default)
    edges = np.linspace(0, 1, n_bins + 1)
    grid = ColumnDataSource(
        {
            "T": temperatures.reshape(-1),
            "ece": ece.reshape(-1),
            "nll": nll.reshape(-1),
        },
        name="ch7-grid",
    )
    bins = ColumnDataSource(
        {
            "count": count.reshape(-1).astype(np.int32),
            "acc": acc.reshape(-1),
            "conf": conf.reshape(-1),
        },
        name="ch7-bins",
    )
    keep = count[m0, k0] > 0
    diagram = ColumnDataSource(
        {
            "left": list(edges[:-1][keep] + 0.05),
            "acc": list(acc[m0, k0][keep]),
            "conf": list(conf[m0, k0][keep]),
            "count": [str(int(c)) for c in count[m0, k0][keep]],
        },
        name="ch7-diagram",
    )
    curves = ColumnDataSource(
        {"T": list(temperatures[m0]), "ece": list(ece[m0]), "nll": list(nll[m0])},
        name="ch7-curves",
    )
    point = ColumnDataSource(
        {
            "T": [temperatures[m0, k0]],
            "ece": [ece[m0, k0]],
            "nll": [nll[m0, k0]],
        },
        name="ch7-point",
    )
    left = _figure(
        height=300,
        x_range=Range1d(0, 1),
        y_range=Range1d(0, 1.12),
        title="test set: reliability diagram",
    )
    left.vbar(
        x="left",
        top="acc",
        width=0.1,
        source=diagram,
        color=BLUE,
        line_color="white",
    )
    left.scatter(
        "conf",
        "acc",
        source=diagram,
        size=7,
        color=VERMILLION,
    )
    left.line([0, 1], [0, 1], line_dash="dashed", color=GREY)
    left.add_layout(
        LabelSet(
            x="left",
            y=1.03,
            text="count",
            source=diagram,
            text_align="center",
            text_font_size="11px",
        )
    )
    # the title is drawn on the canvas and clipped, not wrapped: keep it short
    left.xaxis.axis_label = "confidence (dots: each bin's mean)"
    left.yaxis.axis_label = "accuracy in the bin (bars)"
    right = _figure(
        height=300,
        x_axis_type="log",
        y_range=Range1d(0, float(max(ece.max(), nll.max())) * 1.05),
        title="test ECE and NLL against T",
    )
    right.line("T", "nll", source=curves, color=BLUE, line_width=2, legend_label="NLL")
    right.line("T", "ece", source=curves, color=GREEN, line_width=2, legend_label="ECE")
    right.scatter("T", "nll", source=point, size=9, color=VERMILLION)
    right.scatter("T", "ece", source=point, size=9, color=VERMILLION)
    fitted = Span(
        location=float(temperatures[m0, fitted_at[m0]]),
        dimension="height",
        line_dash="dotted",
        line_color=GREY,
        line_width=2,
        name="ch7-fitted",
    )
    right.add_layout(fitted)
    right.legend.location = "top_right"
    right.legend.label_text_font_size = "11px"
    right.xaxis.axis_label = "temperature T (log scale; dotted: fitted T*)"
    # each model's slider positions, its fitted T* marked
    star = " (fitted on the validation split)"
    labels = [
        [f"{T:.3f}{star if k == fitted_at[m] else ''}" for k, T in enumerate(Ts)]
        for m, Ts in enumerate(temperatures)
    ]
    assert all(len(set(Ts)) == n_temps for Ts in labels), labels
    slider = CategoricalSlider(
        categories=labels[m0],
        value=labels[m0][k0],
        title="temperature T",
        name="ch7-T",
        sizing_mode="stretch_width",
    )
    select = Select(
        title="model", value=names[m0], options=list(names), name="ch7-model", width=170
    )
    accuracy_text = [f"{a:.3f}" for a in accuracy]
    stats = Div(
        text=(
            f"{names[m0]}, test set: ECE = {ece[m0, k0]:.3f}, NLL = {nll[m0, k0]:.3f},"
            f" accuracy {accuracy_text[m0]} at every T"
        ),
        name="ch7-stats",
        sizing_mode="stretch_width",
    )
    callback = CustomJS(
        args={
            "grid": grid,
            "bins": bins,
            "diagram": diagram,
            "curves": curves,
            "point": point,
            "fitted": fitted,
            "slider": slider,
            "select": select,
            "stats": stats,
            "nbins": n_bins,
            "ntemps": n_temps,
            "edges": list(map(float, edges)),
            "fittedAt": [int(i) for i in fitted_at],
            "labels": labels,
            "accuracy": accuracy_text,
        },
        code=_CALIBRATION_JS,
    )
    layout = _two_panels(left, right, stats, select, slider, callback)

    from matplotlib.ticker import NullFormatter

    # the grid's ends, with room for rounding (0.2 may be 0.19999999999999998)
    lo, hi = float(temperatures.min()) / 1.001, float(temperatures.max()) * 1.001
    static = _static_figure(8.5, 3.6)
    ax_l, ax_r = static.subplots(1, 2)
    ax_l.bar(
        edges[:-1][keep],
        acc[m0, k0][keep],
        width=0.1,
        align="edge",
        color=BLUE,
        edgecolor="white",
        label="accuracy in bin",
    )
    ax_l.plot(
        conf[m0, k0][keep],
        acc[m0, k0][keep],
        "o",
        color=VERMILLION,
        ms=5,
        label="(confidence, accuracy)",
    )
    ax_l.plot([0, 1], [0, 1], "--", color=GREY)
    ax_l.set_xlim(0, 1)
    ax_l.set_ylim(0, 1.12)
    ax_l.set_xlabel("confidence (dots: each bin's mean)")
    ax_l.set_ylabel("accuracy in the bin (bars)")
    ax_l.set_title(
        f"{names[m0]}, T = {temperatures[m0, k0]:.3f}: ECE {ece[m0, k0]:.3f}",
        fontsize=10,
    )
    ax_r.plot(temperatures[m0], nll[m0], color=BLUE, label="NLL")
    ax_r.plot(temperatures[m0], ece[m0], color=GREEN, label="ECE")
    ax_r.axvline(temperatures[m0, fitted_at[m0]], color=GREY, linestyle=":")
    ax_r.set_xscale("log")
    # labelled round temperatures; Matplotlib's labels of the minor log ticks
    # (3 × 10^-1, 4 × 10^-1, ...) overlap at this width
    ticks = [t for t in (0.1, 0.2, 0.5, 1, 2, 5, 10) if lo <= t <= hi]
    ax_r.set_xticks(ticks, labels=[f"{t:g}" for t in ticks])
    ax_r.xaxis.set_minor_formatter(NullFormatter())
    ax_r.set_xlabel("temperature T (dotted: fitted T*)")
    ax_r.legend(fontsize=8)
    ax_r.set_title("test ECE and NLL against T", fontsize=10)
    static.tight_layout()
    return layout, static
