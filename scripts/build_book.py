"""``make book``: build the HTML book into ``_build/html``, warnings as errors.

Every page is rewritten when any file changed since the last build (see
:func:`booktools.book.build_html`).
"""

import sys

from booktools.book import HTML, build_html


def main() -> None:
    result = build_html(capture=False)
    if result.returncode != 0:
        sys.exit(f"the book build failed (exit {result.returncode})")
    print(f"Open {HTML / 'index.html'}")


if __name__ == "__main__":
    main()
