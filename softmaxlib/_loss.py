"""one_hot and the softmax cross-entropy loss with its gradient (torch semantics).

Every keyword combination reduces to one form. For example i with logits
o_i (class axis last) and an effective target row t_i >= 0,

    loss_i = sum_j t_ij * (logsumexp(o_i) - o_ij),
    d loss_i / d o_i = (sum_j t_ij) * softmax(o_i) - t_i,

where a term with t_ij = 0 is 0 even if o_ij = -inf. The keywords only decide
t_i (class weights, label smoothing, ignored targets) and the divisor of the
mean.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from . import _kernels
from ._docs import fill_doc
from ._validation import (
    as_float_array,
    as_int,
    check_label_smoothing,
    check_reduction,
    check_weight,
    classify_target,
    first_bad_index,
)

__all__ = ["cross_entropy", "cross_entropy_and_grad", "cross_entropy_grad", "one_hot"]


def one_hot(labels, num_classes, *, dtype=np.float64):
    """Encode integer class labels as one-hot rows (class axis last).

    Parameters
    ----------
    labels : array_like of int
        Class indices in ``[0, num_classes)``, of any shape.
    num_classes : int
        The number of classes q, at least 1.
    dtype : data-type, optional
        The dtype of the result, float64 by default.

    Returns
    -------
    numpy.ndarray
        Array of shape ``labels.shape + (num_classes,)`` with a 1 in the
        column of each label and 0 elsewhere.

    Raises
    ------
    TypeError
        If ``labels`` is not an integer array or ``num_classes`` is not an
        integer, or if ``dtype`` is not numeric.
    ValueError
        If ``num_classes`` is less than 1 or a label lies outside
        ``[0, num_classes)``; the message names the first such label and its
        position.

    Examples
    --------
    >>> import softmaxlib as sm
    >>> print(sm.one_hot([2, 0, 1], 3))
    [[0. 0. 1.]
     [1. 0. 0.]
     [0. 1. 0.]]
    """
    q = as_int(num_classes, "num_classes")
    if q < 1:
        raise ValueError(f"num_classes must be at least 1, got {q}")
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise TypeError(
            f"dtype must be a boolean, integer or floating dtype, got {dtype}"
        )
    y = np.asarray(labels)
    if y.dtype.kind == "f" and y.size == 0:
        y = y.astype(np.int64)  # an empty list converts to float64
    if y.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers, got an array of dtype {y.dtype}")
    pos = first_bad_index(y, q)
    if pos is not None:
        raise ValueError(
            f"labels contains {int(y[pos])} at position {pos}, outside [0, {q}) "
            f"for num_classes={q}"
        )
    out = np.zeros(y.shape + (q,), dtype=dtype)
    np.put_along_axis(out, y[..., np.newaxis].astype(np.intp), 1, axis=-1)
    return out


class _Problem(NamedTuple):
    x2: np.ndarray  # logits as (n, q) in the working dtype
    shape: tuple[int, ...]  # logits' shape
    dtype: np.dtype  # dtype of the results
    kind: str  # "index" or "prob"
    target: np.ndarray  # (n,) int64 indices or (n, q) probabilities
    weight: np.ndarray | None
    ignore_index: int | None
    eps: float
    reduction: str


def _problem(logits, target, weight, ignore_index, label_smoothing, reduction):
    work, dtype = as_float_array(logits, "logits")
    if work.ndim == 0:
        raise ValueError(
            "logits must have at least one dimension (the class axis, last), "
            "got a 0-dimensional array"
        )
    q = work.shape[-1]
    if q == 0:
        raise ValueError(
            f"logits has no classes (shape {work.shape}); the class axis is the "
            "last one and needs length at least 1"
        )
    reduction = check_reduction(reduction)
    eps = check_label_smoothing(label_smoothing)
    w = check_weight(weight, q, work.dtype)
    kind, t, ignore_index = classify_target(
        target, work.shape, ignore_index, work.dtype
    )
    x2 = work.reshape(-1, q)
    if kind == "index":
        t = t.reshape(-1)
        if reduction == "mean":
            w = _scaled_down(w)
    else:
        t = t.reshape(-1, q)
    return _Problem(x2, work.shape, dtype, kind, t, w, ignore_index, eps, reduction)


def _scaled_down(w: np.ndarray | None) -> np.ndarray | None:
    """Class weights whose largest is above the square root of the dtype's
    largest number, divided by the power of two that brings the largest into
    [0.5, 1). The mean over class indices is a ratio of two sums that are
    both linear in the weights, so it is unchanged; but its divisor, the sum
    of up to n weights, can no longer overflow. Smaller weights are left as
    they are (no copy, no changed bit)."""
    if w is None:
        return w
    top = w.max()  # (q >= 1)
    if not top > np.ldexp(w.dtype.type(1), np.finfo(w.dtype).maxexp // 2):
        return w
    _, e = np.frexp(top)
    return np.ldexp(w, -e)  # of w's dtype


def _nan_mean(pb: _Problem, g: np.ndarray | None):
    """The mean with a zero divisor: NaN, and NaN in the gradient ``g`` (if
    given, written in place) for every example that is not ignored; ignored
    examples keep their rows of zeros. That is torch's result (see Notes)."""
    if g is not None:
        if pb.ignore_index is None:
            g.fill(np.nan)
        else:
            g[pb.target != pb.ignore_index] = np.nan
    return pb.x2.dtype.type(np.nan)


#: The weighted divisor of the mean is summed over pieces of at least
#: _DENOM_PIECE examples; a piece's temporaries take at most _DENOM_ROW_BYTES
#: per example (the keep mask, 1 byte; the kept class indices, 8; their
#: weights, up to 8; rounded up to 24), and a piece has so many examples that
#: these stay below 1 / _DENOM_SHARE of the logits' bytes (24 * 50 = 1200
#: logits' bytes per example of a piece).
_DENOM_PIECE = 256
_DENOM_ROW_BYTES = 24
_DENOM_SHARE = 50


def _compute_index(pb: _Problem, want_grad: bool):
    """Class-index targets without label smoothing: the chunked kernel."""
    x2 = pb.x2
    n, q = x2.shape
    dt = x2.dtype
    y = pb.target
    denom = _index_divisor(pb) if pb.reduction == "mean" else dt.type(1)
    losses = np.empty(n, dtype=dt) if pb.reduction == "none" else None
    grad = np.empty((n, q), dtype=dt) if want_grad else None
    total = _kernels.cross_entropy_index(
        x2,
        y,
        weight=pb.weight,
        ignore_index=pb.ignore_index,
        denom=denom if denom != 0 else 1,  # a zero divisor is _nan_mean's
        losses=losses,
        grad=grad,
    )
    if losses is None and pb.reduction == "mean" and denom == 0:
        return _finish(pb, _nan_mean(pb, grad), dt.type(1), losses, grad)
    return _finish(pb, total, denom, losses, grad)


def _index_divisor(pb: _Problem):
    """The divisor of the mean for class-index targets: the sum of the target
    classes' weights over the examples that are not ignored."""
    n, q = pb.x2.shape
    dt = pb.x2.dtype
    y = pb.target
    if pb.weight is None and pb.ignore_index is None:
        return dt.type(n)
    if pb.weight is None:
        return dt.type(np.count_nonzero(y != pb.ignore_index))
    # summed in pieces whose temporaries are a fiftieth of the logits' size;
    # the pieces' float64 sums are added exactly rounded (fsum), so the
    # divisor is the same for the index and the dense kernel (long double
    # pieces are summed in long double, in order)
    acc = _kernels.accumulator(dt)
    piece = max(_DENOM_PIECE, n * q * dt.itemsize // (_DENOM_ROW_BYTES * _DENOM_SHARE))
    parts = []
    for a in range(0, n, piece):
        yc = y[a : a + piece]
        if pb.ignore_index is not None:
            yc = yc[yc != pb.ignore_index]
        parts.append(acc(np.sum(pb.weight[yc], dtype=acc)))
    return dt.type(math.fsum(parts) if acc is float else sum(parts, acc(0)))


def _finish(pb: _Problem, total: float, denom, losses, grad):
    """(loss, grad) in the results' dtype from a kernel's outputs."""
    dt = pb.x2.dtype
    if losses is not None:
        loss = losses.reshape(pb.shape[:-1])
    else:
        loss = dt.type(total)
        if pb.reduction == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                loss = loss / denom
    loss = np.asarray(loss).astype(pb.dtype, copy=False)[()]
    if grad is None:
        return loss, None
    return loss, grad.reshape(pb.shape).astype(pb.dtype, copy=False)


def _compute_dense(pb: _Problem, want_grad: bool):
    """Probability targets, or label smoothing: the chunked kernel for dense
    target rows, which makes each chunk of the target rows as it goes."""
    x2 = pb.x2
    n, q = x2.shape
    dt = x2.dtype
    if pb.reduction != "mean":
        denom = dt.type(1)
    elif pb.kind == "prob":
        denom = dt.type(n)
    else:
        denom = _index_divisor(pb)
    # The mean's divisor goes into the target rows (loss and gradient are
    # linear in them), which saves a pass over the gradient; a divisor below 1
    # (a small total weight) could make them overflow, so it divides the
    # results afterwards, and a zero divisor is _nan_mean's.
    fold = denom >= 1
    divisor = _kernels.accumulator(dt)(denom if fold else 1)
    common = {"eps": pb.eps, "weight": pb.weight, "divisor": divisor}
    if pb.kind == "prob":
        target = _kernels.DenseTarget(q, dt, probs=pb.target, **common)
    else:
        target = _kernels.DenseTarget(
            q, dt, labels=pb.target, ignore_index=pb.ignore_index, **common
        )
    losses = np.empty(n, dtype=dt) if pb.reduction == "none" else None
    grad = np.empty((n, q), dtype=dt) if want_grad else None
    total = _kernels.cross_entropy_dense(x2, target, losses=losses, grad=grad)
    if fold:  # the kernel summed the terms of the mean (or the sum)
        return _finish(pb, total, dt.type(1), losses, grad)
    if denom == 0:
        return _finish(pb, _nan_mean(pb, grad), dt.type(1), losses, grad)
    if grad is not None:
        np.divide(grad, denom, out=grad)
    return _finish(pb, total, denom, losses, grad)


def _compute(pb: _Problem, want_grad: bool):
    """The reduced loss and, if asked, the gradient (in the results' dtype).

    Class-index targets without label smoothing go to the chunked kernel for
    class indices; probability targets and label smoothing to the one for
    dense target rows.
    """
    if pb.kind == "index" and pb.eps == 0:
        return _compute_index(pb, want_grad)
    return _compute_dense(pb, want_grad)


def _evaluate(pb: _Problem, want_grad: bool):
    """:func:`_compute` without floating-point warnings, as in torch: a result
    too large for its dtype (a float16 sum, a mean divided by a subnormal
    total weight) becomes +-inf, and where an intermediate overflows and two
    infinities meet (inf - inf in the gradient of huge weighted targets), NaN.
    Every special value of the input is handled explicitly in _compute."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _compute(pb, want_grad)


_PARAMETERS = """\
    Parameters
    ----------
    logits : array_like, shape (..., q)
        Unnormalised scores o, class axis last. Floating input keeps its dtype
        (float16 is computed in float32 and rounded once); bool and integer
        input is converted to float64. A result too large for its dtype (a
        float16 sum, say) is :math:`\\pm\\infty`, without a warning, as in
        torch.
    target : array_like
        Either integer class indices of shape ``logits.shape[:-1]``, or a
        floating array of non-negative target probabilities y with the shape
        of ``logits`` (rows need not sum to one; see Notes).
    weight : array_like, shape (q,), optional
        Non-negative, finite weight :math:`w_j` of each class; all ones if
        omitted.
    ignore_index : int, optional
        A class-index target equal to this value contributes zero loss and
        zero gradient and is left out of the mean. Only for class-index
        targets, of any integer dtype; the comparison is exact, so a value
        that the target's dtype cannot hold (-100 with uint8 targets) matches
        nothing, and 2**64 - 1 in a uint64 target is never taken for -1.
        torch's default is -100; here the default is to ignore nothing.
    label_smoothing : float, optional
        :math:`\\varepsilon \\in [0, 1]`: mix the target with the uniform
        distribution, :math:`(1 - \\varepsilon)\\, y + \\varepsilon / q`.
    reduction : {"mean", "sum", "none"}, optional
        How the per-example losses are combined (see Notes)."""

_RAISES = """\
    Raises
    ------
    TypeError
        If ``logits`` or ``weight`` is complex, object or string; if class
        indices are not integers (e.g. a float array of the batch shape); if
        ``ignore_index`` is not an integer or ``label_smoothing`` not a real
        number.
    ValueError
        If ``logits`` is 0-dimensional or has no classes; if ``target`` has
        the wrong shape, a class index outside ``[0, q)`` that is not
        ``ignore_index``, or a negative or non-finite probability (the message
        gives the value and its position); if ``weight`` has the wrong shape
        or a negative or non-finite entry; if a weight or probability is too
        large for the dtype the loss is computed in (float32 for float32 and
        float16 logits; the values are checked as given, before that
        conversion); if ``label_smoothing`` is outside ``[0, 1]``; if
        ``reduction`` is unknown; if ``ignore_index`` is given with
        probability targets."""

_NOTES = r"""
    Notes
    -----
    The semantics are those of ``torch.nn.functional.cross_entropy`` with the
    class axis last. Write :math:`p_i = \operatorname{softmax}(o_i)` and
    :math:`w_j = 1` when ``weight`` is None. Every case is one formula in an
    effective target row :math:`t_i \ge 0`:

    .. math::

        \ell_i = \sum_{j=1}^{q} t_{ij}\,\bigl(\operatorname{logsumexp}(o_i)
        - o_{ij}\bigr) = -\sum_{j=1}^{q} t_{ij} \log p_{ij},

    with :math:`\log p_{ij}` computed as by :func:`log_softmax`. A term with
    :math:`t_{ij} = 0` is zero even when :math:`o_{ij} = -\infty` (a masked
    class); a row of logits with NaN or :math:`+\infty` gives NaN for that
    example only.

    *Class-index targets* :math:`c_i` (the set :math:`I` of examples whose
    target equals ``ignore_index`` is left out):

    .. math::

        t_{ij} = (1 - \varepsilon)\, w_{c_i} [j = c_i]
        + \frac{\varepsilon}{q} w_j \quad (i \notin I), \qquad
        t_{ij} = 0 \quad (i \in I),

    that is :math:`\ell_i = (1 - \varepsilon) w_{c_i} (-\log p_{i c_i})
    + \frac{\varepsilon}{q} \sum_j w_j (-\log p_{ij})`, exactly torch's
    formula (the smoothing term is weighted by each class's own weight).

    *Probability targets* :math:`y_i`:

    .. math::

        t_{ij} = w_j \Bigl((1 - \varepsilon)\, y_{ij} + \frac{\varepsilon}{q}\Bigr).

    *Reduction* over the :math:`n` examples (all axes but the last):
    ``"none"`` returns :math:`\ell_i` with shape ``logits.shape[:-1]``;
    ``"sum"`` returns :math:`\sum_i \ell_i`; ``"mean"`` returns

    .. math::

        \frac{\sum_i \ell_i}{\sum_{i \notin I} w_{c_i}}
        \ \text{(class indices)}, \qquad
        \frac{1}{n} \sum_i \ell_i \ \text{(probabilities)}.

    The mean over class indices is unchanged when every weight is multiplied
    by the same number, so weights whose largest is above :math:`2^{512}` in
    float64 (:math:`2^{64}` in float32) are first divided by the power of two
    that brings the largest into :math:`[1/2, 1)`: weights of ``1e308`` give
    the mean that weights of 1 give (to rounding), where the plain sum of the
    weights overflows and the mean becomes 0 or NaN (torch's result). A
    weight smaller than the largest by more than the dtype's normal range
    (:math:`2^{1022}` in float64) then becomes subnormal or zero.

    A mean whose divisor is zero (an empty batch, every target ignored, or
    every remaining target of a class of weight 0) is NaN, as in torch, even
    where label smoothing makes the sum of the losses positive; the sum is
    then that sum (0.0 for an empty batch or all targets ignored).

    *Gradient.* Since :math:`\partial \operatorname{logsumexp}(o_i) /
    \partial o_i = p_i`,

    .. math::

        \frac{\partial \ell_i}{\partial o_i}
        = \Bigl(\sum_{j} t_{ij}\Bigr) p_i - t_i,

    which is :math:`p_i - y_i` only when the target row sums to one; the
    weights and the mean's divisor scale it in the same way as the loss.
    The entry at the largest logit :math:`k` is computed as
    :math:`\bigl(\sum_{j \ne k} t_{ij} - t_{ik} s_i\bigr) / (1 + s_i)` with
    :math:`s_i = \sum_{j \ne k} \exp(o_{ij} - o_{ik})`, so
    :math:`1 - p_{ik}` is not lost when :math:`p_{ik}` rounds to 1.

    An ignored example's row of the gradient is exactly 0, whatever its
    logits (torch gives NaN there for NaN logits). A mean with a zero divisor
    has NaN in every row of an example that is not ignored, so its loss and
    gradient are both NaN; when every target is ignored the loss is NaN and
    the gradient all zeros. Both are torch's results.

    For float32 logits ``[1e8, 1e8, 1e8]`` and class 0 the loss is
    :math:`\log 3`, not the 0 that an unshifted or float32-overflowing
    formula gives."""

_SEE_ALSO = """\
    See Also
    --------
    cross_entropy : The loss.
    cross_entropy_grad : Its gradient with respect to the logits.
    cross_entropy_and_grad : Both, sharing the work.
    log_softmax : The log-probabilities the loss is built from."""


_fill = fill_doc(
    parameters=_PARAMETERS, raises=_RAISES, notes=_NOTES, see_also=_SEE_ALSO
)


@_fill
def cross_entropy(
    logits,
    target,
    *,
    weight=None,
    ignore_index=None,
    label_smoothing=0.0,
    reduction="mean",
):
    """Softmax cross-entropy between logits and targets, as in torch.

    {parameters}

    Returns
    -------
    numpy scalar or numpy.ndarray
        The mean or sum as a scalar, or the per-example losses of shape
        ``logits.shape[:-1]`` for ``reduction="none"``, in the logits'
        floating dtype.

    {raises}

    {see_also}

    {notes}

    {references}

    Examples
    --------
    >>> import numpy as np
    >>> import softmaxlib as sm
    >>> logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    >>> print(round(float(sm.cross_entropy(logits, [0, 1])), 6))
    0.31854
    >>> print(sm.cross_entropy(logits, [0, 1], reduction="none"))
    [0.41703002 0.22004952]

    Class indices and one-hot probabilities agree:

    >>> y = sm.one_hot([0, 1], 3)
    >>> print(round(float(sm.cross_entropy(logits, y)), 6))
    0.31854

    Where many libraries return 0, the shifted float32 computation gives
    log 3:

    >>> x = np.array([1e8, 1e8, 1e8], dtype=np.float32)
    >>> loss = sm.cross_entropy(x, 0)
    >>> print(loss.dtype, loss)
    float32 1.0986123
    """
    pb = _problem(logits, target, weight, ignore_index, label_smoothing, reduction)
    return _evaluate(pb, want_grad=False)[0]


@_fill
def cross_entropy_grad(
    logits,
    target,
    *,
    weight=None,
    ignore_index=None,
    label_smoothing=0.0,
    reduction="mean",
):
    """Gradient of :func:`cross_entropy` with respect to the logits.

    {parameters}

    Returns
    -------
    numpy.ndarray
        The gradient, with the shape and floating dtype of ``logits``. For
        ``reduction="none"`` row i holds the gradient of the loss of example
        i (equivalently, of the sum of the unreduced losses).

    {raises}

    {see_also}

    {notes}

    {references}

    Examples
    --------
    >>> import numpy as np
    >>> import softmaxlib as sm
    >>> logits = np.array([[2.0, 1.0, 0.1]])
    >>> print(sm.cross_entropy_grad(logits, [0]))
    [[-0.34099886  0.24243297  0.09856589]]
    >>> print(sm.softmax(logits) - sm.one_hot([0], 3))
    [[-0.34099886  0.24243297  0.09856589]]

    A target row that sums to 2 doubles the softmax term:

    >>> print(sm.cross_entropy_grad(logits, [[1.0, 1.0, 0.0]]))
    [[ 0.31800228 -0.51513406  0.19713178]]
    """
    pb = _problem(logits, target, weight, ignore_index, label_smoothing, reduction)
    return _evaluate(pb, want_grad=True)[1]


@_fill
def cross_entropy_and_grad(
    logits,
    target,
    *,
    weight=None,
    ignore_index=None,
    label_smoothing=0.0,
    reduction="mean",
):
    """:func:`cross_entropy` and its gradient, sharing one softmax pass.

    {parameters}

    Returns
    -------
    loss : numpy scalar or numpy.ndarray
        As returned by :func:`cross_entropy`.
    grad : numpy.ndarray
        As returned by :func:`cross_entropy_grad`.

    {raises}

    {see_also}

    {notes}

    {references}

    Examples
    --------
    >>> import numpy as np
    >>> import softmaxlib as sm
    >>> logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    >>> loss, grad = sm.cross_entropy_and_grad(logits, [0, 1], reduction="sum")
    >>> print(round(float(loss), 6))
    0.63708
    >>> print(grad)
    [[-0.34099886  0.24243297  0.09856589]
     [ 0.10860373 -0.19752094  0.08891721]]
    """
    pb = _problem(logits, target, weight, ignore_index, label_smoothing, reduction)
    return _evaluate(pb, want_grad=True)
