"""``make pdf``: print the whole book to one PDF with headless Chromium.

Usage: ``python scripts/build_pdf.py [OUT]``; ``OUT`` defaults to
``_build/pdf/book.pdf``. The work is done by :mod:`booktools.pdf`.
"""

import sys

from booktools.pdf import DEFAULT_OUT, main

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT)
