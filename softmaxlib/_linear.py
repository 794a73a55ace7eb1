"""The cross-entropy of ``X W + b`` without the ``n x V`` logits matrix.

For n examples with features X (n, d), a weight matrix W (d, V) over V
classes and a bias b (V,), the loss of :func:`cross_entropy` is taken of
the logits ``O = X W + b``. With a large vocabulary O dominates the memory
(n = 8192 tokens and V = 128k classes make 4 GiB in float32), and the
gradient ``G = dL/dO`` is as large again. Both are needed only block by
block:

* **row blocks**: r rows of O at a time, ``O_r = X_r W + b`` in one buffer
  that is reused for every block; the loss kernels of :mod:`._kernels` turn
  it into ``G_r`` (in place for class-index targets), then
  ``dX_r = G_r W^T`` and ``dW += X_r^T G_r``. The same three matrix products
  and the same ``exp`` pass as the materialised computation.
* **column blocks** (the online normaliser of Milakov and Gimelshein): c
  classes at a time, ``O_c = X W_c + b_c``, while each row carries its
  running maximum m, the sum t of the other exponentials relative to it
  (``logsumexp = m + log1p(t)``, as in the kernels) and, for dense targets,
  the sums that the loss and the gradient need; a second sweep recomputes
  each block of logits for ``dW_c = X^T G_c`` and ``dX += G_c W_c^T``. One
  more matrix product and one more ``exp`` pass than the rows.

The strategy is chosen by a memory budget (see :func:`linear_cross_entropy`).
Every argument is checked by the same code as for :func:`cross_entropy`
(``_loss._problem``, given a zero-stride stand-in for the logits), so the
checks and their messages are the same, and the special values (ignored
examples, masked classes, NaN and infinite logits, a zero divisor of the
mean) get the same treatment: where the column sweep cannot settle a row
by its running sums, the row's logits (one row, V entries) are made again
and handed to the kernels.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _kernels
from ._docs import fill_doc
from ._loss import _evaluate, _index_divisor, _Problem, _problem
from ._validation import as_float_array, as_int, first_position

__all__ = ["linear_cross_entropy", "linear_cross_entropy_and_grad", "logsumexp_merge"]

#: Default memory budget in bytes: the blocks of logits (and of their
#: gradient or targets) stay within it.
MEMORY_BUDGET = 1 << 25
#: Row blocks are chosen when at least this many rows (or all n) fit the
#: budget; fewer would make the accumulation ``dW += X_r^T G_r`` (a pass over
#: all of dW per block) cost more than the matrix products.
MIN_ROWS = 128
#: Column blocks take all n rows at once when a block of at least this many
#: classes fits the budget; otherwise the rows are cut into tiles too.
MIN_COLUMNS = 256
#: The accumulations (``dW += X_r^T G_r``, ``dX += G_c W_c^T``) go through
#: temporaries of up to 1 / PIECE_SHARE of the budget; the blocks of logits
#: get the rest. Each row block adds a pass over all of dW, so the larger
#: the blocks the fewer the passes: with a quarter of the budget for the
#: temporaries instead of a sixteenth, float64 row blocks (96 rows instead of
#: 120 at V = 32768) took about 10% longer in all, and the pieces' products
#: were no faster for being larger.
PIECE_SHARE = 16

STRATEGIES = ("rows", "columns")


# ----------------------------------------------------------------- the merge


def logsumexp_merge(m1, s1, m2, s2):
    r"""Merge two partial log-sum-exps given as (maximum, scaled sum) pairs.

    A row x split into two disjoint pieces (column blocks of the logits, or
    the classes held by two devices) has, for each piece, its maximum
    :math:`m_i` and the sum :math:`s_i = \sum_{j \in \text{piece } i}
    \exp(x_j - m_i)`. This returns the pair of the union, so that
    ``m + log(s)`` is the log-sum-exp of the whole row. The merge is
    associative and commutative: pieces can be combined in any order, as a
    tree all-reduce over devices combines them.

    Parameters
    ----------
    m1, s1 : array_like
        Maximum and sum of the first piece (for an empty piece, or one of
        only :math:`-\infty`, :math:`m = -\infty` and :math:`s = 0`).
    m2, s2 : array_like
        The same for the second piece. The four arrays are broadcast
        together, so each may hold one entry per row.

    Returns
    -------
    m : numpy.ndarray or numpy scalar
        :math:`\max(m_1, m_2)`.
    s : numpy.ndarray or numpy scalar
        :math:`s_1 e^{m_1 - m} + s_2 e^{m_2 - m}`.

    Raises
    ------
    TypeError
        If an argument is complex, object or string.
    ValueError
        If the arrays do not broadcast together, or if ``s1`` or ``s2``
        has a negative entry (the message gives the value and its
        position).

    See Also
    --------
    logsumexp : The log-sum-exp of a whole row.
    linear_cross_entropy : The loss whose column blocks are merged this way.

    Notes
    -----
    With :math:`m = \max(m_1, m_2)`,

    .. math::

        (m_1, s_1) \oplus (m_2, s_2)
        = \bigl(m,\; s_1 e^{m_1 - m} + s_2 e^{m_2 - m}\bigr),

    and the merged pair gives the log-sum-exp of the union,

    .. math::

        m + \log s = \log\bigl(e^{m_1} s_1 + e^{m_2} s_2\bigr),

    since :math:`e^{m} s = e^{m_1} s_1 + e^{m_2} s_2`. Both
    exponents are at most 0, so nothing overflows, as in the max-shift of
    :func:`logsumexp` (Milakov and Gimelshein 2018; FlashAttention, Dao et
    al. 2022, carries the same pair through its blocks of keys). The
    factor of the piece that holds the maximum is exactly 1 (taken as 1
    also when :math:`m_1 = m_2 = \pm\infty`, so that merging with an empty
    piece changes nothing and an infinite maximum stays as it is); a NaN
    in :math:`m_1` or :math:`m_2` gives NaN.

    Merging the pairs of shards costs two numbers per row, whatever the
    number of classes: this is what a vocabulary-parallel cross-entropy
    (Megatron-LM, Shoeybi et al. 2019) sends between devices.

    References
    ----------
    Milakov, M. and Gimelshein, N. (2018). Online normalizer calculation
    for softmax. arXiv:1805.02867.

    Dao, T., Fu, D. Y., Ermon, S., Rudra, A. and Ré, C. (2022).
    FlashAttention: fast and memory-efficient exact attention with
    IO-awareness. *Advances in Neural Information Processing Systems* 35.

    Shoeybi, M., Patwary, M., Puri, R., LeGresley, P., Casper, J. and
    Catanzaro, B. (2019). Megatron-LM: training multi-billion parameter
    language models using model parallelism. arXiv:1909.08053.

    Examples
    --------
    >>> import numpy as np
    >>> import softmaxlib as sm
    >>> x = np.array([[1.0, 5.0, -2.0, 3.0], [0.5, -1.0, 4.0, 4.0]])
    >>> def pair(piece):
    ...     m = piece.max(axis=-1)
    ...     return m, np.exp(piece - m[:, np.newaxis]).sum(axis=-1)
    >>> m, s = sm.logsumexp_merge(*pair(x[:, :2]), *pair(x[:, 2:]))
    >>> print(m + np.log(s))
    [5.14372175 4.71144639]
    >>> print(sm.logsumexp(x))
    [5.14372175 4.71144639]

    An empty piece, :math:`(-\infty, 0)`, is the identity:

    >>> print(sm.logsumexp_merge(2.0, 3.0, -np.inf, 0.0))
    (np.float64(2.0), np.float64(3.0))
    """
    pairs = [
        as_float_array(v, name)
        for v, name in ((m1, "m1"), (s1, "s1"), (m2, "m2"), (s2, "s2"))
    ]
    m1, s1, m2, s2 = (work for work, _ in pairs)
    dtype = np.result_type(*(dt for _, dt in pairs))
    try:
        np.broadcast_shapes(m1.shape, s1.shape, m2.shape, s2.shape)
    except ValueError:
        raise ValueError(
            "m1, s1, m2 and s2 must broadcast together, got shapes "
            f"{m1.shape}, {s1.shape}, {m2.shape} and {s2.shape}"
        ) from None
    for s, name in ((s1, "s1"), (s2, "s2")):
        bad = s < 0
        if bad.any():
            pos = first_position(bad)
            raise ValueError(
                f"{name} must be a sum of exponentials, >= 0, got "
                f"{s[pos]!s} at position {pos}"
            )
    m = np.maximum(m1, m2)
    with np.errstate(invalid="ignore", over="ignore"):
        f1 = np.where(m1 == m, 1, np.exp(m1 - m))
        f2 = np.where(m2 == m, 1, np.exp(m2 - m))
        s = s1 * f1 + s2 * f2
        return m.astype(dtype, copy=False)[()], s.astype(dtype, copy=False)[()]


# ------------------------------------------------------------- the arguments


class _Setup(NamedTuple):
    """The checked arguments of one call."""

    X: np.ndarray  # (n, d) in the working dtype, a layout BLAS reads
    W: np.ndarray  # (d, V) in the working dtype, a layout BLAS reads
    bias: np.ndarray | None  # (V,)
    pb: _Problem  # targets, weights, keywords (x2 is a zero-stride stand-in)
    x_shape: tuple[int, ...]  # X's shape, for dX
    dtype: np.dtype  # the results' dtype (that of X @ W + bias)
    denom: object  # divisor of the mean (the working dtype's scalar), else 1
    dense: bool  # probability targets or label smoothing


def _blas_ready(a: np.ndarray) -> np.ndarray:
    """``a`` (2-D) itself if BLAS can read it (one unit stride), else a copy."""
    size = a.dtype.itemsize
    if a.size and not (
        (a.strides[1] == size and a.strides[0] > 0)
        or (a.strides[0] == size and a.strides[1] > 0)
    ):
        return np.ascontiguousarray(a)
    return a


def _setup(X, W, target, bias, weight, ignore_index, label_smoothing, reduction):
    xw, xdt = as_float_array(X, "X")
    ww, wdt = as_float_array(W, "W")
    if xw.ndim == 0:
        raise ValueError(
            "X must have at least one dimension (the features, last), got a "
            "0-dimensional array"
        )
    d = xw.shape[-1]
    if ww.ndim != 2 or ww.shape[0] != d:
        raise ValueError(
            f"W must have shape (d, V) with d = X.shape[-1] = {d}, one row per "
            f"feature, got shape {ww.shape} (X has shape {xw.shape})"
        )
    V = ww.shape[1]
    if V == 0:
        raise ValueError(
            f"W has no classes (shape {ww.shape}); its second axis, the "
            "classes, needs length at least 1"
        )
    dtypes = [xdt, wdt]
    bw = None
    if bias is not None:
        bw, bdt = as_float_array(bias, "bias")
        if bw.shape != (V,):
            raise ValueError(
                f"bias must have shape ({V},), one entry per class of W "
                f"(shape {ww.shape}), got shape {bw.shape}"
            )
        dtypes.append(bdt)
    dtype = np.result_type(*dtypes)  # the dtype of X @ W + bias
    work = np.dtype(np.float32) if dtype == np.float16 else dtype
    batch = xw.shape[:-1]
    # the checks of cross_entropy, on a stand-in for the logits of X's batch
    # shape and V classes that takes no memory
    stand_in = np.broadcast_to(np.zeros((), dtype=work), (*batch, V))
    pb = _problem(stand_in, target, weight, ignore_index, label_smoothing, reduction)
    n = pb.x2.shape[0]
    if reduction != "mean":
        denom = work.type(1)
    elif pb.kind == "prob":
        denom = work.type(n)
    else:
        denom = _index_divisor(pb)
    x2 = _blas_ready(xw.reshape(n, d).astype(work, copy=False))
    w2 = _blas_ready(ww.astype(work, copy=False))
    bw = None if bw is None else bw.astype(work, copy=False)
    dense = pb.kind == "prob" or pb.eps > 0
    return _Setup(x2, w2, bw, pb, xw.shape, dtype, denom, dense)


def _check_strategy(strategy, block_size, memory_budget):
    if strategy is not None and (
        not isinstance(strategy, str) or strategy not in STRATEGIES
    ):
        raise ValueError(
            f"strategy must be None, 'rows' or 'columns', got {strategy!r}"
        )
    if block_size is not None:
        block_size = as_int(block_size, "block_size")
        if block_size < 1:
            raise ValueError(f"block_size must be at least 1, got {block_size}")
    if memory_budget is None:
        memory_budget = MEMORY_BUDGET
    else:
        memory_budget = as_int(memory_budget, "memory_budget")
        if memory_budget < 1:
            raise ValueError(
                f"memory_budget must be at least 1 byte, got {memory_budget}"
            )
    return strategy, block_size, memory_budget


class _Plan(NamedTuple):
    strategy: str
    rows: int  # rows per block (rows), or per tile (columns)
    columns: int  # classes per block (columns; V for rows)
    piece: int  # bytes of the accumulations' temporaries


def _plan(s: _Setup, strategy, block_size, budget) -> _Plan:
    """The strategy and the block sizes (see linear_cross_entropy's Notes).

    The same with and without the gradient: linear_cross_entropy and
    linear_cross_entropy_and_grad make the same blocks of logits."""
    n, V = s.pb.x2.shape
    size = s.X.dtype.itemsize
    piece = budget // PIECE_SHARE
    blocks = budget - piece
    # row blocks: the logits, and for dense targets a second array for G
    per_row = (2 if s.dense else 1) * V * size
    fit = blocks // per_row
    if strategy is None:
        strategy = "rows" if fit >= min(n, MIN_ROWS) else "columns"
    if strategy == "rows":
        rows = block_size if block_size is not None else fit
        return _Plan("rows", max(1, min(rows, n)), V, piece)
    # column blocks: the logits, and for dense targets the block of targets
    k = 2 if s.dense else 1
    if blocks // (k * max(n, 1) * size) >= min(V, MIN_COLUMNS):
        rows = max(n, 1)
    else:
        rows = max(1, min(n, blocks // (k * min(V, MIN_COLUMNS) * size)))
    columns = block_size if block_size is not None else blocks // (k * rows * size)
    return _Plan("columns", rows, max(1, min(columns, V)), piece)


# ------------------------------------------------------------ accumulations


def _product(out, a, b, first: bool, axis: int, piece: int) -> None:
    """``out = a @ b`` if ``first``, else ``out += a @ b``, in pieces along
    ``axis`` of out (0: rows of a, 1: columns of b) through a temporary of
    at most ``piece`` bytes (at least one row or column).

    Rows of out (``dX``) are computed transposed, ``(b^T a^T)^T``, in a
    C-ordered temporary: OpenBLAS with two threads took several times as
    long for a product of a few hundred rows over a long inner dimension
    (a block of G times W^T) as for its transpose, which has those rows as
    columns (about 0.3 s against 1.7 s in float32 for 192 rows, d = 512,
    V = 32768)."""
    if axis == 1 and first:
        np.matmul(a, b, out=out)
        return
    other = out.shape[1 - axis]
    step = max(1, piece // (max(other, 1) * out.dtype.itemsize))
    length = out.shape[axis]
    tmp = np.empty(min(step, length) * other, dtype=out.dtype)
    for lo in range(0, length, step):
        hi = min(lo + step, length)
        t = tmp[: (hi - lo) * other].reshape(other, hi - lo)
        if axis == 0:
            np.matmul(b.T, a[lo:hi].T, out=t)
            part, t = out[lo:hi], t.T
        else:
            np.matmul(a, b[:, lo:hi], out=t)
            part = out[:, lo:hi]
        if first:
            np.copyto(part, t)
        else:
            np.add(part, t, out=part)


class _Grads(NamedTuple):
    X: np.ndarray  # (n, d)
    W: np.ndarray  # (d, V)
    bias: np.ndarray | None  # (V,)


def _new_grads(s: _Setup) -> _Grads:
    n, d = s.X.shape
    V = s.W.shape[1]
    dt = s.X.dtype
    # dW and db start at zero: an empty batch adds nothing
    db = None if s.bias is None else np.zeros(V, dtype=dt)
    return _Grads(np.empty((n, d), dtype=dt), np.zeros((d, V), dtype=dt), db)


def _logits(s: _Setup, rows: slice, cols: slice, out: np.ndarray) -> np.ndarray:
    """``X[rows] @ W[:, cols] + bias[cols]`` into ``out``."""
    np.matmul(s.X[rows], s.W[:, cols], out=out)
    if s.bias is not None:
        np.add(out, s.bias[cols], out=out)
    return out


def _backward(s: _Setup, g: _Grads, G, rows, cols, first_r, first_c, piece):
    """Add the block G of dL/dO (rows x cols) to the three gradients."""
    Xr, Wc = s.X[rows], s.W[:, cols]
    _product(g.X[rows], G, Wc.T, first_c, axis=0, piece=piece)
    _product(g.W[:, cols], Xr.T, G, first_r, axis=1, piece=piece)
    if g.bias is not None:
        np.add(g.bias[cols], G.sum(axis=0), out=g.bias[cols])


# ------------------------------------------------------------ row blocks


def _fold(s: _Setup) -> bool:
    """Whether the dense kernel folds the mean's divisor into the targets
    (as _loss._compute_dense does: only for a divisor of at least 1)."""
    return s.pb.reduction == "mean" and s.denom >= 1


def _by_rows(s: _Setup, plan: _Plan, want_grad: bool, losses):
    """Row blocks; returns (sum of the losses, whether that sum and the
    gradients are already divided by the mean's divisor) and fills ``g``."""
    pb = s.pb
    n, V = pb.x2.shape
    dt = s.X.dtype
    r = plan.rows
    g = _new_grads(s) if want_grad else None
    buf = np.empty((min(r, n), V), dtype=dt)
    gbuf = np.empty_like(buf) if s.dense and want_grad else None
    acc = _kernels.accumulator(dt)
    if s.dense:
        divisor = acc(s.denom if _fold(s) else 1)
    else:  # the index kernel divides the gradient by D, not the loss
        zero = pb.reduction == "mean" and s.denom == 0
        D = s.denom if pb.reduction == "mean" and not zero else dt.type(1)
    total = acc(0)
    for a in range(0, n, r):
        b = min(a + r, n)
        rows = slice(a, b)
        L = _logits(s, rows, slice(None), buf[: b - a])
        out = None if losses is None else losses[a:b]
        if s.dense:
            common = {"eps": pb.eps, "weight": pb.weight, "divisor": divisor}
            if pb.kind == "prob":
                target = _kernels.DenseTarget(V, dt, probs=pb.target[a:b], **common)
            else:
                target = _kernels.DenseTarget(
                    V,
                    dt,
                    labels=pb.target[a:b],
                    ignore_index=pb.ignore_index,
                    **common,
                )
            G = None if gbuf is None else gbuf[: b - a]
            total += _kernels.cross_entropy_dense(L, target, losses=out, grad=G)
        else:
            # the gradient overwrites the logits (the kernel reads each
            # chunk before it writes it; tests/lib/test_linear.py checks it)
            G = L if want_grad else None
            total += _kernels.cross_entropy_index(
                L,
                pb.target[a:b],
                weight=pb.weight,
                ignore_index=pb.ignore_index,
                denom=D,
                losses=out,
                grad=G,
            )
        if want_grad:
            _backward(s, g, G, rows, slice(None), a == 0, True, plan.piece)
    if s.dense:
        divided = (_fold(s), _fold(s))
    else:
        divided = (False, pb.reduction == "mean" and s.denom != 0)
    return total, divided, g


# --------------------------------------------------------- column blocks


class _Rows(NamedTuple):
    """What the first sweep leaves for each row of a tile."""

    m: np.ndarray  # the maximum
    k: np.ndarray  # the class of its first occurrence
    s: np.ndarray  # sum of exp(o_j - m) over j != k
    finite: bool  # whether every m is finite
    keep: np.ndarray | None  # examples not ignored (class indices)
    c: np.ndarray | None  # class weight of the target, 0 if ignored
    y: np.ndarray | None  # class indices (ignored ones as 0)
    oy: np.ndarray | None  # the target's logit
    rest: np.ndarray | None  # dense: sum of t_j over j != k
    tk: np.ndarray | None  # dense: t_k


def _target_block(s: _Setup, rows: slice, cols: slice, out, y, keep, divisor):
    """The effective targets t of rows x cols (see cross_entropy's Notes),
    divided by ``divisor``, into ``out``."""
    pb = s.pb
    V = pb.x2.shape[1]
    peak = (1 - pb.eps) / divisor
    flat = (pb.eps / V) / divisor
    w = None if pb.weight is None else pb.weight[cols]
    if pb.kind == "prob":
        np.multiply(pb.target[rows, cols], peak, out=out)
        if flat:
            np.add(out, flat, out=out)
        if w is not None:
            np.multiply(out, w, out=out)
        return out
    out[...] = flat if w is None else w * flat
    lo, hi = cols.start, cols.stop
    at = np.flatnonzero((y >= lo) & (y < hi))
    extra = peak if w is None else peak * pb.weight[y[at]]
    out[at, y[at] - lo] += extra
    if keep is not None:
        out[~keep] = 0
    return out


def _first_sweep(s: _Setup, plan: _Plan, rows: slice, buf, tbuf, divisor) -> tuple:
    """Online normaliser over the column blocks of one tile of rows:
    (the tile's losses, its _Rows)."""
    pb = s.pb
    V = pb.x2.shape[1]
    r = rows.stop - rows.start
    dt = s.X.dtype
    ar = np.arange(r)
    m = np.full(r, -np.inf, dtype=dt)
    t = np.zeros(r, dtype=dt)
    k = np.zeros(r, dtype=np.intp)
    y = keep = c = oy = None
    if pb.kind == "index":
        y, keep = _kernels._labels(pb.target[rows], pb.ignore_index)
        c = _kernels._coefficients(y, keep, pb.weight, dt)
    if s.dense:
        shift = np.zeros(r, dtype=dt)  # sum_j t_j (m - o_j) so far
        total = np.zeros(r, dtype=dt)
        rest = np.zeros(r, dtype=dt)
        tk = np.zeros(r, dtype=dt)
    else:
        oy = np.empty(r, dtype=dt)
    for lo in range(0, V, plan.columns):
        hi = min(lo + plan.columns, V)
        cols = slice(lo, hi)
        L = _logits(s, rows, cols, buf[: r * (hi - lo)].reshape(r, hi - lo))
        kb = L.argmax(axis=1)  # the first NaN if there is one
        mb = L[ar, kb]
        M = np.maximum(m, mb)
        new = mb > m  # the block holds the row's new first maximum
        if s.dense:
            block = tbuf[: r * (hi - lo)].reshape(r, hi - lo)
            tb = _target_block(s, rows, cols, block, y, keep, divisor)
            tkb = tb[ar, kb]
            tb[ar, kb] = 0
            rest_b = tb.sum(axis=1)
            tb[ar, kb] = tkb
            # move the shift's reference to M: all terms >= 0
            np.add(shift, np.where(total > 0, total * (M - m), 0), out=shift)
            np.copyto(rest, np.where(new, rest + tk + rest_b, rest + rest_b + tkb))
            np.copyto(tk, np.where(new, tkb, tk))
            np.add(total, rest_b + tkb, out=total)
            np.subtract(M[:, np.newaxis], L, out=L)  # M - o_j >= 0
            np.add(shift, np.vecdot(tb, L), out=shift)
            np.negative(L, out=L)
        else:
            inside = np.flatnonzero((y >= lo) & (y < hi))
            oy[inside] = L[inside, y[inside] - lo]
            _kernels._rowwise(np.subtract, L, M, L)
        np.exp(L, out=L)
        L[ar[new], kb[new]] = 0  # the new first maximum is not in t
        sb = L.sum(axis=1)
        sb[M == -np.inf] = 0  # nothing but -inf so far: exp(-inf - -inf)
        np.copyto(t, np.where(new, (1 + t) * np.exp(m - M) + sb, t + sb))
        np.copyto(k, np.where(new, lo + kb, k))
        m = M
    finite = _kernels._all_finite(m)
    if s.dense:
        loss = np.log1p(t)
        np.multiply(loss, total, out=loss)
        np.add(loss, shift, out=loss)
        _kernels._special_rows(loss, m, finite, keep)
        info = _Rows(m, k, t, finite, keep, c, y, None, rest, tk)
    else:
        dy = oy - m
        sh = _kernels._Shifted(m, finite, dy, None, None)
        loss = _kernels._index_loss(t, sh, c, keep, None)
        info = _Rows(m, k, t, finite, keep, c, y, oy, None, None)
    _settle_rows(s, rows, loss, m, divisor)
    return loss, info


def _settle_rows(s: _Setup, rows: slice, loss, m, divisor) -> None:
    """Rows whose running sums met 0 * inf or -inf - -inf (a masked class,
    o = -inf, with target 0, or -inf before the first finite logit): their
    loss is NaN although the maximum m is finite. Their logits (one row at a
    time) go to cross_entropy's kernels, which treat those terms as 0."""
    at = np.flatnonzero(np.isnan(loss) & np.isfinite(m))
    if not at.size:
        return
    pb = s.pb
    V = pb.x2.shape[1]
    row = np.empty((1, V), dtype=s.X.dtype)
    for i in at:
        j = rows.start + int(i)
        _logits(s, slice(j, j + 1), slice(None), row)
        one = pb._replace(
            x2=row, shape=(1, V), target=pb.target[j : j + 1], reduction="sum"
        )
        value = _evaluate(one, want_grad=False)[0]
        loss[i] = value / divisor


def _second_sweep(s, plan, rows, buf, tbuf, info: _Rows, g, first_r, D, divisor):
    """The gradient of one tile, block by block: G_c from the logits made
    again, then its products with X and W."""
    pb = s.pb
    V = pb.x2.shape[1]
    r = rows.stop - rows.start
    ar = np.arange(r)
    one_s = np.add(info.s, 1)
    if s.dense:
        f, gk = _kernels._dense_grad_factors(info.rest, info.tk, info.s)
    else:
        # D (1 + s) / c, and the gradient at the target (as the kernel has it)
        big_d = np.multiply(one_s, D)
        if info.c is not None:
            np.divide(big_d, info.c, out=big_d)
        ey = np.exp(info.oy - info.m)
        gy = _kernels._index_target_entry(
            ey, ar, info.s, one_s, info.k == info.y, info.c, D
        )
    for lo in range(0, V, plan.columns):
        hi = min(lo + plan.columns, V)
        cols = slice(lo, hi)
        L = _logits(s, rows, cols, buf[: r * (hi - lo)].reshape(r, hi - lo))
        _kernels._rowwise(np.subtract, L, info.m, L)
        np.exp(L, out=L)
        if s.dense:
            _kernels._rowwise(np.multiply, L, f, L)
            tb = _target_block(
                s,
                rows,
                cols,
                tbuf[: r * (hi - lo)].reshape(r, hi - lo),
                info.y,
                info.keep,
                divisor,
            )
            np.subtract(L, tb, out=L)
            at = np.flatnonzero((info.k >= lo) & (info.k < hi))
            L[at, info.k[at] - lo] = gk[at]
        else:
            _kernels._rowwise(np.divide, L, big_d, L)
            at = np.flatnonzero((info.y >= lo) & (info.y < hi))
            L[at, info.y[at] - lo] = gy[at]
        _kernels._special_rows(L, info.m, info.finite, info.keep)
        _backward(s, g, L, rows, cols, first_r, lo == 0, plan.piece)


def _by_columns(s: _Setup, plan: _Plan, want_grad: bool, losses):
    """Column blocks with the online normaliser (two sweeps for the
    gradient); returns as :func:`_by_rows`."""
    pb = s.pb
    n, V = pb.x2.shape
    dt = s.X.dtype
    g = _new_grads(s) if want_grad else None
    size = plan.rows * plan.columns
    buf = np.empty(size, dtype=dt)
    tbuf = np.empty(size, dtype=dt) if s.dense else None
    acc = _kernels.accumulator(dt)
    if s.dense:
        divisor = acc(s.denom if _fold(s) else 1)
        divided = (_fold(s), _fold(s))
        D = None
    else:
        divisor = 1.0
        zero = pb.reduction == "mean" and s.denom == 0
        D = s.denom if pb.reduction == "mean" and not zero else dt.type(1)
        divided = (False, pb.reduction == "mean" and s.denom != 0)
    total = acc(0)
    for a in range(0, n, plan.rows):
        rows = slice(a, min(a + plan.rows, n))
        loss, info = _first_sweep(s, plan, rows, buf, tbuf, divisor)
        if losses is not None:
            losses[rows] = loss
        total += acc(np.add.reduce(loss))
        if want_grad:
            _second_sweep(s, plan, rows, buf, tbuf, info, g, a == 0, D, divisor)
    return total, divided, g


# ---------------------------------------------------------------- results


def _kept(pb: _Problem) -> np.ndarray | None:
    """The examples that are not ignored, or None if none is ignored."""
    if pb.kind == "index" and pb.ignore_index is not None:
        return pb.target != pb.ignore_index
    return None


def _run(s: _Setup, want_grad: bool, strategy, block_size, budget):
    plan = _plan(s, strategy, block_size, budget)
    pb = s.pb
    n = pb.x2.shape[0]
    dt = s.X.dtype
    losses = np.empty(n, dtype=dt) if pb.reduction == "none" else None
    run = _by_rows if plan.strategy == "rows" else _by_columns
    with _kernels._context():
        total, (loss_divided, grads_divided), g = run(s, plan, want_grad, losses)
        if losses is not None:
            loss = losses.reshape(s.x_shape[:-1])
        else:
            loss = dt.type(total)
            if pb.reduction == "mean" and s.denom == 0:
                loss = dt.type(np.nan)  # even if the sum is positive, as in torch
            elif pb.reduction == "mean" and not loss_divided:
                loss = loss / s.denom
        if g is not None and pb.reduction == "mean":
            if s.denom == 0:
                _zero_divisor(pb, g)
            elif not grads_divided:
                for a in g:
                    if a is not None:
                        np.divide(a, s.denom, out=a)
    loss = np.asarray(loss).astype(s.dtype, copy=False)[()]
    if g is None:
        return loss, None
    grads = (
        g.X.reshape(s.x_shape),
        g.W,
        g.bias,
    )
    grads = tuple(None if a is None else a.astype(s.dtype, copy=False) for a in grads)
    return loss, grads


def _zero_divisor(pb: _Problem, g: _Grads) -> None:
    """A mean with a zero divisor: dL/dO is NaN in the row of every example
    that is not ignored (cross_entropy's result), so dX is NaN in those
    rows and dW and db are NaN wherever such a row exists."""
    kept = _kept(pb)
    if kept is None:
        g.X.fill(np.nan)
        anything = g.X.shape[0] > 0
    else:
        g.X[kept] = np.nan
        g.X[~kept] = 0
        anything = bool(kept.any())
    if anything:
        g.W.fill(np.nan)
        if g.bias is not None:
            g.bias.fill(np.nan)


# ------------------------------------------------------------ public API


_PARAMETERS = """\
    Parameters
    ----------
    X : array_like, shape (..., d)
        Features, one row per example (any leading batch shape).
    W : array_like, shape (d, V)
        Weights of the V classes.
    target : array_like
        Integer class indices of shape ``X.shape[:-1]``, or floating
        probabilities of shape ``X.shape[:-1] + (V,)``, as for
        :func:`cross_entropy` (probabilities in another dtype than the
        loss's are converted once, a copy of their size).
    bias : array_like, shape (V,), optional
        Added to every row of ``X @ W``; no bias if omitted.
    weight, ignore_index, label_smoothing, reduction
        As for :func:`cross_entropy`, with the same defaults (no class
        weights, nothing ignored, no smoothing, the mean).
    strategy : {None, "rows", "columns"}, optional
        Row blocks or column blocks (see Notes); None chooses by the
        budget.
    block_size : int, optional
        Rows per block (row blocks) or classes per block (column blocks),
        instead of the number that the budget allows.
    memory_budget : int, optional
        Bytes of scratch memory: fifteen sixteenths for the blocks of
        logits (with their gradient, or their targets, where those need an
        array of their own), one sixteenth for the temporaries that add a
        block's products to the gradients; 32 MiB (``2**25``) by default."""

_RAISES = """\
    Raises
    ------
    TypeError
        If ``X``, ``W`` or ``bias`` is complex, object or string, or as for
        :func:`cross_entropy` (whose checks of the target, the weights and
        the keywords are the ones applied here, with the logits of shape
        ``X.shape[:-1] + (V,)``); if ``block_size`` or ``memory_budget`` is
        not an integer.
    ValueError
        If ``X`` is 0-dimensional, ``W`` is not ``(d, V)`` with
        ``d = X.shape[-1]`` and ``V >= 1``, or ``bias`` is not ``(V,)``; as
        for :func:`cross_entropy`, for the target, the weights and the
        keywords; if ``strategy`` is unknown or ``block_size`` or
        ``memory_budget`` is less than 1."""

_NOTES = r"""
    Notes
    -----
    The result is that of ``cross_entropy(X @ W + bias, target, ...)``
    (the formulas of :func:`cross_entropy`, with the same treatment of
    ignored examples, masked classes and NaN), computed without an
    ``n x V`` array. Write :math:`\mathbf{O} = \mathbf{X}\mathbf{W} +
    \mathbf{1}\mathbf{b}^\top` and :math:`\mathbf{G} = \partial L /
    \partial \mathbf{O}`, the gradient of :func:`cross_entropy_grad`; then

    .. math::

        \frac{\partial L}{\partial \mathbf{X}} = \mathbf{G}\mathbf{W}^\top,
        \qquad
        \frac{\partial L}{\partial \mathbf{W}} = \mathbf{X}^\top\mathbf{G},
        \qquad
        \frac{\partial L}{\partial \mathbf{b}} = \mathbf{G}^\top\mathbf{1},

    and each product is a sum over blocks of rows or of columns of
    :math:`\mathbf{G}`.

    *Row blocks* of r rows: :math:`\mathbf{O}_r = \mathbf{X}_r\mathbf{W}
    + \mathbf{1}\mathbf{b}^\top` is made in one buffer, reused for every
    block, and turned into :math:`\mathbf{G}_r` by the kernels of
    :func:`cross_entropy` (in place for class-index targets without
    smoothing; probability targets and label smoothing need a second
    buffer); then :math:`\partial L / \partial \mathbf{X}_r =
    \mathbf{G}_r\mathbf{W}^\top` and :math:`\partial L / \partial
    \mathbf{W} \mathrel{+}= \mathbf{X}_r^\top\mathbf{G}_r`. These are the
    three matrix products and the one ``exp`` pass of the materialised
    computation, plus one pass over :math:`\partial L / \partial
    \mathbf{W}` per block (Liger Kernel's fused linear cross-entropy,
    Hsu et al. 2024, works this way).

    *Column blocks* of c classes (Cut Cross-Entropy, Wijmans et al. 2024):
    a first sweep makes :math:`\mathbf{O}_c = \mathbf{X}\mathbf{W}_c +
    \mathbf{1}\mathbf{b}_c^\top` block by block and keeps, per row, the
    running maximum :math:`m` (first at class :math:`k`) and
    :math:`s = \sum_{j \ne k} e^{o_j - m}`, merged block by block as in
    :func:`logsumexp_merge`: a block with maximum :math:`m' > m` turns
    :math:`s` into :math:`(1 + s) e^{m - m'} + s'`, its own maximum left
    out. With the target sums :math:`T = \sum_j t_j`,
    :math:`\sum_{j \ne k} t_j` and :math:`t_k`, and
    :math:`A = \sum_j t_j (m - o_j) \ge 0` (moved to a new maximum by
    adding :math:`T (m' - m)`), the loss of a row is

    .. math::

        \ell = A + T \operatorname{log1p}(s),

    a sum of terms :math:`\ge 0` (for class indices,
    :math:`c\,(\operatorname{log1p}(s) + m - o_y)`). A second sweep makes
    each block of logits again, forms :math:`\mathbf{G}_c = T\,
    e^{\mathbf{O}_c - m}/(1 + s) - \mathbf{t}_c` (at :math:`k`,
    :math:`(\sum_{j \ne k} t_j - t_k s)/(1 + s)`, as the kernels have it),
    and adds :math:`\mathbf{X}^\top\mathbf{G}_c` and
    :math:`\mathbf{G}_c\mathbf{W}_c^\top`. One matrix product and one
    ``exp`` pass more than row blocks. If even a block of
    ``MIN_COLUMNS = 256`` classes over all n rows exceeds the budget, the
    rows are cut into tiles as well.

    *The choice.* With a budget of B bytes (``memory_budget``, 32 MiB by
    default), :math:`B' = B - \lfloor B/16 \rfloor` for the blocks, and
    itemsize a, row blocks take :math:`r = \lfloor B' / (V a) \rfloor` rows
    (half as many for probability targets or label smoothing); they are
    chosen when r is at least ``min(n, 128)``, and column blocks otherwise
    (below 128 rows, the pass over :math:`\partial L / \partial \mathbf{W}`
    per block costs more than the products). Column blocks take
    :math:`c = \lfloor B' / (n a) \rfloor` classes (half as many for dense
    targets). The other sixteenth of B holds the temporaries through which a
    block's products are added to :math:`\partial L / \partial \mathbf{W}`
    (row blocks) or :math:`\partial L / \partial \mathbf{X}` (column
    blocks), a piece at a time.

    *Memory.* Beyond the inputs and the outputs (:math:`\partial L /
    \partial \mathbf{X}`, :math:`\partial L / \partial \mathbf{W}` and
    :math:`\partial L / \partial \mathbf{b}`, as large as X, W and b), a
    call takes the budget, the kernels' scratch (a few MiB at most), and
    vectors of length n and V. A block holds at least one row or one class,
    whatever the budget. Inputs are converted to the dtype of ``X @ W + bias``
    once (float16 is computed in float32 and the results rounded once);
    W is copied if its dtype differs from that one or if BLAS cannot read
    its layout (no unit stride, as in ``W[:, ::2]``).

    *Accuracy.* The logits are the matrix products BLAS computes for
    blocks, which may round differently from ``X @ W`` taken whole; from
    there on every operation is that of :func:`cross_entropy` or, for
    column blocks, a sum of non-negative terms. The tests compare both
    strategies with the materialised computation: in float64 the loss
    agrees to a relative 1e-12 and each gradient to a normwise relative
    1e-10 (float32: 1e-5 and 1e-4), and with a 50-digit mpmath reference
    on small cases.

    *Reduction.* For ``"none"`` the gradients are those of the sum of the
    per-example losses, as :func:`cross_entropy_grad` gives them."""

_SEE_ALSO = """\
    See Also
    --------
    linear_cross_entropy : The loss.
    linear_cross_entropy_and_grad : The loss and its gradients.
    logsumexp_merge : The merge of partial log-sum-exps used by column blocks.
    cross_entropy : The same loss, given the logits."""

_REFERENCES = """\
    References
    ----------
    Milakov, M. and Gimelshein, N. (2018). Online normalizer calculation for
    softmax. arXiv:1805.02867.

    Wijmans, E., Huval, B., Hertzberg, A., Koltun, V. and Krähenbühl, P.
    (2024). Cut your losses in large-vocabulary language models.
    arXiv:2411.09009.

    Hsu, P.-L., Dai, Y., Kothapalli, V., Song, Q., Tang, S., Zhu, S.,
    Shimizu, S., Sahni, S., Ning, H. and Chen, Y. (2024). Liger Kernel:
    efficient Triton kernels for LLM training. arXiv:2410.10989.

    Blanchard, P., Higham, D. J. and Higham, N. J. (2021). Accurately
    computing the log-sum-exp and softmax functions. *IMA Journal of
    Numerical Analysis* 41(4), 2311-2330."""

_fill = fill_doc(
    parameters=_PARAMETERS,
    raises=_RAISES,
    notes=_NOTES,
    see_also=_SEE_ALSO,
    linear_references=_REFERENCES,
)


@_fill
def linear_cross_entropy(
    X,
    W,
    target,
    *,
    bias=None,
    weight=None,
    ignore_index=None,
    label_smoothing=0.0,
    reduction="mean",
    strategy=None,
    block_size=None,
    memory_budget=None,
):
    """Cross-entropy of the logits ``X @ W + bias``, without forming them.

    {parameters}

    Returns
    -------
    numpy scalar or numpy.ndarray
        As :func:`cross_entropy` returns it for the logits
        ``X @ W + bias``: the mean or the sum as a scalar, or the losses of
        shape ``X.shape[:-1]`` for ``reduction="none"``.

    {raises}

    {see_also}

    {notes}

    {linear_references}

    Examples
    --------
    >>> import numpy as np
    >>> import softmaxlib as sm
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((6, 4))
    >>> W = rng.standard_normal((4, 1000))
    >>> b = rng.standard_normal(1000)
    >>> y = rng.integers(0, 1000, size=6)
    >>> loss = sm.linear_cross_entropy(X, W, y, bias=b)
    >>> print(round(float(loss), 6))
    9.964068
    >>> print(round(float(sm.cross_entropy(X @ W + b, y)), 6))
    9.964068

    Column blocks of 64 classes give the same loss:

    >>> loss = sm.linear_cross_entropy(
    ...     X, W, y, bias=b, strategy="columns", block_size=64
    ... )
    >>> print(round(float(loss), 6))
    9.964068
    """
    strategy, block_size, budget = _check_strategy(strategy, block_size, memory_budget)
    s = _setup(X, W, target, bias, weight, ignore_index, label_smoothing, reduction)
    with np.errstate(over="ignore", invalid="ignore"):
        return _run(s, False, strategy, block_size, budget)[0]


@_fill
def linear_cross_entropy_and_grad(
    X,
    W,
    target,
    *,
    bias=None,
    weight=None,
    ignore_index=None,
    label_smoothing=0.0,
    reduction="mean",
    strategy=None,
    block_size=None,
    memory_budget=None,
):
    """:func:`linear_cross_entropy` and its gradients with respect to X, W, bias.

    {parameters}

    Returns
    -------
    loss : numpy scalar or numpy.ndarray
        As returned by :func:`linear_cross_entropy`.
    grad_X : numpy.ndarray
        :math:`\\partial L / \\partial \\mathbf{X}`, shape of ``X``.
    grad_W : numpy.ndarray
        :math:`\\partial L / \\partial \\mathbf{W}`, shape ``(d, V)``.
    grad_bias : numpy.ndarray or None
        :math:`\\partial L / \\partial \\mathbf{b}`, shape ``(V,)``; None
        when ``bias`` is None.

    All in the dtype of ``X @ W + bias``.

    {raises}

    {see_also}

    {notes}

    {linear_references}

    Examples
    --------
    >>> import numpy as np
    >>> import softmaxlib as sm
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((6, 4))
    >>> W = rng.standard_normal((4, 1000))
    >>> b = rng.standard_normal(1000)
    >>> y = rng.integers(0, 1000, size=6)
    >>> loss, gX, gW, gb = sm.linear_cross_entropy_and_grad(X, W, y, bias=b)
    >>> G = sm.cross_entropy_grad(X @ W + b, y)  # the materialised way
    >>> print(np.allclose(gX, G @ W.T, rtol=1e-12, atol=0))
    True
    >>> print(np.allclose(gW, X.T @ G, rtol=1e-10, atol=1e-16))
    True
    >>> print(np.allclose(gb, G.sum(axis=0), rtol=1e-10, atol=1e-16))
    True
    """
    strategy, block_size, budget = _check_strategy(strategy, block_size, memory_budget)
    s = _setup(X, W, target, bias, weight, ignore_index, label_smoothing, reduction)
    with np.errstate(over="ignore", invalid="ignore"):
        loss, grads = _run(s, True, strategy, block_size, budget)
    return (loss, *grads)
