"""Cache-sized kernels behind softmax, log_softmax, logsumexp and cross-entropy.

These operations are memory-bound: the floor is one read of the logits and one
write of the result. The kernels walk the rows in chunks of about
``CHUNK_BYTES`` of input, so that every pass after the first read of a chunk
(max, exp, sum, scale) hits the L2 cache; they work in the output buffer, with
scratch arrays of one chunk at most (cached per thread between calls).

Each row is shifted by its maximum m = x_k (the first one) and

    s = sum_{i != k} exp(x_i - m),   softmax = exp(x - m) / (1 + s),
    log_softmax = (x - m) - log1p(s),   logsumexp = m + log1p(s),

Algorithm 3 of Blanchard, Higham and Higham (2021): the small terms of s are
added among themselves before the 1 of the maximum, and softmax divides (a
multiplication by the reciprocal would be faster but rounds once more). Every
sum is added in the order of NumPy's pairwise sum along the row, so softmax,
log_softmax, logsumexp and the loss give the same bits as the same formula
applied to the whole array at once (tests/lib/test_kernels.py keeps it as their
reference), whatever a row's neighbours, however the rows are cut into
chunks and whatever the layout of the input. (The gradient of a mean loss
divides each row once by ``(1 + s) n`` instead of twice, which can change
its last bit.)

The loss has two kernels. :func:`cross_entropy_index` takes class indices
and gathers one entry per row. :func:`cross_entropy_dense` takes any
effective target rows t (probability targets, label smoothing, class
weights): :class:`DenseTarget` makes the rows of t chunk by chunk, so the
target is never copied whole, and the mean's divisor is folded into t.
Plain probability targets y (no smoothing, no weights) with many classes
need no t at all for the loss: ``log1p(s) sum_j y_j - sum_j y_j d_j`` takes
two row dots (:func:`_row_dot`, BLAS dots added pairwise), which read y
and d without writing anything, before exp overwrites d.

Two layouts, by the number of classes q:

* few classes (``q < SMALL_Q``): a reduction along a short row costs numpy a
  call of its inner loop per row, so each chunk is copied transposed into a
  ``(q, r)`` scratch array, where maxima, sums and per-row scalings become
  operations between rows of length r. The maximum is taken out of s by the
  mask ``x - m < 0`` (ties add 1 each), and the columns are summed pairwise
  (:func:`_column_sums`).
* many classes: row by row, with ``argmax`` for the maximum and ``sum(axis=1)``
  (pairwise) for s.

A per-row scalar broadcast over a chunk (``(r, q)`` by ``(r, 1)``, or ``(q, r)``
by ``(r,)``) goes through numpy's buffered iterator when the chunk is smaller
than the ufunc buffer or ``q < 8192``: that costs up to twice a plain pass and
allocates a buffer of up to 64 KiB per operand, as much as the scratch budget
of a small input. The kernels therefore run with a ufunc buffer of 16
elements. ``np.setbufsize`` is scoped by ``np.errstate`` (a context variable
since NumPy 2.0), so the setting is restored on exit and never reaches the
caller or other threads.

:func:`softmax` also has a ``skip_shift`` mode, not used by the public
functions: where a whole chunk lies in exp's normal range it computes
``exp(x) / sum(exp(x))`` without the maximum, about 1.7 times faster for few
classes. It avoids the rounding of ``x - m`` but puts the largest term into
the rounding of the sum, and it breaks the bit-for-bit invariance of the
result under an exact shift of the logits, which the library promises (and
tests); so it stays an option.
"""

from __future__ import annotations

import contextlib
import math
import threading
from typing import NamedTuple

import numpy as np

__all__ = [
    "CHUNK_BYTES",
    "SMALL_Q",
    "DenseTarget",
    "clear_scratch",
    "cross_entropy_dense",
    "cross_entropy_index",
    "log_softmax",
    "logsumexp",
    "softmax",
]

#: Input bytes per chunk (the chunk, its transposed copy and its output stay in
#: the 2 MiB L2 cache of the machine this was tuned on).
CHUNK_BYTES = 1 << 19
#: Rows of fewer classes are reduced in a transposed copy (the crossover
#: measured: 32 to 64 classes in float64 and float32).
SMALL_Q = 64
#: From ``MEMORY_SIZE`` entries on, the scratch stays below this share of the
#: input's size (the output itself is not scratch).
MEMORY_FRACTION = 0.08
MEMORY_SIZE = 100_000
#: ufunc buffer size inside the kernels (see the module's docstring).
BUFSIZE = 16
#: A row longer than this whose scratch would exceed the budget is summed in
#: blocks of this many entries (with the same result).
ROW_BLOCK = 4096
#: Row dot products (plain probability targets) are BLAS dots of at most this
#: many entries, added in the order of :func:`_pairwise` (see :func:`_row_dot`).
DOT_BLOCK = 1024
#: Scratch arrays up to this size are kept per thread between calls.
POOL_BYTES = 1 << 21

_IGNORE = {"over": "ignore", "under": "ignore", "invalid": "ignore", "divide": "ignore"}


def _chunk_rows(
    n: int, q: int, itemsize: int, scratch_per_row: int, fixed: int = 0
) -> int:
    """Rows per chunk: about CHUNK_BYTES of input, and little scratch memory.

    ``scratch_per_row`` is the scratch (bytes) that the kernel needs per row
    of a chunk, ``fixed`` what it needs whatever the chunk; from MEMORY_SIZE
    entries on the two together are held below MEMORY_FRACTION of the
    input's size.
    """
    rows = max(1, CHUNK_BYTES // (q * itemsize))
    if n * q >= MEMORY_SIZE and scratch_per_row > 0:
        budget = MEMORY_FRACTION * n * q * itemsize - fixed
        rows = min(rows, max(1, int(budget // scratch_per_row)))
    return max(1, min(rows, n))


def _limits(dtype: np.dtype, q: int) -> tuple:
    """(lo, hi): a chunk with lo <= x <= hi may skip the max-shift.

    For lo <= x, exp(x) is a normal number, so it has full relative accuracy;
    for x <= hi, a row sum of q terms stays below max / e.
    """
    fi = np.finfo(dtype)
    one = dtype.type(1)
    return np.log(fi.tiny) + one, np.log(fi.max) - dtype.type(math.log(q)) - one


@contextlib.contextmanager
def _context():
    """Floating-point warnings off (the kernels handle every special value) and
    a ufunc buffer of BUFSIZE elements, both restored on exit.

    ``np.errstate`` holds the buffer size too, in a context variable (NumPy 2),
    so the setting never reaches the caller or another thread.
    """
    with np.errstate(**_IGNORE):
        np.setbufsize(BUFSIZE)
        yield


def accumulator(dtype) -> type:
    """The type the losses of a call are summed in, chunk by chunk: Python's
    float (float64) for float16, float32 and float64, and NumPy's long double
    where it is wider than float64, so that a long double sum or mean keeps
    the long double digits."""
    return np.longdouble if np.dtype(dtype).itemsize > 8 else float


def _rowwise(op, a: np.ndarray, v: np.ndarray, out: np.ndarray) -> None:
    """``out = op(a, v[:, None])`` (under :func:`_context`)."""
    op(a, v[:, np.newaxis], out=out)


_POOL = threading.local()


def clear_scratch() -> None:
    """Release this thread's cached scratch arrays (the benchmark's cold start)."""
    _POOL.__dict__.clear()


class _Scratch:
    """Scratch arrays for the chunks of one call.

    Arrays of up to ``POOL_BYTES`` are cached per thread and reused by later
    calls, which saves allocating and first touching fresh memory each time
    (glibc maps blocks above its mmap threshold afresh); larger ones live for
    the call only.
    """

    def __init__(self, dtype: np.dtype):
        self.dtype = dtype
        self._bufs: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A C-contiguous array of ``shape``; the first request is the largest."""
        size = math.prod(shape)
        buf = self._bufs.get(name)
        if buf is None:
            key = (name, self.dtype.char)
            pool = _POOL.__dict__
            buf = pool.get(key)
            if buf is None or buf.size < size:
                buf = np.empty(size, dtype=self.dtype)
                if buf.nbytes <= POOL_BYTES:
                    pool[key] = buf
            self._bufs[name] = buf
        return buf[:size].reshape(shape)


def _all_finite(v: np.ndarray) -> bool:
    """Whether every entry of ``v`` is finite."""
    return bool(np.isfinite(v).all())


def _as_columns(a: np.ndarray) -> np.ndarray:
    """The memory of a C-contiguous ``(r, q)`` chunk viewed as ``(q, r)``."""
    return a.reshape(a.shape[1], a.shape[0])


# A chunk with few classes is handled transposed, as d = (x - m).T of shape
# (q, r); one with many classes row by row. Both find the row maximum m and the
# sum s of exp(x - m) over all entries but one maximum: the small terms are
# added among themselves, so the 1 of the maximum takes no part in the
# rounding of s (Blanchard, Higham and Higham's s, as in the old kernel).


def _small_shift(xc: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``d = (x - m).T`` (d is ``(q, r)`` scratch); returns the row maxima m."""
    np.copyto(d, xc.T)
    m = d.max(axis=0)
    np.subtract(d, m, out=d)
    return m


def _small_mask(d: np.ndarray, g: np.ndarray, finite: bool) -> bool:
    """``g`` = 1.0 where ``d`` < 0 and at every maximum but the first, 0.0 at the
    first maximum of each column; returns whether any column needed the tie fix.

    ``d`` is ``(q, r)``, ``x - m`` transposed: <= 0, and 0 exactly at the
    maxima. Where the maxima are all finite (``finite``) every column has a
    zero, so as many zeros as columns rules out ties, and only columns with
    ties need their first zero found. Afterwards every column of ``g`` has
    exactly one 0.
    """
    q, r = d.shape
    below = np.less(d, 0)
    ties = not finite or below.size - np.count_nonzero(below) != r
    np.copyto(g, below)
    if ties:  # keep every maximum but the first in the sum
        cols = np.flatnonzero(np.sum(g, axis=0) < q - 1)
        if cols.size:
            sub = np.ones((q, cols.size), dtype=g.dtype)
            sub[g[:, cols].argmin(axis=0), np.arange(cols.size)] = 0
            g[:, cols] = sub
    return ties


def _small_sum(d, e, g, s, finite: bool, target=None):
    """``e = exp(d)`` and ``s`` = its column sums without the first maximum.

    ``d`` is ``(q, r)``, ``x - m`` transposed; ``e`` may be ``d`` itself and
    ``g`` is scratch of the same shape. The mask of :func:`_small_mask` takes
    the maximum out of the sum. The sums are added in NumPy's order
    (_column_sums), so s has the same bits as ``np.sum`` along a row with the
    maximum set to 0.

    With ``target`` (flat indices into d, one per column), the mask at the
    targets is returned: 0.0 where the target is the first maximum, else 1.0;
    or None when every column has a single maximum, all finite: then the
    target is the first maximum exactly where ``d`` is 0 there.
    """
    ties = _small_mask(d, g, finite)
    np.exp(d, out=e)
    mask = None if target is None or not ties else g.reshape(-1)[target]
    np.multiply(e, g, out=g)
    _column_sums(g, s)
    return mask


def _column_sums(g: np.ndarray, s: np.ndarray, acc: np.ndarray | None = None) -> None:
    """``s`` = column sums of ``g`` (q, r) in NumPy's order.

    ``np.sum(g, axis=0)`` would add the rows one after the other, and for one
    column pairwise; here every column is added exactly as NumPy's pairwise
    sum adds a contiguous row of q <= 128 numbers: one by one below 8, else in
    8 interleaved partial sums, combined pairwise, then the remainder. So a
    column gets the bits of ``np.sum`` over the row it came from, whatever r.
    Without ``acc`` the partial sums overwrite ``g``; with it (at least
    ``(min(q, 8), r)``, C-contiguous) ``g`` is left as it was.
    """
    q = g.shape[0]
    if q < 8:
        np.copyto(s, g[0])
        for j in range(1, q):
            np.add(s, g[j], out=s)
        return
    assert q <= 128, "pairwise blocks longer than 128 are split by numpy"
    top = q - q % 8
    if acc is None:
        acc = g
    if top > 8:
        np.add(g[:8], g[8:16], out=acc[:8])
        for i in range(16, top, 8):
            np.add(acc[:8], g[i : i + 8], out=acc[:8])
        np.add(acc[0:8:2], acc[1:8:2], out=acc[0:8:2])
    else:  # the partial sums are g's first rows themselves
        np.add(g[0:8:2], g[1:8:2], out=acc[0:8:2])
    np.add(acc[0:8:4], acc[2:8:4], out=acc[0:8:4])
    np.add(acc[0], acc[4], out=s)
    for i in range(top, q):
        np.add(s, g[i], out=s)


def _large_shift(xc: np.ndarray, d: np.ndarray, starts: np.ndarray):
    """``(at, m)``: flat index and value of the first maximum of each row.

    ``d = x - m`` (C-contiguous, may be ``xc``); ``starts`` are the flat
    indices of the rows' first entries.
    """
    k = xc.argmax(axis=1)  # the first NaN if there is one
    at = starts[: xc.shape[0]] + k
    if xc.flags.c_contiguous:
        m = xc.reshape(-1)[at]
    else:
        m = np.take_along_axis(xc, k[:, np.newaxis], axis=1)[:, 0]
    _rowwise(np.subtract, xc, m, d)
    return at, m


def _large_sum(e: np.ndarray, at: np.ndarray, s: np.ndarray, restore: bool) -> None:
    """``s`` = row sums of ``e`` (C-contiguous) without the entries at ``at``."""
    flat = e.reshape(-1)
    flat[at] = 0
    np.sum(e, axis=1, out=s)
    if restore:
        flat[at] = 1


def _pairwise(lo: int, hi: int, leaf, block: int = ROW_BLOCK):
    """numpy's pairwise sum over ``[lo, hi)``, split where numpy splits it.

    NumPy adds a contiguous run by halving it (the first half a multiple of 8
    long) down to 128 entries; stopping the same recursion at ``block``
    (at least 128) and adding ``leaf(lo, hi)`` (an ``np.sum`` of that piece)
    gives the same bits as ``np.sum`` over the whole run.
    """
    n = hi - lo
    if n <= block:
        return leaf(lo, hi)
    half = n // 2
    half -= half % 8
    return _pairwise(lo, lo + half, leaf, block) + _pairwise(lo + half, hi, leaf, block)


def _row_dot(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """``sum_j a_ij b_ij`` for each row i, or with ``b`` None the row sums
    ``sum_j a_ij``; a and b ``(r, q)`` with contiguous rows.

    Pieces of DOT_BLOCK entries or fewer go to ``np.vecdot`` (a BLAS dot; a
    row sum is a dot with ones, about twice as fast as ``np.sum`` in
    float32), and the pieces' dots are added in :func:`_pairwise`'s order, so
    a row gets the same bits alone or in a batch, whatever the stride between
    rows, and when a long row is itself handled in pieces of a multiple of
    DOT_BLOCK (:func:`_dense_blocked_row`): the recursion depends on lengths
    only.
    """
    q = a.shape[1]
    if b is None:
        ones = _ones(a.dtype)

        def leaf(lo, hi):
            return np.vecdot(a[:, lo:hi], ones[: hi - lo])

    else:

        def leaf(lo, hi):
            return np.vecdot(a[:, lo:hi], b[:, lo:hi])

    return _pairwise(0, q, leaf, DOT_BLOCK)


_ONES: dict = {}


def _ones(dtype: np.dtype) -> np.ndarray:
    """DOT_BLOCK ones of ``dtype`` (made once, read only)."""
    ones = _ONES.get(dtype)
    if ones is None:
        ones = np.ones(DOT_BLOCK, dtype=dtype)
        ones.flags.writeable = False
        ones = _ONES.setdefault(dtype, ones)
    return ones


def _row_exp_sum(row: np.ndarray, m, skip, buf: np.ndarray):
    """``sum(exp(row - m))`` without the entries at ``skip``, a piece of
    ``len(buf)`` (ROW_BLOCK or fewer, at least 128) entries at a time.

    The same bits as the whole-row computation of the chunked kernels, with
    ``buf`` as the only scratch.
    """

    def leaf(lo, hi):
        e = buf[: hi - lo]
        np.subtract(row[lo:hi], m, out=e)
        np.exp(e, out=e)
        for j in skip:
            if lo <= j < hi:
                e[j - lo] = 0
        return np.sum(e)

    return _pairwise(0, row.shape[0], leaf, buf.shape[0])


class _Plan(NamedTuple):
    """How a kernel walks the rows of an ``(n, q)`` input (see :func:`_plan`)."""

    n: int
    q: int
    dtype: np.dtype
    small: bool  # few classes: each chunk is handled transposed
    rows: int  # rows per chunk
    scratch: _Scratch
    starts: np.ndarray  # flat index of each row's first entry in a chunk
    blocked: bool  # one row at a time, summed ROW_BLOCK entries at a time

    def chunks(self, x: np.ndarray):
        """``(a, b, r, x[a:b])`` for every chunk of rows, ``r = b - a``."""
        for a in range(0, self.n, self.rows):
            b = min(a + self.rows, self.n)
            yield a, b, b - a, x[a:b]


def _plan(
    x: np.ndarray,
    small_scratch: int,
    large_scratch: int,
    vectors: int = 12,
    fixed: int = 0,
) -> _Plan:
    """The chunks and scratch of a kernel for ``x``.

    The scratch sizes are in chunk-sized arrays per path, ``vectors`` the
    number of row vectors (of up to 8 bytes an entry) alive at a time,
    ``fixed`` the bytes of scratch that do not depend on the chunk.
    """
    n, q = x.shape
    dt = x.dtype
    small = q < SMALL_Q
    k = small_scratch if small else large_scratch
    # chunk-sized arrays, the boolean mask and the row vectors (some int64)
    per_row = k * q * dt.itemsize + (q if small else 0) + vectors * 8
    rows = _chunk_rows(n, q, dt.itemsize, per_row, fixed)
    # a row too long for the scratch budget is summed in blocks (_row_exp_sum)
    blocked = (
        not small
        and k > 0
        and n * q >= MEMORY_SIZE
        and k * q > MEMORY_FRACTION * n * q
        and q > ROW_BLOCK
    )
    starts = np.arange(0, rows * q, q)
    return _Plan(n, q, dt, small, rows, _Scratch(dt), starts, blocked)


# ----------------------------------------------------------------- softmax


def softmax(x: np.ndarray, out: np.ndarray, *, skip_shift: bool = False) -> None:
    """Softmax of the rows of ``x`` (n, q) into ``out`` (C-contiguous, may be x).

    ``exp(x - m) / (1 + s)``, m the row maximum and s the sum of the other
    exponentials. With ``skip_shift``, chunks inside exp's normal range use
    ``exp(x) / sum(exp(x))`` instead: faster, and without the rounding of
    ``x - m``, but then the result is no longer bit-for-bit invariant under
    an exact shift of the logits, and the largest term takes part in the
    rounding of the sum, so it is not the default.
    """
    plan = _plan(x, 1, 0)
    q, sc = plan.q, plan.scratch
    if skip_shift:
        lo, hi = _limits(plan.dtype, q)
        ones = np.ones(q, dtype=plan.dtype)
    with _context():
        for a, b, r, xc in plan.chunks(x):
            oc = out[a:b]
            s = sc.get("s", (r,))
            if skip_shift and lo <= xc.min() and xc.max() <= hi:  # NaN fails
                np.exp(xc, out=oc)
                np.matmul(oc, ones, out=s)
                with np.errstate():  # short rows: numpy's default buffer is faster
                    np.setbufsize(8192)
                    _rowwise(np.divide, oc, s, oc)
            elif plan.small:
                d = sc.get("t", (q, r))
                m = _small_shift(xc, d)  # x is read: oc is free until the end
                _small_sum(d, d, _as_columns(oc), s, _all_finite(m))
                np.add(s, 1, out=s)
                np.divide(d, s, out=d)
                np.copyto(oc, d.T)
            else:
                at, m = _large_shift(xc, oc, plan.starts)
                np.exp(oc, out=oc)
                _large_sum(oc, at, s, restore=True)
                np.add(s, 1, out=s)
                _rowwise(np.divide, oc, s, oc)
                _nan_rows(oc, m, _all_finite(m))  # +inf: the maximum hid the NaN


# ------------------------------------------------------------- log_softmax


def log_softmax(x: np.ndarray, out: np.ndarray) -> None:
    """log_softmax of the rows of ``x`` (n, q) into ``out`` (C-contiguous, may be x).

    ``(x - m) - log1p(s)``: the dominant entry is ``-log1p(s)``, accurate when
    s is tiny.
    """
    plan = _plan(x, 2, 1)
    q, sc = plan.q, plan.scratch
    with _context():
        for a, b, r, xc in plan.chunks(x):
            oc = out[a:b]
            s = sc.get("s", (r,))
            if plan.small:
                d = sc.get("t", (q, r))
                m = _small_shift(xc, d)
                # x is read: the output chunk holds the exponentials meanwhile
                g = sc.get("g", (q, r))
                _small_sum(d, _as_columns(oc), g, s, _all_finite(m))
                np.log1p(s, out=s)
                np.subtract(d, s, out=d)
                np.copyto(oc, d.T)
            else:
                at, m = _large_shift(xc, oc, plan.starts)
                if plan.blocked:  # one row: d in oc, exp(d) block by block
                    buf = sc.get("e", (ROW_BLOCK,))
                    s[0] = _row_exp_sum(oc[0], 0, (int(at[0]),), buf)
                else:
                    e = sc.get("e", (r, q))
                    np.exp(oc, out=e)
                    _large_sum(e, at, s, restore=False)
                np.log1p(s, out=s)
                _rowwise(np.subtract, oc, s, oc)
                _nan_rows(oc, m, _all_finite(m))  # +inf: the maximum hid the NaN


# --------------------------------------------------------------- logsumexp


def logsumexp(x: np.ndarray, out: np.ndarray) -> None:
    """``m + log1p(s)`` of the rows of ``x`` (n, q) into ``out`` (n,)."""
    plan = _plan(x, 2, 1)
    q, sc = plan.q, plan.scratch
    with _context():
        for a, b, r, xc in plan.chunks(x):
            s = sc.get("s", (r,))
            if plan.small:
                d = sc.get("t", (q, r))
                m = _small_shift(xc, d)
                _small_sum(d, d, sc.get("g", (q, r)), s, _all_finite(m))
            elif plan.blocked:  # one row
                _, m = _blocked_row_sum(xc, s, sc.get("e", (ROW_BLOCK,)))
            else:
                e = sc.get("e", (r, q))
                at, m = _large_shift(xc, e, plan.starts)
                np.exp(e, out=e)
                _large_sum(e, at, s, restore=False)
            oc = out[a:b]
            np.log1p(s, out=s)
            np.add(m, s, out=oc)
            if not _all_finite(m):  # -inf (all masked), +inf, NaN: m says it
                bad = ~np.isfinite(m)
                oc[bad] = m[bad]


# ----------------------------------------------------------- cross-entropy


def _labels(y: np.ndarray, ignore_index: int | None):
    """(y with ignored entries replaced by 0, mask of the kept ones or None)."""
    if ignore_index is None:
        return y, None
    keep = y != ignore_index
    return np.where(keep, y, 0), keep


def _coefficients(y: np.ndarray, keep, weight, dtype: np.dtype):
    """Each example's factor c: its target's class weight, 0 if ignored
    (None when every example counts with weight 1)."""
    if weight is not None:
        c = weight[y]
        if keep is not None:
            c[~keep] = 0
        return c
    return None if keep is None else keep.astype(dtype)


def _blocked_row_sum(xc: np.ndarray, s: np.ndarray, buf: np.ndarray):
    """``(k, m)`` of the one row of ``xc`` (its first maximum and that as a
    view), and ``s[0]`` = the sum of its other exponentials, summed in pieces
    of ``len(buf)``."""
    k = int(xc[0].argmax())  # the first NaN if there is one
    m = xc[:, k]
    s[0] = _row_exp_sum(xc[0], m[0], (k,), buf)
    return k, m


def _nan_rows(out: np.ndarray, m: np.ndarray, finite: bool):
    """NaN in the rows of ``out`` whose maximum m is not finite (+inf or NaN
    in the row, or all -inf); returns their mask, or None if m is finite."""
    if finite:
        return None
    bad = ~np.isfinite(m)
    out[bad] = np.nan
    return bad


def _special_rows(out: np.ndarray, m: np.ndarray, finite: bool, keep):
    """The loss or gradient rows of one chunk that the formula does not give:
    NaN where m is not finite, 0 for ignored examples (``keep`` False)."""
    _nan_rows(out, m, finite)
    if keep is not None:
        out[~keep] = 0


class _Shifted(NamedTuple):
    """One chunk of :func:`cross_entropy_index` after its exponentials."""

    m: np.ndarray  # row maxima
    finite: bool  # whether every m is finite
    dy: np.ndarray  # x_y - m
    e: np.ndarray | None  # exp(x - m), transposed for few classes
    at_max: np.ndarray | None  # whether the target is the first maximum


def _index_small(xc, yc, sc: _Scratch, s, gc, idx, rank) -> _Shifted:
    """Few classes: e = exp(x - m) transposed, ``s`` and the targets' flat
    indices ``idx`` in e (the target of row i is at (y_i, i))."""
    q, r = xc.shape[1], xc.shape[0]
    e = sc.get("t", (q, r))
    m = _small_shift(xc, e)
    finite = _all_finite(m)
    np.multiply(yc, r, out=idx)
    np.add(idx, rank[:r], out=idx)
    dy = e.reshape(-1)[idx]
    g = sc.get("g", (q, r)) if gc is None else _as_columns(gc)
    mask = _small_sum(e, e, g, s, finite, target=idx)
    at_max = np.equal(dy if mask is None else mask, 0)
    return _Shifted(m, finite, dy, e, at_max)


def _index_large(xc, yc, plan: _Plan, s, gc, idx) -> _Shifted:
    """Many classes: e = exp(x - m) row by row (in the gradient's chunk
    ``gc`` if given), ``s`` and the targets' flat indices ``idx`` in e."""
    r = xc.shape[0]
    e = plan.scratch.get("e", (r, plan.q)) if gc is None else gc
    at, m = _large_shift(xc, e, plan.starts)
    np.add(plan.starts[:r], yc, out=idx)
    dy = e.reshape(-1)[idx]
    np.exp(e, out=e)
    _large_sum(e, at, s, restore=True)
    return _Shifted(m, _all_finite(m), dy, e, at == idx)


def _index_blocked(xc, yc, sc: _Scratch, s) -> _Shifted:
    """One row too long for the scratch budget (the loss only): ``s`` summed
    in blocks."""
    k, m = _blocked_row_sum(xc, s, sc.get("e", (ROW_BLOCK,)))
    dy = xc[:, int(yc[0])] - m
    return _Shifted(m, _all_finite(m), dy, None, None)


def _index_loss(s, sh: _Shifted, c, keep, out) -> np.ndarray:
    """``c (log1p(s) - d_y)`` per example, into ``out`` if given; a zero c
    takes an infinite loss to 0, and the rows of :func:`_special_rows`."""
    loss = np.log1p(s) if out is None else np.log1p(s, out=out)
    np.subtract(loss, sh.dy, out=loss)
    if c is not None:
        inf_zero = (c == 0) & (loss == np.inf)
        np.multiply(loss, c, out=loss)
        loss[inf_zero] = 0
    _special_rows(loss, sh.m, sh.finite, keep)
    return loss


def _index_target_entry(e, idx, s, one_s, at_max, c, denom) -> np.ndarray:
    """The gradient at the targets: ``c (p_y - 1) / denom``, with p_y - 1
    computed as ``-s / (1 + s)`` where the target is the first maximum."""
    gy = e.reshape(-1)[idx]
    np.divide(gy, one_s, out=gy)
    np.subtract(gy, 1, out=gy)
    gy_max = np.divide(s, one_s)  # -s / (1 + s), for targets at the maximum
    np.negative(gy_max, out=gy_max)
    np.copyto(gy, gy_max, where=at_max)
    if c is not None:
        np.multiply(gy, c, out=gy)
    np.divide(gy, denom, out=gy)
    return gy


def _index_grad(sh: _Shifted, s, idx, c, denom, keep, gc, small: bool) -> None:
    """The gradient of one chunk into ``gc``: ``e / D`` with
    ``D = (1 + s) denom / c``, and the target entries of
    :func:`_index_target_entry`."""
    one_s = np.add(s, 1)
    gy = _index_target_entry(sh.e, idx, s, one_s, sh.at_max, c, denom)
    big_d = np.multiply(one_s, denom, out=one_s)
    if c is not None:
        np.divide(big_d, c, out=big_d)
    e = sh.e
    if small:
        np.divide(e, big_d, out=e)
        e.reshape(-1)[idx] = gy
        np.copyto(gc, e.T)
    else:
        _rowwise(np.divide, e, big_d, e)
        e.reshape(-1)[idx] = gy
    _special_rows(gc, sh.m, sh.finite, keep)


def cross_entropy_index(
    x: np.ndarray,
    y: np.ndarray,
    *,
    weight: np.ndarray | None,
    ignore_index: int | None,
    denom,
    losses: np.ndarray | None,
    grad: np.ndarray | None,
) -> float | np.longdouble:
    """Cross-entropy with class-index targets, and optionally its gradient.

    ``x`` (n, q) logits, ``y`` (n,) integer targets (valid or ``ignore_index``).
    Per example, with m, s and ``e = exp(x - m)`` as in :func:`log_softmax`,
    ``d_y = x_y - m`` and c the target's class weight (0 if ignored),

        loss = c (log1p(s) - d_y),
        grad = e / D  with  D = (1 + s) denom / c,

    i.e. ``c (softmax - onehot(y)) / denom``, except at the target, where
    ``p_y - 1`` is computed as ``-s / (1 + s)`` if y is the (first) maximum,
    so that it keeps its digits when p_y is close to 1. The loss and the
    target entry are bit for bit those of the unchunked path. Writes the
    per-example losses into ``losses`` and the gradient into ``grad``
    (C-contiguous) when given; returns the sum of the losses, in the type of
    :func:`accumulator`.
    """
    want_grad = grad is not None
    plan = _plan(x, 1 if want_grad else 2, 0 if want_grad else 1, vectors=20)
    rank = np.arange(plan.rows)
    index = np.empty(plan.rows, dtype=np.intp)
    denom = plan.dtype.type(denom)
    acc = accumulator(plan.dtype)
    total = acc(0)
    with _context():
        for a, b, r, xc in plan.chunks(x):
            yc, keep = _labels(y[a:b], ignore_index)
            c = _coefficients(yc, keep, weight, plan.dtype)
            s = plan.scratch.get("s", (r,))
            gc = grad[a:b] if want_grad else None
            idx = index[:r]
            if plan.small:
                sh = _index_small(xc, yc, plan.scratch, s, gc, idx, rank)
            elif plan.blocked:  # the loss only, of one row
                sh = _index_blocked(xc, yc, plan.scratch, s)
            else:
                sh = _index_large(xc, yc, plan, s, gc, idx)
            out = None if losses is None else losses[a:b]
            total += acc(np.add.reduce(_index_loss(s, sh, c, keep, out)))
            if want_grad:
                _index_grad(sh, s, idx, c, denom, keep, gc, plan.small)
    return total


# ------------------------------------- cross-entropy with dense target rows


class DenseTarget:
    """The effective target rows of the general loss, made chunk by chunk.

    Probability targets y, ``(n, q)`` in any layout:
    ``t_i = w * ((1 - eps) * y_i + eps / q)``. Class indices y, ``(n,)``, with
    label smoothing: ``t_i = (1 - eps) w_{y_i} e_{y_i} + (eps / q) w``, and 0
    for an example whose target is ``ignore_index``. ``w`` is all ones when
    ``weight`` is None.

    The rows are divided by ``divisor`` (the mean's divisor, 1 for a sum):
    loss and gradient are linear in t, so the kernel then returns the terms
    of the mean, and no pass over the gradient divides it afterwards. The
    divisor is folded into the scalars ``(1 - eps) / divisor`` and
    ``(eps / q) / divisor``; with divisor 1 the operations, and their order,
    are those of the whole-array formula above. A chunk gets the same
    operations as the whole array would, so it holds the bits of the
    corresponding rows of the whole-array target.
    """

    def __init__(
        self,
        q: int,
        dtype,
        *,
        probs: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        eps: float = 0.0,
        weight: np.ndarray | None = None,
        ignore_index: int | None = None,
        divisor: float = 1.0,
    ):
        if (probs is None) == (labels is None):
            raise ValueError("give either probs or labels")
        self.q = q
        self.dtype = np.dtype(dtype)
        self.probs = probs
        self.labels = labels
        self.weight = weight
        self.ignore_index = None if labels is None else ignore_index
        self.peak = (1 - eps) / divisor  # the factor of y, or at the target class
        self.flat = (eps / q) / divisor  # added to every class
        #: probability targets without smoothing or weights: t = peak * y
        self.plain = probs is not None and not eps and weight is None
        #: whether rows of y must be copied to be contiguous (for _row_dot)
        self.strided = self.plain and q > 1 and probs.strides[1] != self.dtype.itemsize
        self._smooth = None
        #: bytes of scratch held for the whole call (see smooth)
        self.nbytes = 0
        if labels is not None and weight is not None:
            self.nbytes = q * self.dtype.itemsize

    @property
    def smooth(self):
        """The smoothing term of class-index targets: ``flat``, or ``w * flat``
        (made on first use; rows summed in blocks make it block by block)."""
        if self.labels is None or self.weight is None:
            return self.flat
        if self._smooth is None:
            self._smooth = self.weight * self.flat
        return self._smooth

    def _peaks(self, y: np.ndarray):
        """peak * w_y, added to the smoothing term at the target class."""
        if self.weight is None:
            return self.peak * np.ones(y.shape, dtype=self.dtype)
        return self.peak * self.weight[y]

    def fill(self, out: np.ndarray, a: int, b: int, transposed: bool, rank):
        """Rows a:b of t into ``out``: ``(r, q)``, or ``(q, r)`` if ``transposed``.

        ``rank`` is ``arange`` of at least r. Returns the mask of the examples
        that are not ignored, or None when none is.
        """
        w = self.weight
        if self.probs is not None:
            y = self.probs[a:b]
            if transposed:  # copied in the order of out, then scaled in the
                # cache (numpy takes many times as long to write through out.T)
                np.copyto(out, y.T)
                self._affine(out, out, None if w is None else w[:, np.newaxis])
            else:
                self._affine(out, y, w)
            return None
        y, keep = self._labels(a, b)
        r = y.shape[0]
        if self.weight is None:
            out.fill(self.smooth)
        else:
            np.copyto(out, self.smooth[:, np.newaxis] if transposed else self.smooth)
        idx = y * r + rank[:r] if transposed else rank[:r] * self.q + y
        flat = out.reshape(-1)
        flat[idx] += self._peaks(y)
        if keep is not None:
            if transposed:
                out[:, ~keep] = 0
            else:
                out[~keep] = 0
        return keep

    def _labels(self, a: int, b: int):
        """Class indices of rows a:b, ignored ones replaced by 0, and the mask
        of the examples that are not ignored (None when nothing is)."""
        return _labels(self.labels[a:b], self.ignore_index)

    def factor(self, out: np.ndarray, a: int, b: int, transposed: bool, rank):
        """(keep mask or None, the factor u of the loss's terms for rows a:b).

        Plain probability targets (no smoothing, no weights) give y itself,
        without a copy (transposed to ``(q, r)`` if ``transposed``): then
        ``t = peak * y`` and the kernel multiplies the row sums by ``peak``.
        Otherwise the rows of t are filled into ``out`` (see :meth:`fill`).
        """
        if self.plain:
            y = self.probs[a:b]
            return None, (y.T if transposed else y)
        return self.fill(out, a, b, transposed, rank), out

    @property
    def scratch_rows(self) -> int:
        """Chunk-sized scratch arrays that the row-by-row path needs: t is
        made in the array of the loss's terms once the loss is summed, and
        before that only smoothed or weighted probabilities need it, and
        plain ones whose rows are not contiguous (copied for :func:`_row_dot`)."""
        return 2 if self.probs is not None and (not self.plain or self.strided) else 1

    def plain_rows(self, a: int, b: int, scratch, lo: int = 0, hi=None):
        """Rows a:b, columns lo:hi of plain probability targets y, with
        contiguous rows: y itself, or its copy in ``scratch``."""
        y = self.probs[a:b, lo : self.q if hi is None else hi]
        if not self.strided:
            return y
        out = scratch[: y.size].reshape(y.shape)
        np.copyto(out, y)
        return out

    def terms(self, p: np.ndarray, a: int, b: int, rank, scratch, lo=0, hi=None):
        """``p *= t`` for rows a:b and columns lo:hi, ``p`` ``(r, hi - lo)``
        C-contiguous; returns the keep mask.

        Plain probabilities multiply by y itself (the kernel scales the row
        sums by ``peak``); smoothed class indices by the smoothing term and
        then, at the target, by the target's entry of t (the bits of the
        full product); other targets fill t into ``scratch`` first (all
        columns, or with ``hi``, one row's columns lo:hi).
        """
        hi = self.q if hi is None else hi
        if self.plain:
            np.multiply(p, self.probs[a:b, lo:hi], out=p)
            return None
        if self.labels is None:
            if hi - lo == self.q:
                self.fill(scratch, a, b, False, rank)
            else:
                self.fill_segment(scratch[0], a, lo, hi)
            np.multiply(p, scratch, out=p)
            return None
        y, keep = self._labels(a, b)
        inside = (lo <= y) & (y < hi)
        rows = rank[: y.shape[0]]
        idx = rows * (hi - lo) + (y - lo)
        if not inside.all():
            idx = idx[inside]
            y = y[inside]
        flat = p.reshape(-1)
        at_y = flat[idx]
        if self.weight is None:
            np.multiply(p, self.flat, out=p)
        elif hi - lo == self.q:
            np.multiply(p, self.smooth, out=p)
        else:  # a block of a long row: the block of w * flat
            np.multiply(p, self.weight[lo:hi] * self.flat, out=p)
        ty = self.flat if self.weight is None else self.weight[y] * self.flat
        ty = np.add(ty, self._peaks(y))  # t_y, as fill makes it
        np.multiply(at_y, ty, out=at_y)
        flat[idx] = at_y
        return keep  # (the terms of ignored examples are not used)

    def kept(self, i: int) -> bool:
        """Whether example i counts (its target is not ``ignore_index``)."""
        return self.ignore_index is None or self.labels[i] != self.ignore_index

    def _affine(self, out: np.ndarray, y: np.ndarray, w) -> None:
        """out = (peak * y + flat) * w for probability targets y (out may be y)."""
        if self.peak != 1:
            np.multiply(y, self.peak, out=out)
        elif out is not y:
            np.copyto(out, y)
        if self.flat:
            np.add(out, self.flat, out=out)
        if w is not None:
            np.multiply(out, w, out=out)

    def fill_segment(self, out: np.ndarray, i: int, lo: int, hi: int) -> None:
        """Entries lo:hi of row i of t (an example not ignored) into ``out``."""
        w = self.weight
        if self.probs is not None:
            self._affine(out, self.probs[i, lo:hi], None if w is None else w[lo:hi])
            return
        if self.weight is None:
            out.fill(self.flat)
        else:
            np.multiply(self.weight[lo:hi], self.flat, out=out)
        y = self.labels[i : i + 1]
        if lo <= y[0] < hi:
            out[y[0] - lo] += self._peaks(y)[0]


def _masked_terms_as_zero(loss, m, terms) -> None:
    """Redo the sums that came out NaN in a row whose maximum m is finite,
    taking the NaN terms (0 times inf: a masked class with zero target) as 0.

    ``terms(at)`` gives the terms of the rows ``at``, ``(len(at), q)``.
    """
    fix = np.isnan(loss)
    fix &= np.isfinite(m)
    at = np.flatnonzero(fix)
    if at.size:
        sub = np.ascontiguousarray(terms(at))  # summed along rows as numpy does
        sub[np.isnan(sub)] = 0
        loss[at] = np.sum(sub, axis=1)


def _dense_grad_factors(rest, tk, s):
    """(T / (1 + s), (rest - t_k s) / (1 + s)) with T = rest + t_k: the
    factor of e, and the gradient entry at the first maximum k."""
    one_s = np.add(s, 1)
    f = np.add(rest, tk)
    np.divide(f, one_s, out=f)
    gk = np.multiply(tk, s)
    np.subtract(rest, gk, out=gk)
    np.divide(gk, one_s, out=gk)
    return f, gk


#: Row vectors alive at a time in cross_entropy_dense (see _plan).
VECTORS = 12


class _DensePlan(NamedTuple):
    """The chunks of :func:`cross_entropy_dense` (see :func:`_dense_plan`)."""

    plan: _Plan
    k: int  # chunk-sized arrays of the row-by-row path
    spare: bool  # the loss alone holds its exponentials in an array of their own


def _dense_plan(x: np.ndarray, target: DenseTarget) -> _DensePlan:
    """:func:`_plan` for :func:`cross_entropy_dense`, the number k of
    chunk-sized arrays of its row-by-row path, and whether the loss without
    the gradient may hold its exponentials in one more array (when that does
    not make the chunks smaller; else they go into d, and d is made again
    from x). The transposed path takes two arrays."""
    k = target.scratch_rows
    plan = _plan(x, 2, k, vectors=VECTORS, fixed=target.nbytes)
    n, q, dt, rows = plan.n, plan.q, plan.dtype, plan.rows
    if not plan.small and not plan.blocked and target.nbytes and q > ROW_BLOCK:
        # a row of scratch and the smoothing vector over the budget: blocks
        budget = MEMORY_FRACTION * n * q * dt.itemsize
        if n * q >= MEMORY_SIZE and k * q * dt.itemsize + target.nbytes > budget:
            plan = plan._replace(blocked=True)
    spare = k == 2
    if not spare:  # k + 1 arrays of as many rows within the budget
        per_row = (k + 1) * q * dt.itemsize + VECTORS * 8
        budget = MEMORY_FRACTION * n * q * dt.itemsize - target.nbytes
        spare = rows == _chunk_rows(n, q, dt.itemsize, per_row, target.nbytes) and (
            n * q < MEMORY_SIZE or rows * per_row <= budget
        )
    return _DensePlan(plan, k, spare)


class _DenseChunk(NamedTuple):
    """One chunk of :func:`cross_entropy_dense` after its loss."""

    m: np.ndarray  # row maxima
    finite: bool  # whether every m is finite
    kpos: np.ndarray  # flat indices of the first maxima in e, d and t
    e: np.ndarray  # exp(x - m), transposed for few classes
    d: np.ndarray  # scratch of e's shape, free for the gradient
    t: np.ndarray | None  # scratch of e's shape for t (few classes)
    keep: np.ndarray | None  # the examples that are not ignored


def _first_maxima(g: np.ndarray, r: int, rank) -> np.ndarray:
    """Flat indices in a ``(q, r)`` array of the first maxima of its columns,
    from the mask g of :func:`_small_mask` (0 at the first maximum only):
    the row of column i is ``q(q-1)/2 - sum_j j g_ji``."""
    q = g.shape[0]
    ar = np.arange(q, dtype=g.dtype)
    kpos = np.matmul(ar, g)
    np.subtract(g.dtype.type(q * (q - 1) // 2), kpos, out=kpos)
    kpos = kpos.astype(np.intp)
    np.multiply(kpos, r, out=kpos)
    np.add(kpos, rank[:r], out=kpos)
    return kpos


def _dense_small(xc, target, a, b, sc: _Scratch, s, loss, gc, rank) -> _DenseChunk:
    """Few classes, transposed ``(q, r)`` (example i in column i): the loss
    of rows a:b into ``loss``, and what the gradient needs."""
    r, q = xc.shape
    d = sc.get("d", (q, r))
    t = sc.get("t", (q, r))
    # the mask and e in gc's memory, or in t until t is filled
    g = t if gc is None else _as_columns(gc)
    m = _small_shift(xc, d)
    finite = _all_finite(m)
    _small_mask(d, g, finite)
    kpos = _first_maxima(g, r, rank)
    e = np.exp(d, out=g)
    e.reshape(-1)[kpos] = 0  # out of the sum: the bits of _small_sum
    _column_sums(e, s, acc=None if gc is None else t)
    ls = np.log1p(s)
    keep, u = target.factor(t, a, b, True, rank)
    np.subtract(ls, d, out=d)  # -log_softmax
    np.multiply(d, u, out=d)
    _column_sums(d, loss)
    if np.isnan(loss).any():  # d is summed: recomputed
        _masked_terms_as_zero(
            loss,
            m,
            lambda at: ((ls[at] - (xc[at] - m[at, np.newaxis]).T) * u[:, at]).T,
        )
    return _DenseChunk(m, finite, kpos, e, d, t, keep)


def _dense_large(xc, target, a, b, dp: _DensePlan, s, loss, gc, rank) -> _DenseChunk:
    """Many classes, row by row ``(r, q)``: the loss of rows a:b into
    ``loss``, and what the gradient needs."""
    r, q = xc.shape
    sc = dp.plan.scratch
    d = sc.get("d", (r, q))
    kpos, m = _large_shift(xc, d, dp.plan.starts)
    if target.plain:
        return _plain_large(xc, target, a, b, sc, d, kpos, m, s, loss, gc)
    if gc is not None:
        e = gc
    elif dp.spare:
        e = sc.get("t", (r, q))
    else:
        e = d
    np.exp(d, out=e)
    _large_sum(e, kpos, s, restore=False)
    ls = np.log1p(s)
    if e is d:  # d again, with the same bits
        _rowwise(np.subtract, xc, m, d)
    np.subtract(ls[:, np.newaxis], d, out=d)  # -log_softmax
    t = sc.get("t", (r, q)) if dp.k == 2 else None
    keep = target.terms(d, a, b, rank, t)
    np.add.reduce(d, axis=1, out=loss)
    if np.isnan(loss).any():
        _masked_terms_as_zero(loss, m, lambda at: d[at])
    return _DenseChunk(m, _all_finite(m), kpos, e, d, None, keep)


def _plain_large(xc, target, a, b, sc: _Scratch, d, kpos, m, s, loss, gc):
    """:func:`_dense_large` for plain probability targets y (t = peak y):

        loss / peak = log1p(s) T - sum_j y_j d_j,   T = sum_j y_j,

    two terms >= 0 (no cancellation), both sums by :func:`_row_dot`, the dot
    taken from d before exp overwrites it: two passes that only read, where
    the general path has three that write (``log1p(s) - d``, its product with
    t, and d made again from x when e had to go into d)."""
    r, q = xc.shape
    y = target.plain_rows(a, b, sc.get("t", (r, q)) if target.strided else None)
    dot = _row_dot(d, y)
    total = _row_dot(y)
    e = d if gc is None else gc
    np.exp(d, out=e)
    _large_sum(e, kpos, s, restore=False)
    ls = np.log1p(s)
    np.multiply(ls, total, out=loss)
    np.subtract(loss, dot, out=loss)
    if np.isnan(loss).any():  # 0 * -inf: terms again, with 0 for them

        def terms(at):
            return (ls[at, np.newaxis] - (xc[at] - m[at, np.newaxis])) * y[at]

        _masked_terms_as_zero(loss, m, terms)
    return _DenseChunk(m, _all_finite(m), kpos, e, d, None, None)


def _dense_grad(ch: _DenseChunk, target, a, b, sc: _Scratch, s, gc, rank) -> None:
    """The gradient of rows a:b into ``gc``: ``e T / (1 + s) - t``, and
    ``(rest - t_k s) / (1 + s)`` at the first maximum k."""
    small = ch.t is not None
    if not small:  # d is free: t goes there
        t = ch.d
        target.fill(t, a, b, False, rank)
    else:
        t = ch.t
        if target.plain:  # the loss used y itself
            target.fill(t, a, b, True, rank)
    tflat = t.reshape(-1)
    tk = tflat[ch.kpos]
    tflat[ch.kpos] = 0
    rest = sc.get("rest", (gc.shape[0],))
    if small:
        _column_sums(t, rest, acc=ch.d)
        f, gk = _dense_grad_factors(rest, tk, s)
        np.multiply(ch.e, f, out=ch.d)  # e is in gc's memory: into d first
        np.subtract(ch.d, t, out=ch.d)
        ch.d.reshape(-1)[ch.kpos] = gk
        np.copyto(gc, ch.d.T)
    else:
        if target.plain:  # summed as _plain_large sums y
            np.copyto(rest, _row_dot(t))
        else:
            np.add.reduce(t, axis=1, out=rest)
        f, gk = _dense_grad_factors(rest, tk, s)
        _rowwise(np.multiply, ch.e, f, ch.e)
        np.subtract(ch.e, t, out=ch.e)
        ch.e.reshape(-1)[ch.kpos] = gk
    _special_rows(gc, ch.m, ch.finite, ch.keep)


def _scale_plain(loss: np.ndarray, target) -> None:
    """``loss *= peak`` where the loss used plain probability targets y
    themselves for ``t = peak y``."""
    if target.plain and target.peak != 1:
        np.multiply(loss, target.peak, out=loss)


def cross_entropy_dense(
    x: np.ndarray,
    target: DenseTarget,
    *,
    losses: np.ndarray | None,
    grad: np.ndarray | None,
) -> float | np.longdouble:
    """Cross-entropy with dense target rows t (:class:`DenseTarget`), and
    optionally its gradient.

    ``x`` (n, q) logits. Per example, with m, s and ``d = x - m`` as in
    :func:`log_softmax`, ``e = exp(d)`` and k the first maximum,

        loss = sum_j t_j (log1p(s) - d_j),
        grad = e T / (1 + s) - t,   at k: (rest - t_k s) / (1 + s),

    with rest = sum_{j != k} t_j and T = rest + t_k; for plain probability
    targets y (t = peak y) and q >= SMALL_Q the loss is
    ``peak (log1p(s) sum_j y_j - sum_j y_j d_j)``, two terms >= 0. A term of
    the loss with t_j = 0 is 0 even if d_j = -inf (a masked class), and the
    entry of the gradient at the maximum keeps its digits when p_k is close
    to 1. Every sum runs along a row in NumPy's pairwise order (or, for
    plain probability targets with many classes, :func:`_row_dot`'s, which
    is as independent of the layout) and every other operation is
    elementwise, so each example gets the same bits whatever the layout of
    x and of the targets, however the rows are cut into chunks, and with or
    without the gradient; the loss has the bits of the whole-array formula.
    A row with NaN or +inf gives NaN loss and gradient; an ignored example
    gives 0 for both. Writes the per-example losses into ``losses`` and the
    gradient into ``grad`` (C-contiguous) when given; returns the sum of the
    losses.
    """
    # The same chunks with and without the gradient, so that the sum of the
    # losses has the same bits in cross_entropy and cross_entropy_and_grad.
    dp = _dense_plan(x, target)
    plan, sc = dp.plan, dp.plan.scratch
    if plan.blocked:
        with _context():
            return _dense_blocked(x, target, losses, grad, sc)
    rank = np.arange(plan.rows)
    acc = accumulator(plan.dtype)
    total = acc(0)
    with _context():
        for a, b, r, xc in plan.chunks(x):
            gc = None if grad is None else grad[a:b]
            s = sc.get("s", (r,))
            loss = sc.get("loss", (r,)) if losses is None else losses[a:b]
            if plan.small:
                ch = _dense_small(xc, target, a, b, sc, s, loss, gc, rank)
            else:
                ch = _dense_large(xc, target, a, b, dp, s, loss, gc, rank)
            _scale_plain(loss, target)
            _special_rows(loss, ch.m, ch.finite, ch.keep)
            total += acc(np.add.reduce(loss))
            if gc is not None:
                _dense_grad(ch, target, a, b, sc, s, gc, rank)
    return total


def _dense_blocked(x, target, losses, grad, sc) -> float | np.longdouble:
    """:func:`cross_entropy_dense` one row at a time, a piece of ROW_BLOCK / k
    entries at a time in k arrays (rows too long for the scratch budget),
    with the same bits: every sum is split where numpy's pairwise sum splits
    it (:func:`_pairwise`)."""
    k = target.scratch_rows  # pieces of ROW_BLOCK / k entries in k arrays
    block = ROW_BLOCK // k
    bd = sc.get("bd", (block,))
    bt = sc.get("bt", (block,)) if k == 2 else None
    acc = accumulator(x.dtype)
    total = acc(0)
    for i in range(x.shape[0]):
        out = np.empty(1, dtype=x.dtype) if losses is None else losses[i : i + 1]
        g = None if grad is None else grad[i]
        if not target.kept(i):
            out[0] = 0
            if g is not None:
                g[:] = 0
            continue
        total += acc(_dense_blocked_row(x[i : i + 1], i, target, out, g, bd, bt))
    return total


def _dense_blocked_row(row, i, target, out, g, bd, bt) -> np.floating:
    """Loss (into ``out``, returned) and gradient (into ``g`` if given) of
    example i, whose logits ``row`` are ``(1, q)``, in pieces of ``len(bd)``."""
    s = np.empty(1, dtype=row.dtype)
    k, m = _blocked_row_sum(row, s, bd)
    finite = bool(np.isfinite(m[0]))
    ls = np.log1p(s)
    rank = np.zeros(1, dtype=np.intp)

    def leaf(lo, hi):
        p = bd[: hi - lo].reshape(1, -1)
        np.subtract(row[:, lo:hi], m, out=p)
        np.subtract(ls, p, out=p)
        t = None if bt is None else bt[: hi - lo].reshape(1, -1)
        target.terms(p, i, i + 1, rank, t, lo, hi)
        loss = np.add.reduce(p, axis=None)
        if finite and np.isnan(loss):  # 0 * inf: a masked class, zero target
            p[np.isnan(p)] = 0
            loss = np.add.reduce(p, axis=None)
        target.fill_segment(p[0], i, lo, hi)  # t, for rest
        if lo <= k < hi:
            p[0, k - lo] = 0
        return np.array([loss, np.add.reduce(p, axis=None)], dtype=row.dtype)

    def plain_leaf(lo, hi):  # (T, sum_j y_j d_j, rest) as _plain_large has them
        p = bd[: hi - lo].reshape(1, -1)
        np.subtract(row[:, lo:hi], m, out=p)
        y = target.plain_rows(i, i + 1, bt, lo, hi)
        dot = _row_dot(p, y)[0]
        np.multiply(y, target.peak, out=p)  # t, as fill makes it
        if lo <= k < hi:
            p[0, k - lo] = 0
        sums = [_row_dot(y)[0], dot, _row_dot(p)[0]]
        return np.array(sums, dtype=row.dtype)

    if target.plain:
        total, dot, rest = _pairwise(0, row.shape[1], plain_leaf, bd.shape[0])
        np.subtract(np.multiply(ls, total), dot, out=out)
        if finite and np.isnan(out[0]):
            out[0] = _pairwise(0, row.shape[1], leaf, bd.shape[0])[0]
    else:
        out[0], rest = _pairwise(0, row.shape[1], leaf, bd.shape[0])
    _scale_plain(out, target)
    _nan_rows(out, m, finite)
    if g is not None:
        if finite:
            _dense_blocked_grad(row[0], i, k, m, s, rest, target, g, bd)
        else:
            g[:] = np.nan
    return np.add.reduce(out)


def _dense_blocked_grad(row, i, k, m, s, rest, target, g, buf) -> None:
    """The gradient of example i (finite logits ``row``, first maximum m at
    k) into ``g``, a piece of ``len(buf)`` entries at a time."""
    q, block = row.shape[0], buf.shape[0]
    tk = np.empty(1, dtype=row.dtype)
    target.fill_segment(tk, i, k, k + 1)
    f, gk = _dense_grad_factors(rest[np.newaxis], tk, s)
    for lo in range(0, q, block):
        hi = min(lo + block, q)
        gb, tt = g[lo:hi], buf[: hi - lo]
        np.subtract(row[lo:hi], m, out=gb)
        np.exp(gb, out=gb)
        np.multiply(gb, f, out=gb)
        target.fill_segment(tt, i, lo, hi)
        np.subtract(gb, tt, out=gb)
    g[k] = gk[0]
