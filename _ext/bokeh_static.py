"""BokehJS for the interactive figures, served by the built site, once.

A chapter's interactive figure (``booktools.interactive``) carries its data and
a short script, but not the library that draws it. This extension copies
``bokeh.min.js`` and ``bokeh-widgets.min.js`` from the installed Bokeh wheel
(pinned in requirements.lock) into ``_bokeh/`` at the root of the HTML site and
adds them, as two ``<script defer>`` tags, to the pages that hold such a
figure, with a third of our own, ``bokeh_a11y.js``, which gives the sliders'
handles their titles as accessible names. Nothing is fetched from a CDN,
nothing third-party is committed, and the files sit outside ``_static/``, whose
every ``.js`` Jupyter Book would add to every page. BokehJS's file names carry
Bokeh's version, so a browser never mixes a cached copy with figures written
for another one.
"""

import pathlib
import shutil

FOLDER = "_bokeh"
FILES = ("bokeh.min.js", "bokeh-widgets.min.js")
# ours, beside BokehJS: names the sliders' handles for screen readers
A11Y = pathlib.Path(__file__).with_name("bokeh_a11y.js")
MARKER = "data-bokeh-figure"  # booktools.interactive.MARKER
# The builders that render the figures (BokehRenderPlugin.mime_priority_overrides);
# singlehtml, the PDF's, shows their PNG stills and needs no BokehJS.
BUILDERS = ("html", "dirhtml")


def _source() -> tuple[str, pathlib.Path]:
    import bokeh

    return bokeh.__version__, pathlib.Path(bokeh.__file__).parent / "server/static/js"


def _served_name(version: str, name: str) -> str:
    return name.replace(".min.js", f"-{version}.min.js")


def _has_figure(doctree) -> bool:
    from docutils import nodes

    return any(MARKER in node.astext() for node in doctree.findall(nodes.raw))


def _add_scripts(app, pagename, templatename, context, doctree):
    if doctree is None or not _has_figure(doctree):
        return
    version, _ = _source()
    for name in FILES:
        # Sphinx puts "_static/" in front; "../" steps back out of it.
        app.add_js_file(f"../{FOLDER}/{_served_name(version, name)}", defer="defer")
    app.add_js_file(f"../{FOLDER}/{A11Y.name}", defer="defer")


def _copy_files(app, exception):
    if exception is not None or app.builder.name not in BUILDERS:
        return
    version, folder = _source()
    target = pathlib.Path(app.outdir) / FOLDER
    target.mkdir(exist_ok=True)
    for name in FILES:
        shutil.copyfile(folder / name, target / _served_name(version, name))
    shutil.copyfile(A11Y, target / A11Y.name)


def setup(app):
    app.connect("html-page-context", _add_scripts)
    app.connect("build-finished", _copy_files)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
