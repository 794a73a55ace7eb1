"""The kernel internals that the performance appendix times and demonstrates.

``chapters/performance.ipynb`` times the NumPy calls of one chunk under the
kernels' floating-point settings, times the column sums of the few-class path,
and shows the unshifted softmax that the kernels keep as an option but never use
by default. Those are private parts of :mod:`softmaxlib._kernels`: this module
(with the cold start of :func:`booktools.bench.peak_extra_memory`) is the one
place outside softmaxlib that names them, so the notebook imports only public
names, and a change of the kernels' internals is met here, not in a chapter.
"""

from __future__ import annotations

import contextlib

import numpy as np

from softmaxlib import _kernels

__all__ = ["column_sums", "kernel_settings", "kernel_softmax"]


def kernel_settings() -> contextlib.AbstractContextManager:
    """The settings the kernels run under, as a context manager: floating-point
    warnings off and a small ufunc buffer, both restored on exit."""
    return _kernels._context()


def column_sums(g: np.ndarray, s: np.ndarray) -> None:
    """``s`` = the column sums of ``g`` (q, r), each added in the order in which
    NumPy adds a row of q numbers, as the few-class path does (overwrites ``g``)."""
    _kernels._column_sums(g, s)


def kernel_softmax(x: np.ndarray, out: np.ndarray, *, shift: bool = True) -> None:
    """The chunked softmax kernel on the rows of ``x`` (n, q), into ``out``.

    With ``shift=False``, chunks inside exp's normal range are computed as
    ``exp(x) / sum(exp(x))``, without subtracting the row maximum: faster, but
    no longer bit-for-bit invariant under an exact shift of the logits, which is
    why no public function of softmaxlib uses it.
    """
    _kernels.softmax(x, out, skip_shift=not shift)
