"""A Sphinx fix for the book's HTML pages, loaded through ``_config.yml``.

Sphinx 7.4 lists an inline script that an extension adds after the builder has
started twice: once with the file name ``None`` and once with ``""``, which it
does not recognise as the same script. sphinx-thebe adds such a script,
``const THEBE_JS_URL = ...``, so every page declared the constant twice and the
browser reported "SyntaxError: Identifier 'THEBE_JS_URL' has already been
declared". This drops the second copy of any script before a page is written.
"""


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen = set()
    unique = []
    for script in scripts:
        key = (
            script.filename or "",
            script.priority,
            tuple(sorted(script.attributes.items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app):
    app.connect("html-page-context", _drop_duplicate_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
