"""Sums that are accumulated in pieces, over more than one piece.

The divisor of a weighted mean (the total weight of the targets that are not
ignored) is summed over pieces of at least _DENOM_PIECE examples, more for
larger inputs, and the loss's sum over chunks of rows; a long row is summed
in blocks of ROW_BLOCK entries, and plain probability targets take row dots
of DOT_BLOCK entries. Each test here is longer than one such piece, with
values whose sums are exact, so that an entry counted twice or left out at a
piece's edge shows.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import softmaxlib as sm
from softmaxlib import _kernels, _loss

PIECE = _loss._DENOM_PIECE


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _problem(n, q, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, q)).astype(dtype)
    y = rng.integers(0, q, n)
    y[::3] = -1  # ignored
    w = rng.integers(1, 17, q) / 8  # eighths: every sum of them is exact
    return x, y, w


def _divisor(y, w):
    """The documented divisor: the sum of the target classes' weights over
    the examples that are not ignored (exact here)."""
    return math.fsum(w[y[y != -1]])


def _pieces(n, q, dtype):
    """The pieces the divisor is summed in: at least PIECE examples, and so
    many that their temporaries stay below a fiftieth of the logits."""
    size = n * q * np.dtype(dtype).itemsize
    return max(PIECE, size // (_loss._DENOM_ROW_BYTES * _loss._DENOM_SHARE))


# (n, q): one piece less one, exactly one, one more, three and a bit; and
# pieces larger than PIECE (q = 100 in float64: 2 pieces of n * 2 / 3).
SIZES = [(PIECE - 1, 3), (PIECE, 3), (PIECE + 1, 3), (3 * PIECE + 5, 4), (1000, 100)]


def test_the_sizes_cross_the_pieces():
    assert _pieces(1000, 100, np.float64) == 666  # two pieces, not of PIECE
    assert _pieces(1000, 100, np.float32) == 333  # four pieces
    assert _pieces(3 * PIECE + 5, 4, np.float64) == PIECE


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("eps", [0.0, 0.25])
def test_weighted_mean_divides_by_the_total_weight_of_every_piece(eps, dtype):
    """Class indices (the index kernel without smoothing, the dense one with
    it), weights, ignored targets: mean = sum / divisor, the gradient too."""
    for n, q in SIZES:
        x, y, w = _problem(n, q, dtype, seed=n + q)
        kw = {"weight": w, "ignore_index": -1, "label_smoothing": eps}
        divisor = _divisor(y, w)
        total, grad_sum = sm.cross_entropy_and_grad(x, y, reduction="sum", **kw)
        mean, grad_mean = sm.cross_entropy_and_grad(x, y, **kw)
        rtol = 4 * np.finfo(dtype).eps
        np.testing.assert_allclose(mean, total / divisor, rtol=rtol, err_msg=(n, q))
        scale = np.abs(grad_sum).max() / divisor
        np.testing.assert_allclose(
            grad_mean, grad_sum / dtype(divisor), rtol=0, atol=rtol * scale
        )
        if eps == 0:  # the index kernel divides the sum by the divisor itself
            assert mean == total / dtype(divisor)


def _divisor_in_pieces(y, w, piece, dtype=np.float64):
    """The divisor added as the library documents it: each piece's weights
    summed in float64 (or ``dtype``), the pieces' sums added exactly rounded."""
    parts = []
    for a in range(0, y.size, piece):
        yc = y[a : a + piece]
        parts.append(float(np.sum(w[yc[yc != -1]], dtype=dtype)))
    return math.fsum(parts)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_divisor_is_added_in_float64_in_the_documented_pieces(dtype):
    """With weights whose sums round, the mean shows how its divisor was
    added: in float64 whatever the logits' dtype, in the pieces _pieces
    gives (666 examples in float64 here, not PIECE). The case is one where
    other pieces, or a sum in float32, give another divisor."""
    n, q = 1000, 100
    x, y, _ = _problem(n, q, dtype, seed=5)
    w = np.random.default_rng(8).uniform(0.5, 2, q).astype(dtype)
    divisor = dtype(_divisor_in_pieces(y, w, _pieces(n, q, dtype)))
    total = sm.cross_entropy(x, y, weight=w, ignore_index=-1, reduction="sum")
    assert sm.cross_entropy(x, y, weight=w, ignore_index=-1) == total / divisor
    if dtype == np.float64:
        assert divisor != _divisor_in_pieces(y, w, PIECE)
    else:
        piece = _pieces(n, q, dtype)
        assert divisor != dtype(_divisor_in_pieces(y, w, piece, np.float32))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unweighted_means_over_many_pieces(dtype):
    """Without weights the divisor is a count: of the examples not ignored,
    or of all examples."""
    n, q = 3 * PIECE + 5, 4
    x, y, _ = _problem(n, q, dtype, seed=1)
    kept = int(np.count_nonzero(y != -1))
    for eps in (0.0, 0.25):
        kw = {"label_smoothing": eps}
        total = sm.cross_entropy(x, y, reduction="sum", ignore_index=-1, **kw)
        mean = sm.cross_entropy(x, y, ignore_index=-1, **kw)
        np.testing.assert_allclose(mean, total / kept, rtol=4 * np.finfo(dtype).eps)
        y_all = np.where(y == -1, 0, y)
        total = sm.cross_entropy(x, y_all, reduction="sum", **kw)
        np.testing.assert_allclose(
            sm.cross_entropy(x, y_all, **kw), total / n, rtol=4 * np.finfo(dtype).eps
        )


def test_divisor_of_a_zero_weight_piece():
    """Every target of a class of weight 0 in one piece and not in the
    others: only that piece adds nothing."""
    n, q = 3 * PIECE, 3
    x = np.zeros((n, q))
    y = np.ones(n, dtype=int)
    y[PIECE : 2 * PIECE] = 0  # the middle piece: class 0 only
    w = np.array([0.0, 0.5, 1.0])
    total = sm.cross_entropy(x, y, weight=w, reduction="sum")
    mean = sm.cross_entropy(x, y, weight=w)
    assert mean == total / (2 * PIECE * 0.5)
    # 2 * PIECE targets of weight 0.5, each with loss log 3
    np.testing.assert_allclose(total, 2 * PIECE * 0.5 * np.log(3), rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sum_over_many_chunks_is_the_sum_of_the_losses(dtype):
    """The loss's sum is added chunk by chunk: with rows of equal loss the
    sum over several chunks is exact, for each kernel."""
    q = 100
    n = 3 * (_kernels.CHUNK_BYTES // (q * np.dtype(dtype).itemsize)) + 7
    x = np.zeros((n, q), dtype=dtype)
    x[:, 0] = 1.0
    y = np.zeros(n, dtype=int)
    t = np.zeros((n, q), dtype=dtype)
    t[:, 0] = 1
    for target, kw in [(y, {}), (y, {"label_smoothing": 0.5}), (t, {})]:
        one = sm.cross_entropy(x[:1], target[:1], reduction="sum", **kw)
        losses = sm.cross_entropy(x, target, reduction="none", **kw)
        np.testing.assert_array_equal(losses, one)
        total = sm.cross_entropy(x, target, reduction="sum", **kw)
        np.testing.assert_allclose(total, n * float(one), rtol=n * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_row_dots_over_many_blocks(dtype):
    """Plain probability targets with many classes: the loss takes row dots
    in blocks of DOT_BLOCK entries; with a target spread over every block,
    each block's part counts once."""
    block = _kernels.DOT_BLOCK
    for q in (block - 1, block, block + 1, 3 * block + 8):
        x = np.zeros((2, q), dtype=dtype)
        x[:, 0] = 2.0
        t = np.zeros((2, q), dtype=dtype)
        t[0, :] = 1.0  # every class, in every block
        t[1, -1] = 1.0  # the last class only
        losses = sm.cross_entropy(x, t, reduction="none")
        lse = np.log(np.exp(2.0) + (q - 1))
        want = [q * lse - 2.0, lse]
        np.testing.assert_allclose(losses, want, rtol=q * np.finfo(dtype).eps)


def test_one_class_is_allowed():
    """num_classes = 1 is the smallest valid count: every label is 0."""
    np.testing.assert_array_equal(sm.one_hot([0, 0], 1), [[1.0], [1.0]])
    assert sm.cross_entropy(np.zeros((2, 1)), [0, 0]) == 0


@pytest.mark.parametrize("special", [np.nan, np.inf, -np.inf])
def test_a_long_row_summed_in_blocks_with_a_special_value(special):
    """The loss alone of rows too long for the scratch budget (summed in
    blocks) with NaN, +inf or every entry -inf: NaN for that example only."""
    q = 10_000
    x = np.random.default_rng(2).standard_normal((10, q))
    if special == -np.inf:
        x[3] = -np.inf
    else:
        x[3, 17] = special
    y = np.arange(10)
    losses = sm.cross_entropy(x, y, reduction="none")
    assert np.isnan(losses[3])
    assert np.isfinite(np.delete(losses, 3)).all()
    np.testing.assert_array_equal(
        np.delete(losses, 3),
        sm.cross_entropy(np.delete(x, 3, 0), np.delete(y, 3), reduction="none"),
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_long_rows_in_blocks_with_targets_in_any_layout(dtype):
    """Rows too long for the scratch budget are summed in blocks; plain
    probability targets whose rows are not contiguous are copied a block at
    a time. Fortran order, strided and C order give the same bits."""
    n, q = 2, 60_123
    rng = np.random.default_rng(6)
    x = rng.standard_normal((n, q)).astype(dtype)
    t = rng.random((n, q)).astype(dtype)
    want = sm.cross_entropy_and_grad(x, t, reduction="none")
    wide = np.zeros((n, 2 * q), dtype=dtype)
    wide[:, ::2] = t
    for other in (np.asfortranarray(t), wide[:, ::2]):
        got = sm.cross_entropy_and_grad(x, other, reduction="none")
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.longdouble])
def test_rows_in_blocks_summed_over_the_batch(dtype):
    """The mean and the sum of losses of rows summed in blocks (smoothed
    class indices, a target at the first entry of a block and at the last
    entry of the one before, for the blocks of ROW_BLOCK entries of the
    first pass and for the pieces that _pairwise cuts for the loss): the
    per-example losses added in the dtype."""
    q = 40_000
    block = _kernels.ROW_BLOCK  # one array of scratch: blocks of ROW_BLOCK
    leaves = []
    _kernels._pairwise(0, q, lambda lo, hi: leaves.append((lo, hi)) or 0, block)
    edge, last = leaves[1][0], leaves[-1][0]  # first entries of two pieces
    assert edge % block and last % block  # not where the ROW_BLOCK blocks start
    y = np.array([block, block - 1, 3 * block, edge, edge - 1, last])
    n = y.size
    x = np.random.default_rng(7).standard_normal((n, q)).astype(dtype)
    kw = {"label_smoothing": 0.1}
    losses, grads = sm.cross_entropy_and_grad(x, y, reduction="none", **kw)
    total = sm.cross_entropy(x, y, reduction="sum", **kw)
    assert total.dtype == dtype
    # the examples' losses are added as Python floats (float64), or in long
    # double for long double
    acc = _kernels.accumulator(dtype)
    assert total == dtype(sum((acc(v) for v in losses), acc(0)))
    # (the mean's divisor is folded into the targets in the same type)
    rtol = 4 * max(np.finfo(dtype).eps, np.finfo(acc).eps)
    np.testing.assert_allclose(sm.cross_entropy(x, y, **kw), total / n, rtol=rtol)
    # the targets at the edges of blocks: t_y has its peak there, and the
    # gradient at y is that of the unblocked formula, p_y T - t_y
    t = np.full((n, q), 0.1 / q, dtype=dtype)
    t[np.arange(n), y] += 0.9
    p = sm.softmax(x)
    want = p * t.sum(axis=1, keepdims=True) - t
    rows = np.arange(n)
    np.testing.assert_allclose(grads[rows, y], want[rows, y], rtol=1e-5)
    # ten copies of the rows: with k <= 2 scratch arrays a row, rows are
    # blocked only while k > MEMORY_FRACTION * n, so these are summed whole,
    # by another path
    assert 2 <= _kernels.MEMORY_FRACTION * 10 * n
    unblocked = sm.cross_entropy(
        np.tile(x, (10, 1)), np.tile(y, 10), reduction="none", **kw
    )
    np.testing.assert_array_equal(losses, unblocked[:n])


@pytest.mark.parametrize("divisor", [0.75, 1.0, 1.5, 6.0])
def test_the_divisor_is_folded_into_the_targets_from_1_on(divisor):
    """Smoothed class indices: a mean's divisor of 1 or more goes into the
    target rows (loss and gradient have the bits of the targets divided by
    it); below 1 the results are divided afterwards. Either way, the mean is
    the sum divided by the divisor."""
    from test_kernels import dense_reference

    x = np.random.default_rng(8).standard_normal((4, 5))
    y = np.zeros(4, dtype=int)
    w = np.array([divisor / 4, 1.0, 2.0, 0.5, 1.0])  # four targets of class 0
    kw = {"weight": w, "label_smoothing": 0.2}
    total, grad_sum = sm.cross_entropy_and_grad(x, y, reduction="sum", **kw)
    mean, grad = sm.cross_entropy_and_grad(x, y, **kw)
    np.testing.assert_allclose(mean, total / divisor, rtol=1e-15)
    np.testing.assert_allclose(grad, grad_sum / divisor, rtol=1e-14, atol=1e-17)
    folded = dense_reference(x, labels=y, eps=0.2, weight=w, divisor=divisor)[1]
    if divisor >= 1:
        np.testing.assert_array_equal(grad, folded)
    else:
        np.testing.assert_array_equal(grad, grad_sum / divisor)


def test_gd_that_meets_tol_returns_that_iterate_quietly():
    """The largest gradient entry at most tol: "gd" stops there, converged."""
    from softmaxlib import SoftmaxRegression

    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = SoftmaxRegression(solver="gd", l2=0.1, tol=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X, [0, 0, 1, 1])
    assert model.n_iter_ == 1 == len(model.loss_curve_)
    assert model.best_loss_ == model.loss_curve_[0]


@pytest.mark.skipif(
    np.finfo(np.longdouble).nmant <= np.finfo(np.float64).nmant,
    reason="long double is float64 here",
)
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_long_double_weighted_mean_keeps_long_double_digits(eps):
    """A long double weighted mean over more than one piece of the divisor:
    weights in thirds (which float64 cannot hold), their sum and the sum of
    the losses both kept in long double, so the mean is the ratio of the two
    long double sums to a few long double ulps (float64 sums would be off by
    a thousand), from cross_entropy and from linear_cross_entropy."""
    n, q = 3 * PIECE + 5, 4
    rng = np.random.default_rng(11)
    x = rng.standard_normal((n, q)).astype(np.longdouble)
    y = rng.integers(0, q, n)
    w = np.array([1, 2, 4, 5], dtype=np.longdouble) / 3
    kw = {"weight": w, "label_smoothing": eps}
    losses = sm.cross_entropy(x, y, reduction="none", **kw)
    want = np.sum(losses) / np.sum(w[y])
    bound = 16 * np.finfo(np.longdouble).eps * want
    eye = np.eye(q, dtype=np.longdouble)
    for got in (
        sm.cross_entropy(x, y, **kw),
        sm.cross_entropy_and_grad(x, y, **kw)[0],
        sm.linear_cross_entropy(x, eye, y, strategy="rows", **kw),
        sm.linear_cross_entropy(x, eye, y, strategy="columns", **kw),
    ):
        assert got.dtype == np.longdouble
        assert abs(got - want) <= bound


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_the_divisor_adds_its_pieces_exactly_rounded(eps):
    """The pieces' sums of the weighted divisor are added exactly rounded:
    a first piece that sums to 2**53 and 32 that sum to 1 each give
    2**53 + 32, where adding them one by one would stay at 2**53 (each 1 is
    half an ulp there and rounds away): a mean 3.6e-15 smaller. (The dense
    kernel folds the divisor into its targets, a few ulps from total / divisor.)"""
    k = 32
    y = np.repeat([0, 1], [PIECE, k * PIECE])
    w = np.array([2.0**53 / PIECE, 1.0 / PIECE])
    x = np.random.default_rng(2).standard_normal((y.size, 2))
    kw = {"weight": w, "label_smoothing": eps}
    total = sm.cross_entropy(x, y, reduction="sum", **kw)
    mean = sm.cross_entropy(x, y, **kw)
    divisor = 2.0**53 + k
    assert divisor != (2.0**53 + 1) + 1  # what adding one by one gives
    np.testing.assert_allclose(mean, total / divisor, rtol=1e-15)
    assert not math.isclose(mean, total / 2.0**53, rel_tol=2e-15)


@pytest.mark.parametrize(
    ("plain", "fortran"), [(True, False), (True, True), (False, False)]
)
def test_rows_in_blocks_with_masked_classes_and_nan(plain, fortran):
    """Rows summed in blocks (three rows of 40,000 classes), probability
    targets, plain (with contiguous rows or not) or weighted: masked classes
    (logit -inf, target 0) in several blocks cost nothing, as if their
    columns were not there, and a row with a NaN gives NaN in its own row
    only."""
    n, q = 3, 40_000
    block = _kernels.ROW_BLOCK
    rng = np.random.default_rng(9)
    x = rng.standard_normal((n, q))
    y = rng.random((n, q))
    masked = np.array([1, block - 1, block, 5 * block + 3, q - 1])
    x[:2, masked] = -np.inf
    y[:, masked] = 0
    y /= y.sum(axis=1, keepdims=True)
    x[2, 7] = np.nan
    w = None if plain else np.linspace(0.5, 2, q)
    t = np.asfortranarray(y) if fortran else y
    loss, grad = sm.cross_entropy_and_grad(x, t, weight=w, reduction="none")
    keep = np.setdiff1d(np.arange(q), masked)
    want = sm.cross_entropy(
        x[:2, keep],
        y[:2, keep],
        weight=None if w is None else w[keep],
        reduction="none",
    )
    np.testing.assert_allclose(loss[:2], want, rtol=1e-13)
    assert np.all(grad[:2, masked] == 0) and np.all(np.isfinite(grad[:2]))
    assert np.isnan(loss[2]) and np.all(np.isnan(grad[2]))
