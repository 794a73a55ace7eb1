"""The book's own tooling, kept out of the ``softmaxlib`` wheel.

- :mod:`booktools.bench`: the timing and memory harness of ``make bench`` and of
  the performance appendix.
- :mod:`booktools.kernels`: the kernel internals the performance appendix times
  and demonstrates (the only module here that reaches into private softmaxlib
  names besides the harness's cold start).
- :mod:`booktools.book`: the book's files in ``_toc.yml`` order, the HTML build,
  Chromium and a local web server, shared by the scripts and the built-book tests.
- :mod:`booktools.pdf`: the single-page build printed to PDF (``make pdf``).

Nothing is imported here, so that ``booktools.bench`` loads where only NumPy and
softmaxlib are installed (``make test-oldest``).
"""
