"""softmax, log_softmax and logsumexp: the public functions.

The work is done by the chunked kernels of :mod:`softmaxlib._kernels`; this
module validates the arguments, moves the class axes last and merges them into
one, and hands a kernel an ``(n, q)`` view of the input (a copy only when the
axes cannot be merged without one) and a C-contiguous ``(n, q)`` output: the
caller's ``out`` itself when its layout allows, even when it is the input.

For each row x with (first) maximum m = x_k the kernels compute

    s = sum_{i != k} exp(x_i - m),   logsumexp = m + log1p(s),
    log_softmax_i = (x_i - m) - log1p(s),   softmax_i = exp(x_i - m) / (1 + s),

so the dominant entry of log_softmax is -log1p(s), accurate when s is tiny
(Algorithm 3 of Blanchard, Higham and Higham 2021).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np

from . import _kernels
from ._docs import fill_doc
from ._validation import as_float_array, check_out, normalize_axis

__all__ = ["log_softmax", "logsumexp", "softmax"]


class _Moved(NamedTuple):
    """The input with the reduced axes moved last and merged into one."""

    x2: np.ndarray
    shape: tuple[int, ...]  # of the input once transposed (as given if perm is None)
    perm: tuple[int, ...] | None  # None: the axes were already trailing


def _move(work: np.ndarray, axis, func: str) -> _Moved:
    shape = work.shape
    axes = normalize_axis(axis, work.ndim, shape)
    size = math.prod(shape[a] for a in axes)
    if size == 0:
        raise ValueError(
            f"x has no classes along axis {axes if len(axes) != 1 else axes[0]} "
            f"(shape {shape}); {func} needs at least one class"
        )
    nd = work.ndim
    rest = tuple(a for a in range(nd) if a not in axes)
    n = math.prod(shape[a] for a in rest)
    if axes == tuple(range(nd - len(axes), nd)):
        return _Moved(work.reshape(n, size), shape, None)
    perm = rest + axes
    moved = work.transpose(perm)
    # a view where the strides allow it (e.g. any single axis of a 2-D array)
    return _Moved(moved.reshape(n, size), moved.shape, perm)


def _restore(r: np.ndarray, mv: _Moved) -> np.ndarray:
    r = r.reshape(mv.shape)
    return r if mv.perm is None else r.transpose(np.argsort(mv.perm))


def _rows_of(out: np.ndarray, mv: _Moved, n: int, q: int) -> np.ndarray | None:
    """``out`` as a C-contiguous ``(n, q)`` view in the moved axis order, if any."""
    moved = out if mv.perm is None else out.transpose(mv.perm)
    try:
        rows = np.reshape(moved, (n, q), copy=False)
    except ValueError:
        return None
    return rows if rows.flags.c_contiguous else None


def _same_memory(a: np.ndarray, b: np.ndarray) -> bool:
    return (
        a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
        and a.strides == b.strides
    )


def _round(r: np.ndarray, dtype: np.dtype, out: np.ndarray | None = None):
    """``r`` in the result's dtype (into ``out`` if given). float16 results,
    computed in float32, are rounded here once; one too large for float16
    becomes +-inf without a warning, as in torch."""
    with np.errstate(over="ignore"):
        if out is None:
            return r.astype(dtype, copy=False)
        np.copyto(out, r, casting="same_kind")
        return out


def _elementwise(x, axis, out, kernel, func: str):
    work, dtype = as_float_array(x, "x")
    mv = _move(work, axis, func)
    if out is not None:
        check_out(out, work.shape, dtype)
    x2 = mv.x2
    n, q = x2.shape
    direct = None
    if out is not None and dtype == work.dtype:
        direct = _rows_of(out, mv, n, q)
        # out may be x itself (the kernels read a chunk before writing it),
        # but any other overlap goes through a separate result
        if direct is not None and np.may_share_memory(direct, x2):
            if not _same_memory(direct, x2):
                direct = None
    res = direct if direct is not None else np.empty((n, q), dtype=work.dtype)
    if n:
        kernel(x2, res)
    if direct is not None:
        return out
    r = _round(_restore(res, mv), dtype, out)
    return r if out is not None or r.ndim else r[()]  # a numpy scalar, as numpy


def _names_itself(f):
    """Prefix the message of every TypeError and ValueError that ``f`` raises
    with ``f``'s name (the argument checks are shared by several functions, so
    their messages cannot say which one was called). The exception keeps its
    type and traceback."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except (TypeError, ValueError) as error:
            prefix = f"{f.__name__}: "
            if error.args and isinstance(error.args[0], str):
                if not error.args[0].startswith(prefix):
                    error.args = (prefix + error.args[0], *error.args[1:])
            raise

    return wrapper


@_names_itself
@fill_doc()
def softmax(x, axis=-1, *, out=None):
    r"""Softmax along ``axis``: positive entries that sum to one.

    Parameters
    ----------
    x : array_like
        Logits. Floating input keeps its dtype (float16 is computed in float32
        and rounded once, to :math:`\pm\infty` without a warning where the
        value is too large for float16, as in torch); bool and integer input
        is converted to float64.
    axis : int, tuple of ints or None, optional
        The class axis or axes, by default the last one. A tuple normalises
        over several axes jointly and None over all of them, as in
        :func:`scipy.special.softmax`, whose default is ``axis=None``.
    out : numpy.ndarray, optional
        Array of the result's shape and dtype to write into. It may be ``x``
        itself.

    Returns
    -------
    numpy.ndarray or numpy scalar
        The probabilities, with the shape of ``x`` (a numpy scalar for 0-d
        ``x`` with ``axis=None``, as in scipy); ``out`` if it was given.

    Raises
    ------
    TypeError
        If ``x`` is complex, object or string, if ``axis`` is not an integer or
        a tuple of integers, or if ``out`` has the wrong dtype.
    ValueError
        If ``axis`` is out of range or repeated, if there are no classes along
        ``axis`` (there is no distribution over no classes; scipy raises as
        well, while an empty batch gives an empty result), or if ``out`` has
        the wrong shape.

    See Also
    --------
    log_softmax : The logarithm of the softmax, accurate for every entry.
    logsumexp : The log-normaliser.

    Notes
    -----
    With :math:`k` the index of the (first) maximum of the row :math:`x`,

    .. math::

        \operatorname{softmax}(x)_i
        = \frac{\exp(x_i - x_k)}{1 + s}, \qquad
        s = \sum_{j \ne k} \exp(x_j - x_k).

    Every exponent is at most zero, so nothing overflows for finite input.
    An entry of :math:`-\infty` gets probability exactly 0 without a warning;
    a row of only :math:`-\infty` has no softmax and gives NaN, and a row with
    :math:`+\infty` or NaN gives NaN in that row only.

    *Accuracy.* With :math:`p = \operatorname{softmax}(x)` and
    :math:`t_i = x_i - x_k`, entry :math:`i` has a relative error of at most
    :math:`\beta_i u`, that is at most :math:`\beta_i` ulps, where

    .. math::

        \beta_i = |t_i| + \mu + 2 + \sum_{j \ne k} p_j\,(|t_j| + \mu + c_q)
        \le |t_i| + 2\mu + c_q + \log q + 2

    (:math:`|t_k| + \mu` drops out at :math:`i = k`; the sum is at most
    :math:`\log q + \mu + c_q`). The :math:`|t_i|` is the rounding of
    :math:`x_i - x_k`: small probabilities far below the maximum can be off
    by hundreds of ulps, for instance about 512 ulps at the second entry of
    ``[2.0**-44, -632.1502286706703]`` (bound 639). Removing it with a
    compensated subtraction would cost two to six times the run time.

    {error_model}

    {references}

    Examples
    --------
    >>> import numpy as np
    >>> import softmaxlib as sm
    >>> print(sm.softmax([1.0, 2.0, 3.0]))
    [0.09003057 0.24472847 0.66524096]

    Large logits do not overflow, and ``-inf`` masks a class:

    >>> print(sm.softmax([1000.0, 1000.0, -np.inf]))
    [0.5 0.5 0. ]

    The class axis is the last one unless ``axis`` says otherwise:

    >>> x = np.array([[0.0, 0.0], [0.0, np.log(3.0)]])
    >>> print(sm.softmax(x))
    [[0.5  0.5 ]
     [0.25 0.75]]
    >>> print(sm.softmax(x, axis=0))
    [[0.5  0.25]
     [0.5  0.75]]
    """
    return _elementwise(x, axis, out, _kernels.softmax, "softmax")


@_names_itself
@fill_doc()
def log_softmax(x, axis=-1, *, out=None):
    r"""Logarithm of the softmax along ``axis``, accurate for every entry.

    Parameters
    ----------
    x : array_like
        Logits. Floating input keeps its dtype (float16 is computed in float32
        and rounded once, to :math:`\pm\infty` without a warning where the
        value is too large for float16, as in torch); bool and integer input
        is converted to float64.
    axis : int, tuple of ints or None, optional
        The class axis or axes, by default the last one. A tuple normalises
        over several axes jointly and None over all of them, as in
        :func:`scipy.special.log_softmax`, whose default is ``axis=None``.
    out : numpy.ndarray, optional
        Array of the result's shape and dtype to write into. It may be ``x``
        itself.

    Returns
    -------
    numpy.ndarray or numpy scalar
        The log-probabilities, with the shape of ``x`` (a numpy scalar for 0-d
        ``x`` with ``axis=None``, as in scipy); ``out`` if it was given.

    Raises
    ------
    TypeError
        If ``x`` is complex, object or string, if ``axis`` is not an integer or
        a tuple of integers, or if ``out`` has the wrong dtype.
    ValueError
        If ``axis`` is out of range or repeated, if there are no classes along
        ``axis`` (there is no distribution over no classes; scipy raises as
        well, while an empty batch gives an empty result), or if ``out`` has
        the wrong shape.

    See Also
    --------
    softmax : The probabilities themselves.
    logsumexp : The log-normaliser.

    Notes
    -----
    With :math:`k` the index of the (first) maximum of the row :math:`x` and
    :math:`s = \sum_{j \ne k} \exp(x_j - x_k)`,

    .. math::

        \log \operatorname{softmax}(x)_i &= (x_i - x_k) - \operatorname{log1p}(s),
        \\
        \log \operatorname{softmax}(x)_k &= -\operatorname{log1p}(s).

    The second form is what makes the dominant entry accurate: when the
    other classes are far below the maximum, :math:`s` is tiny and
    :math:`\log(1 + s)` rounds to 0, while :math:`\operatorname{log1p}(s)`
    keeps it (scipy, torch and JAX return 0 for a log-probability of
    :math:`-10^{-40}`). An entry of :math:`-\infty` gives :math:`-\infty`
    without a warning; a row of only :math:`-\infty`, or with :math:`+\infty`
    or NaN, gives NaN in that row only.

    *Accuracy.* With :math:`p = \operatorname{softmax}(x)`,
    :math:`t_i = x_i - x_k` and :math:`\lambda = \operatorname{log1p}(s)
    = -\log p_k`, entry :math:`j` has an absolute error of at most

    .. math::

        \Bigl(|t_j| + |\log p_j| + \mu\lambda
        + \sum_{i \ne k} p_i\,(|t_i| + \mu + c_q)\Bigr)\, u

    (:math:`|t_k| + |\log p_k|` drops out at :math:`j = k`). In ulps, every
    entry is within :math:`1 + 2\mu + c_q + D`, where :math:`D` is the
    smaller of :math:`\max_i x_i - \min_i x_i` (over the finite entries) and
    :math:`\log((q - 1)/|\log p_k|)`; entries other than :math:`k` are also
    within :math:`1 + \mu + (\log q + \mu + c_q)/\log 2` ulps. The large
    errors are at the dominant entry, whose tiny :math:`-\operatorname{log1p}(s)`
    inherits the rounding of the differences inside :math:`s`: about 512 ulps
    for the first entry of ``[2.0**-44, -632.1502286706703]`` (bound 637); as a
    rounded difference is off by at most half an ulp of itself, that is
    about the worst in float64 (64 ulps in float32).

    {error_model}

    {references}

    Examples
    --------
    >>> import numpy as np
    >>> import softmaxlib as sm
    >>> print(sm.log_softmax([1.0, 2.0, 3.0]))
    [-2.40760596 -1.40760596 -0.40760596]

    The log-probability of a dominant class is not rounded to zero:

    >>> print(sm.log_softmax([0.0, -92.1034037197618]))
    [-1.00000000e-40 -9.21034037e+01]
    """
    return _elementwise(x, axis, out, _kernels.log_softmax, "log_softmax")


def _lse(work: np.ndarray, axis, keepdims: bool) -> np.ndarray:
    """logsumexp of ``work`` over ``axis`` by the kernel, as an array (not a
    scalar) of ``work``'s dtype; an empty sum is -inf."""
    axes = normalize_axis(axis, work.ndim, work.shape)
    if keepdims:
        shape = tuple(1 if a in axes else n for a, n in enumerate(work.shape))
    else:
        shape = tuple(n for a, n in enumerate(work.shape) if a not in axes)
    if math.prod(work.shape[a] for a in axes) == 0:
        return np.full(shape, -np.inf, dtype=work.dtype)
    mv = _move(work, axes, "logsumexp")
    r = np.empty(mv.x2.shape[0], dtype=work.dtype)
    if r.size:
        _kernels.logsumexp(mv.x2, r)
    return r.reshape(shape)


def _weighted_args(x, b) -> tuple[np.ndarray, np.ndarray, np.dtype]:
    """``x`` and ``b`` broadcast together in the working dtype, and the
    result's dtype: NumPy's promotion of the two (a Python number ``b`` does
    not widen ``x``), integers and bool becoming float64 and float16 being
    computed in float32."""
    xa = np.asarray(x)
    weak = isinstance(b, int | float) and not isinstance(b, bool)
    ba = np.asarray(b)
    as_float_array(xa, "x")  # TypeError for complex, object, string
    if ba.dtype.kind not in "biuf":
        if ba.dtype.kind == "c":
            raise TypeError(f"b must be real, got a complex array of dtype {ba.dtype}")
        raise TypeError(f"b must be a real numeric array, got dtype {ba.dtype}")
    dtype = np.result_type(xa, b if weak else ba)
    if dtype.kind != "f":
        dtype = np.dtype(np.float64)
    work = np.dtype(np.float32) if dtype == np.float16 else dtype
    try:
        shape = np.broadcast_shapes(xa.shape, ba.shape)
    except ValueError:
        raise ValueError(
            f"b of shape {ba.shape} does not broadcast against x of shape {xa.shape}"
        ) from None
    xw = np.broadcast_to(xa.astype(work, copy=False), shape)
    bw = np.broadcast_to(ba.astype(work, copy=False), shape)
    return xw, bw, dtype


def _sign_of_sum(r: np.ndarray) -> np.ndarray:
    """The sign of a sum of non-negative terms whose logarithm is ``r``."""
    sign = np.ones_like(r)
    sign[r == -np.inf] = 0
    sign[np.isnan(r)] = np.nan
    return sign


def _log_abs_difference(lp: np.ndarray, ln: np.ndarray):
    """``(log|e^lp - e^ln|, sign(e^lp - e^ln))``, elementwise.

    With d = |lp - ln| the result is max(lp, ln) + log(1 - e^-d), where
    log(1 - e^-d) is log1p(-exp(-d)) for d > log 2 and log(-expm1(-d))
    otherwise, each accurate on its side (Maechler 2012).
    """
    with np.errstate(all="ignore"):
        hi = np.maximum(lp, ln)
        diff = lp - ln
        d = np.abs(diff)
        far = d > math.log(2.0)
        f = np.where(far, np.log1p(-np.exp(-d)), np.log(-np.expm1(-d)))
        empty = hi == -np.inf  # both sums are zero: -inf - -inf gave NaN
        r = np.where(empty, -np.inf, hi + f)
        sign = np.where(empty, 0, np.sign(diff)).astype(r.dtype)
    return r, sign


@_names_itself
@fill_doc()
def logsumexp(x, axis=-1, *, b=None, keepdims=False, return_sign=False):
    r"""The log-normaliser :math:`\log \sum_i b_i \exp(x_i)` along ``axis``.

    Parameters
    ----------
    x : array_like
        Logits. Floating input keeps its dtype (float16 is computed in float32
        and rounded once, to :math:`\pm\infty` without a warning where the
        value is too large for float16, as in torch); bool and integer input
        is converted to float64.
    axis : int, tuple of ints or None, optional
        The axis or axes to reduce, by default the last one. None reduces over
        all axes, as :func:`scipy.special.logsumexp` does by default.
    b : array_like, optional
        Weights :math:`b_i` of the terms, broadcast together with ``x`` (the
        result has the reduced shape of the two broadcast together, as in
        scipy). They may be zero, which removes a term even where
        :math:`x_i` is :math:`\pm\infty` or NaN, and negative, which
        subtracts it. The result's dtype is NumPy's promotion of the dtypes
        of ``x`` and ``b`` (a Python number ``b`` keeps the dtype of ``x``),
        with integers becoming float64.
    keepdims : bool, optional
        Keep the reduced axes with length one, so that the result broadcasts
        against ``x``.
    return_sign : bool, optional
        Return ``(log|S|, sign(S))`` for the weighted sum
        :math:`S = \sum_i b_i e^{x_i}`. Without it, a negative :math:`S`
        gives NaN, as in scipy.

    Returns
    -------
    r : numpy.ndarray or numpy scalar
        The log-sum-exp, with the reduced axes removed (or kept with length
        one); a numpy scalar when nothing is left, as in scipy and NumPy's
        reductions. An empty sum (no entries along ``axis``) is
        :math:`-\infty`, as in scipy and torch.
    sign : numpy.ndarray or numpy scalar
        Only with ``return_sign``: +1, -1 or 0 (NaN where ``r`` is NaN), of
        the shape and dtype of ``r``. 0 means :math:`S = 0` and
        ``r`` :math:`= -\infty`, also for an empty sum (where scipy gives
        -1).

    Raises
    ------
    TypeError
        If ``x`` or ``b`` is complex, object or string, or if ``axis`` is not
        an integer or a tuple of integers.
    ValueError
        If ``axis`` is out of range or repeated, or if ``b`` does not
        broadcast against ``x``.

    See Also
    --------
    log_softmax : ``x`` minus its log-sum-exp.

    Notes
    -----
    With :math:`k` the index of the (first) maximum,

    .. math::

        \operatorname{logsumexp}(x) = x_k + \operatorname{log1p}\Bigl(
        \sum_{i \ne k} \exp(x_i - x_k)\Bigr).

    No exponent is positive, so nothing overflows, and a sum of tiny terms
    is not lost by forming :math:`1 + s`. A row of only :math:`-\infty` gives
    :math:`-\infty` and a row with :math:`+\infty` (and no NaN) gives
    :math:`+\infty`, as in scipy; NaN gives NaN.

    *Accuracy.* With :math:`p = \operatorname{softmax}(x)`,
    :math:`t_i = x_i - x_k`, :math:`s` the sum above and
    :math:`\lambda = \operatorname{log1p}(s)`, the absolute error is at most

    .. math::

        \begin{aligned}
        &\Bigl(|\operatorname{logsumexp}(x)| + \mu\lambda
        + \sum_{i \ne k} p_i\,(|t_i| + \mu + c_q)\Bigr)\, u \\
        &\quad \le \bigl(|\operatorname{logsumexp}(x)| + B\bigr)\, u,
        \qquad B = \mu \log q + \mu + c_q.
        \end{aligned}

    So the result is within 2 ulps wherever
    :math:`|\operatorname{logsumexp}(x)| \ge B`, and within
    :math:`1 + 2\mu + c_q + D` ulps (:math:`D` as in :func:`log_softmax`)
    wherever :math:`x_k \ge 0`: about 17 ulps for ``[2.0**-48,
    -32.577917486317446]``, whose log-sum-exp is :math:`1.07 \times
    10^{-14}` (bound 38). Close to zero with :math:`x_k < 0`, where
    :math:`x_k` and :math:`\lambda` cancel and the problem is
    ill-conditioned, only the absolute bound holds.

    *Weights.* A term with :math:`b_i \ne 0` is the shifted logit
    :math:`y_i = x_i + \log|b_i|`. The positive and the negative terms are
    each summed as above, :math:`\ell_\pm = \log P_\pm` with
    :math:`P_\pm = \sum_{\pm b_i > 0} e^{y_i}`, and with
    :math:`d = |\ell_+ - \ell_-|`

    .. math::

        \log|S| = \max(\ell_+, \ell_-) + \log(1 - e^{-d}),

    with :math:`\operatorname{log1p}(-e^{-d})` for :math:`d > \log 2` and
    :math:`\log(-\operatorname{expm1}(-d))` otherwise. Where no weight is
    negative only :math:`\ell_+` is computed. The error of :math:`\ell_\pm`
    is at most :math:`E_\pm u`, :math:`E_\pm = |\ell_\pm| + B + W_\pm`,
    where :math:`W_\pm` is the largest :math:`|y_i| + \mu |\log|b_i||` over
    the terms of that sign with :math:`|b_i| \ne 1` (the rounding of
    :math:`y_i`; 0 if there are none). So with :math:`b \ge 0` the error is
    at most :math:`E_+ u`. With weights of both signs :math:`S` is a
    difference, and its logarithm has the condition number

    .. math::

        \kappa = \frac{\sum_i |b_i| e^{x_i}}{|\sum_i b_i e^{x_i}|}
        = \frac{P_+ + P_-}{|P_+ - P_-|} \ge 1

    (absolute, for :math:`\log|S|`): no method that rounds its input can do
    better than an error of about :math:`\kappa u`. The error is at most

    .. math::

        \kappa \max(E_+, E_-)\, u + \bigl(|\log|S|| + 1
        + \mu\,(1 + \log \kappa)\bigr)\, u,

    where :math:`\mu` bounds the errors of ``log`` and ``expm1`` as well
    (first order in :math:`u`, so it says nothing once :math:`\kappa u`
    nears 1).
    Where the two sums cancel completely the result is :math:`-\infty` with
    sign 0, as in scipy.

    {error_model}

    {references}

    Maechler, M. (2012). Accurately computing :math:`\log(1 - \exp(-|a|))`, assessed
    by the Rmpfr package. Vignette of the R package Rmpfr.

    Examples
    --------
    >>> import numpy as np
    >>> import softmaxlib as sm
    >>> print(sm.logsumexp([1000.0, 1000.0]))
    1000.6931471805599
    >>> print(sm.logsumexp([[0.0, 0.0], [1.0, -np.inf]]))
    [0.69314718 1.        ]
    >>> print(sm.logsumexp(np.zeros((2, 3)), axis=0, keepdims=True))
    [[0.69314718 0.69314718 0.69314718]]

    A 0-d result is a numpy scalar, and an empty sum is :math:`-\infty`:

    >>> sm.logsumexp([0.0, 0.0])
    np.float64(0.6931471805599453)
    >>> sm.logsumexp([])
    np.float64(-inf)

    Log-mean-exp, the logarithm of the mean of :math:`e^{x_i}`, is the
    weighted sum with :math:`b = 1/n`; here :math:`\log((1 + 3)/2)`:

    >>> x = np.array([0.0, np.log(3.0)])
    >>> print(round(sm.logsumexp(x, b=1 / x.size) - np.log(2.0), 15))
    0.0

    Negative weights subtract; the sign says which way:

    >>> r, sign = sm.logsumexp([1.0, 2.0], b=[1.0, -1.0], return_sign=True)
    >>> print(f"{r:.12f} {sign}")  # log(e**2 - e), negative
    1.541324854613 -1.0
    >>> print(sm.logsumexp([1.0, 2.0], b=[1.0, -1.0]))
    nan
    """
    if b is None:
        work, dtype = as_float_array(x, "x")
        r = _lse(work, axis, keepdims)
        sign = _sign_of_sum(r) if return_sign else None
    else:
        xw, bw, dtype = _weighted_args(x, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            y = xw + np.log(np.abs(bw))  # -inf where b is 0, NaN where NaN
        neg = bw < 0
        y_pos = np.where(neg | (bw == 0), -np.inf, y)  # b > 0 or NaN
        r = _lse(y_pos, axis, keepdims)
        if neg.any():
            y_neg = np.where(neg, y, -np.inf)
            r, sign = _log_abs_difference(r, _lse(y_neg, axis, keepdims))
        else:
            sign = _sign_of_sum(r) if return_sign else None
        if not return_sign and sign is not None:
            r = np.where(sign < 0, np.nan, r)
    r = _round(r, dtype)[()]
    if return_sign:
        return r, _round(sign, dtype)[()]
    return r
