"""linear_cross_entropy(_and_grad) and logsumexp_merge.

The reference is the materialised computation the functions replace:
``O = X @ W + b``, ``cross_entropy_and_grad(O, target, ...)``, then
``G @ W.T``, ``X.T @ G`` and ``G.sum(axis=0)``. Both strategies are compared
with it over shapes around their block sizes and every keyword, with the
special values cross_entropy documents; then against central differences, a
50-digit mpmath reference, and tracemalloc's count of the memory they take.
"""

from __future__ import annotations

import itertools
import re
import tracemalloc
import warnings

import mpmath as mp
import numpy as np
import pytest

import softmaxlib as sm
from softmaxlib import _kernels, _linear

pytestmark = pytest.mark.filterwarnings("error")

STRATEGIES = ("rows", "columns")
# (n, d, V, block): V a multiple of the block, V not a multiple, V smaller
# than the block, n = 1, a block of one row or one class
SHAPES = [
    (7, 4, 30, 10),
    (7, 4, 33, 10),
    (5, 3, 6, 10),
    (1, 5, 50, 7),
    (6, 2, 9, 1),
]


def materialised(X, W, target, bias=None, **kw):
    """(loss, dX, dW, db) the way the library's functions avoid."""
    logits = X @ W if bias is None else X @ W + bias
    loss, G = sm.cross_entropy_and_grad(logits, target, **kw)
    V = W.shape[1]
    G2 = G.reshape(-1, V)
    dX = (G2 @ W.T).reshape(X.shape)
    dW = X.reshape(G2.shape[0], X.shape[-1]).T @ G2
    db = None if bias is None else G2.sum(axis=0)
    return loss, dX, dW, db


def relative(a, b) -> float:
    """Normwise relative difference of a from b (0 for two empty arrays)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = np.linalg.norm(b)
    diff = np.linalg.norm(a - b)
    return float(diff / scale) if scale else float(diff)


def assert_matches(got, ref, loss_tol=1e-12, grad_tol=1e-10):
    """The loss to ``loss_tol`` and every gradient to ``grad_tol`` (normwise
    relative), with NaN and +-inf in the same places and the same dtypes."""
    assert len(got) == len(ref)
    for i, (a, b) in enumerate(zip(got, ref, strict=True)):
        if b is None:
            assert a is None
            continue
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype, (i, a.shape, b.shape)
        for mask in (np.isnan, np.isposinf, np.isneginf):
            np.testing.assert_array_equal(mask(a), mask(b), err_msg=f"output {i}")
        fin = np.isfinite(b)
        tol = loss_tol if i == 0 else grad_tol
        assert relative(a[fin], b[fin]) <= tol, (i, relative(a[fin], b[fin]))


def both(X, W, target, **kw):
    """(loss, dX, dW, db) from the library; the loss-only call must agree
    (to rounding: like cross_entropy's kernel for class indices, it may add
    the losses in other chunks when it has no gradient to write)."""
    got = sm.linear_cross_entropy_and_grad(X, W, target, **kw)
    alone = sm.linear_cross_entropy(X, W, target, **kw)
    eps = np.finfo(np.asarray(alone).dtype).eps
    np.testing.assert_allclose(alone, got[0], rtol=8 * eps, atol=0)
    return got


def problem(rng, n, d, V, scale=2.0):
    X = rng.standard_normal((n, d))
    W = scale * rng.standard_normal((d, V)) / np.sqrt(d)
    b = rng.standard_normal(V)
    y = rng.integers(0, V, size=n)
    return X, W, b, y


KEYWORDS = [
    {},
    {"reduction": "sum"},
    {"reduction": "none"},
    {"label_smoothing": 0.1},
    {"label_smoothing": 0.2, "reduction": "none"},
]


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize(("n", "d", "V", "block"), SHAPES)
def test_parity_with_the_materialised_loss(strategy, n, d, V, block):
    rng = np.random.default_rng(n * 1000 + V)
    X, W, b, y = problem(rng, n, d, V)
    w = rng.uniform(0.1, 2.0, size=V)
    ignored = y.copy()
    ignored[::2] = -100
    cases = [(y, kw) for kw in KEYWORDS]
    cases += [
        (y, {"weight": w}),
        (y, {"weight": w, "label_smoothing": 0.3, "reduction": "sum"}),
        (ignored, {"ignore_index": -100, "weight": w}),
        (ignored, {"ignore_index": -100, "label_smoothing": 0.1}),
        (np.full(n, -100), {"ignore_index": -100}),  # every row ignored
        (np.full(n, -100), {"ignore_index": -100, "reduction": "sum"}),
        (sm.softmax(rng.standard_normal((n, V))), {}),
        (sm.softmax(rng.standard_normal((n, V))), {"weight": w, "reduction": "none"}),
        (sm.softmax(rng.standard_normal((n, V))), {"weight": w}),  # mean: / n
        (rng.random((n, V)), {"label_smoothing": 0.2}),  # rows not summing to 1
    ]
    for i, (target, kw) in enumerate(cases):
        for bias in (b, None) if i < 2 else (b,):
            ref = materialised(X, W, target, bias=bias, **kw)
            got = both(
                X, W, target, bias=bias, strategy=strategy, block_size=block, **kw
            )
            assert_matches(got, ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_default_strategy_and_blocks_of_the_budget(dtype):
    """Without a strategy or block size: budgets that give one row block,
    several row blocks, and column blocks over tiles of rows."""
    rng = np.random.default_rng(1)
    X, W, b, y = problem(rng, 300, 8, 600)
    X, W, b = (a.astype(dtype) for a in (X, W, b))
    tol = (1e-12, 1e-10) if dtype == np.float64 else (2e-6, 2e-5)
    row = 600 * np.dtype(dtype).itemsize
    for budget in (2**24, 150 * row, 128 * row - 1, 100 * row):
        for kw in ({}, {"label_smoothing": 0.1}):
            got = both(X, W, y, bias=b, memory_budget=budget, **kw)
            assert_matches(got, materialised(X, W, y, bias=b, **kw), *tol)


#: The temporaries' share of the budget, as the docstring states it.
SHARE = 16


def smallest_budget(blocks: int) -> int:
    """The smallest budget B whose share for blocks, B - B // 16, is at least
    ``blocks`` bytes."""
    B = max(1, SHARE * blocks // (SHARE - 1) - SHARE)
    while B - B // SHARE < blocks:
        B += 1
    return B


def test_the_strategy_switches_where_the_docstring_says():
    """Row blocks from min(n, 128) rows within fifteen sixteenths of the
    budget; column blocks one byte below; half the rows for dense targets."""
    assert _linear.PIECE_SHARE == SHARE
    X, W, b, y = problem(np.random.default_rng(2), 300, 3, 1000)
    row = 1000 * 8
    for rows, smoothing in ((128, 0.0), (128, 0.1), (5, 0.0)):
        n = 300 if rows == 128 else rows
        k = 2 if smoothing else 1
        s = _linear._setup(X[:n], W, y[:n], b, None, None, smoothing, "mean")
        B = smallest_budget(rows * k * row)
        plan = _linear._plan(s, None, None, B)
        assert plan == ("rows", rows, 1000, B // SHARE)
        plan = _linear._plan(s, None, None, B - 1)
        assert plan.strategy == "columns"
        # all the rows, as many classes as fit
        assert plan.rows == n
        assert plan.columns == (B - 1 - (B - 1) // SHARE) // (k * n * 8)
        assert plan.piece == (B - 1) // SHARE
    s = _linear._setup(X, W, y, b, None, None, 0.0, "mean")
    assert _linear._plan(s, None, None, 10**9)[:3] == ("rows", 300, 1000)
    # a budget too small for 256 classes over all rows: tiles of rows
    plan = _linear._plan(s, "columns", None, smallest_budget(100 * 8))
    assert plan[:3] == ("columns", 1, 100)


def test_reduction_none_gives_the_gradient_of_the_sum():
    X, W, b, y = problem(np.random.default_rng(3), 6, 3, 20)
    for strategy in STRATEGIES:
        none = both(X, W, y, bias=b, reduction="none", strategy=strategy)
        total = both(X, W, y, bias=b, reduction="sum", strategy=strategy)
        assert np.isclose(none[0].sum(), total[0], rtol=1e-14)
        for a, c in zip(none[1:], total[1:], strict=True):
            np.testing.assert_allclose(a, c, rtol=1e-14)


def test_special_values_as_cross_entropy_treats_them():
    """Masked classes (bias -inf) with and without target weight, NaN and
    +inf logits, ignored NaN rows, zero and tiny divisors of the mean."""
    rng = np.random.default_rng(4)
    n, d, V = 6, 3, 40
    X, W, b, y = problem(rng, n, d, V)
    masked = b.copy()
    masked[[0, 7, 30]] = -np.inf
    first_masked = b.copy()
    first_masked[:10] = -np.inf  # a whole first block of -inf
    y_on_mask = y.copy()
    y_on_mask[0] = 7
    no_mask_weight = np.where(np.isinf(masked), 0.0, 1.0)
    X_nan = X.copy()
    X_nan[2, 1] = np.nan
    inf_bias = b.copy()
    inf_bias[3] = np.inf
    zero_target_weight = np.ones(V)
    zero_target_weight[y] = 0
    probs = sm.softmax(rng.standard_normal((n, V)))
    probs[:, [0, 7, 30]] = 0
    cases = [
        (X, masked, y, {}),
        (X, masked, y_on_mask, {}),  # the loss is +inf
        (X, masked, y_on_mask, {"weight": no_mask_weight}),
        (X, masked, y, {"label_smoothing": 0.2}),
        (X, masked, y, {"label_smoothing": 0.2, "weight": no_mask_weight}),
        (
            X,
            first_masked,
            y % 30 + 10,
            {
                "label_smoothing": 0.2,
                "weight": np.where(np.isinf(first_masked), 0, 1.0),
            },
        ),
        (X, masked, probs, {}),
        (X_nan, b, y, {}),
        (X_nan, b, y, {"label_smoothing": 0.1}),
        (X_nan, b, np.where(np.arange(n) == 2, -1, y), {"ignore_index": -1}),
        (X, inf_bias, y, {}),
        (X, np.full(V, -np.inf), y, {}),
        (X, b, y, {"weight": zero_target_weight}),  # divisor 0
        (X, b, y, {"weight": zero_target_weight, "label_smoothing": 0.1}),
        (X, b, y, {"weight": np.full(V, 1e-3)}),  # divisor below 1
        (X, b, y, {"weight": np.full(V, 1e-3), "label_smoothing": 0.3}),
    ]
    for (Xc, bc, target, kw), reduction in itertools.product(
        cases, ("mean", "sum", "none")
    ):
        ref = materialised(Xc, W, target, bias=bc, reduction=reduction, **kw)
        for strategy, block in (("rows", 4), ("columns", 8)):
            got = both(
                Xc,
                W,
                target,
                bias=bc,
                reduction=reduction,
                strategy=strategy,
                block_size=block,
                **kw,
            )
            assert_matches(got, ref)


def test_confident_rows_keep_the_digits_of_p_minus_one():
    """Where the target class has probability 1 - 1e-20, its gradient entry
    is -1e-20 to full relative accuracy (not 1 - 1 = 0), as in
    cross_entropy_grad: with one example, dL/db is that row of G."""
    X = np.array([[1.0, -2.0]])
    W = np.array([[0.5, -1.0, 2.0, 0.0, 1.5], [1.0, 0.25, -0.5, 2.0, 0.0]])
    b = np.array([0.0, 0.0, 50.0, 0.0, 0.0])  # class 2 dominates by ~50
    one_hot = np.array([[0.0, 0.0, 1.0, 0.0, 0.0]])
    for target in ([2], one_hot, 0.5 * one_hot):
        G = sm.cross_entropy_grad(X @ W + b, target)
        assert 0 < -G[0, 2] < 1e-20
        for strategy in STRATEGIES:
            gb = sm.linear_cross_entropy_and_grad(
                X, W, target, bias=b, strategy=strategy, block_size=2
            )[3]
            np.testing.assert_allclose(gb, G[0], rtol=1e-13, atol=0)


def test_empty_batch_no_features_one_class_and_batch_shapes():
    rng = np.random.default_rng(5)
    W = rng.standard_normal((3, 12))
    b = rng.standard_normal(12)
    for strategy, reduction in itertools.product(STRATEGIES, ("mean", "sum", "none")):
        kw = {"bias": b, "reduction": reduction}
        empty = (np.zeros((0, 3)), W, np.zeros(0, dtype=int))
        assert_matches(
            both(*empty, strategy=strategy, **kw), materialised(*empty, **kw)
        )
        X3 = rng.standard_normal((2, 3, 3))
        y3 = rng.integers(0, 12, size=(2, 3))
        assert_matches(
            both(X3, W, y3, strategy=strategy, block_size=5, **kw),
            materialised(X3, W, y3, **kw),
        )
        x1 = rng.standard_normal(3)  # one example, no batch axis
        assert_matches(
            both(x1, W, 4, strategy=strategy, **kw), materialised(x1, W, 4, **kw)
        )
        X0, W0 = np.zeros((3, 0)), np.zeros((0, 12))
        assert_matches(
            both(X0, W0, y3[0], strategy=strategy, **kw),
            materialised(X0, W0, y3[0], **kw),
        )
    one = (rng.standard_normal((4, 2)), rng.standard_normal((2, 1)), np.zeros(4, int))
    assert_matches(both(*one), materialised(*one))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_dtypes(strategy):
    """float32 keeps float32 (to float32's accuracy), float16 is computed in
    float32 and rounded once, mixed inputs take the dtype of X @ W + b,
    integers become float64."""
    rng = np.random.default_rng(6)
    X, W, b, y = problem(rng, 9, 4, 70)
    X32, W32, b32 = (a.astype(np.float32) for a in (X, W, b))
    got = both(X32, W32, y, bias=b32, strategy=strategy, block_size=8)
    assert_matches(got, materialised(X32, W32, y, bias=b32), 1e-5, 1e-4)
    X16, W16, b16 = (a.astype(np.float16) for a in (X, W, b))
    got = both(X16, W16, y, bias=b16, strategy=strategy, block_size=8)
    up = [a.astype(np.float32) for a in (X16, W16, b16)]
    ref = materialised(up[0], up[1], y, bias=up[2])
    assert all(a.dtype == np.float16 for a in got)
    for a, r in zip(got, ref, strict=True):
        np.testing.assert_allclose(a, r.astype(np.float16), rtol=2e-3, atol=1e-4)
    got = both(X32, W, y, bias=b32, strategy=strategy)
    assert all(a.dtype == np.float64 for a in got)
    Xi, Wi = rng.integers(-3, 3, (5, 4)), rng.integers(-2, 3, (4, 30))
    got = both(Xi, Wi, y[:5] % 30, strategy=strategy)
    assert_matches(got, materialised(Xi.astype(float), Wi.astype(float), y[:5] % 30))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_layouts(strategy):
    """Fortran, strided and reversed X and W give the same results to
    rounding (BLAS may round a transposed operand differently)."""
    rng = np.random.default_rng(7)
    X, W, b, y = problem(rng, 8, 5, 45)
    ref = both(X, W, y, bias=b, strategy=strategy, block_size=4)
    Xs = np.repeat(X, 2, axis=1)[:, ::2]
    Ws = np.repeat(W, 2, axis=1)[:, ::2]
    for XX, WW in [
        (X, np.asfortranarray(W)),
        (np.asfortranarray(X), W),
        (Xs, Ws),
        (X[::-1][::-1], W[::-1, ::-1][::-1, ::-1]),
    ]:
        got = both(XX, WW, y, bias=b, strategy=strategy, block_size=4)
        assert_matches(got, ref, 1e-14, 1e-13)


def test_gradients_against_central_differences():
    """dL/dX, dL/dW and dL/db of both strategies against central
    differences of the loss (h = 1e-5), with weights and smoothing."""
    rng = np.random.default_rng(8)
    X, W, b, y = problem(rng, 3, 2, 7)
    w = rng.uniform(0.5, 2.0, size=7)
    kw = {"weight": w, "label_smoothing": 0.1}
    h = 1e-5

    def loss(XX, WW, bb):
        return float(sm.linear_cross_entropy(XX, WW, y, bias=bb, **kw))

    args = [X, W, b]
    for strategy in STRATEGIES:
        _, *grads = sm.linear_cross_entropy_and_grad(
            X, W, y, bias=b, strategy=strategy, block_size=3, **kw
        )
        for pos, grad in enumerate(grads):
            numeric = np.zeros_like(grad)
            for idx in np.ndindex(grad.shape):
                plus = [a.copy() for a in args]
                minus = [a.copy() for a in args]
                plus[pos][idx] += h
                minus[pos][idx] -= h
                numeric[idx] = (loss(*plus) - loss(*minus)) / (2 * h)
            assert relative(grad, numeric) < 1e-8, (strategy, pos)


def test_against_a_50_digit_reference():
    """Loss and gradients of a tiny case against mpmath at 50 digits, from the
    same float inputs: the loss to 1e-12 and the gradients to 1e-10
    (normwise), for both strategies and for the materialised path."""
    rng = np.random.default_rng(9)
    n, d, V = 4, 3, 9
    X, W, b, y = problem(rng, n, d, V, scale=6.0)
    with mp.workdps(50):
        Xm = mp.matrix(X.tolist())
        Wm = mp.matrix(W.tolist())
        XW = Xm * Wm
        G = mp.matrix(n, V)
        total = mp.mpf(0)
        for i in range(n):
            row = [XW[i, j] + mp.mpf(float(b[j])) for j in range(V)]
            top = max(row)
            lse = top + mp.log(mp.fsum(mp.exp(o - top) for o in row))
            total += lse - row[y[i]]
            for j in range(V):
                G[i, j] = (mp.exp(row[j] - lse) - (1 if j == y[i] else 0)) / n
        ref_loss = float(total / n)
        ref = [G * Wm.T, Xm.T * G]
        ref = [np.array(a.tolist(), dtype=float) for a in ref]
        ref.append(
            np.array([float(mp.fsum(G[i, j] for i in range(n))) for j in range(V)])
        )
    results = {
        "materialised": materialised(X, W, y, bias=b),
        **{
            s: sm.linear_cross_entropy_and_grad(
                X, W, y, bias=b, strategy=s, block_size=2
            )
            for s in STRATEGIES
        },
    }
    for name, (loss, *grads) in results.items():
        assert abs(float(loss) - ref_loss) <= 1e-12 * abs(ref_loss), name
        for got, want in zip(grads, ref, strict=True):
            assert relative(got, want) <= 1e-10, name


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_memory_stays_within_the_budget(strategy):
    """tracemalloc: beyond the outputs, a mid-size call takes its budget and
    a little more (kernel scratch, vectors), far below the n x V logits
    (16 MiB here)."""
    rng = np.random.default_rng(10)
    n, d, V = 256, 16, 8192
    X, W, b, y = problem(rng, n, d, V)
    logits_bytes = n * V * 8
    budget = 1 << 20
    for kw in ({}, {"label_smoothing": 0.1}):
        _kernels.clear_scratch()
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            out = sm.linear_cross_entropy_and_grad(
                X, W, y, bias=b, strategy=strategy, memory_budget=budget, **kw
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        kept = sum(a.nbytes for a in out if isinstance(a, np.ndarray))
        extra = peak - kept
        assert extra <= budget + (1 << 18) + 64 * (n + V) * 8, (kw, extra)
        assert extra < logits_bytes / 4
    # the loss alone: the budget and the kernels' scratch, no outputs
    _kernels.clear_scratch()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        sm.linear_cross_entropy(
            X, W, y, bias=b, strategy=strategy, memory_budget=budget
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= budget + (1 << 18) + 64 * (n + V) * 8


def test_the_index_kernel_may_write_its_gradient_over_its_logits():
    """Row blocks pass the same buffer as logits and gradient to
    cross_entropy_index: that must give the bits of separate arrays, for few
    and many classes and with special values."""
    rng = np.random.default_rng(11)
    for q in (3, 63, 64, 700):
        x = 3 * rng.standard_normal((50, q))
        x[1, 0] = np.nan
        x[2, :] = -np.inf
        x[3, q // 2] = np.inf
        x[4, 0] = -np.inf
        y = rng.integers(0, q, size=50)
        y[5] = -1
        w = rng.uniform(0.5, 2, size=q)
        for weight, ignore in ((None, None), (w, -1)):
            kw = {"weight": weight, "ignore_index": ignore, "denom": 7.0}
            yy = y if ignore is not None else np.abs(y)
            grad = np.empty_like(x)
            losses = np.empty(50)
            with _kernels._context():
                total = _kernels.cross_entropy_index(
                    x, yy, losses=losses, grad=grad, **kw
                )
                inplace = x.copy()
                losses2 = np.empty(50)
                total2 = _kernels.cross_entropy_index(
                    inplace, yy, losses=losses2, grad=inplace, **kw
                )
            np.testing.assert_array_equal(inplace, grad)
            np.testing.assert_array_equal(losses2, losses)
            assert total2 == total or (np.isnan(total) and np.isnan(total2))


# ------------------------------------------------------------------ errors


def test_bad_shapes_name_the_argument_and_the_shape():
    X, W, b, y = problem(np.random.default_rng(12), 4, 3, 10)
    for args, kw, message in [
        (
            (np.float64(1.0), W, y),
            {},
            r"^X must have at least one dimension \(the features, last\), got a "
            r"0-dimensional array$",
        ),
        ((X, W[:2], y), {}, r"W must have shape \(d, V\) with d = X.shape\[-1\] = 3"),
        ((X, W[0], y), {}, r"got shape \(10,\)"),
        (
            (X, W[:, :0], y),
            {},
            r"^W has no classes \(shape \(3, 0\)\); its second axis, the classes, "
            r"needs length at least 1$",
        ),
        ((X, W, y), {"bias": b[:9]}, r"bias must have shape \(10,\).*got shape \(9,\)"),
        ((X, W, y), {"bias": b[None]}, r"got shape \(1, 10\)"),
        ((X, W, y), {"strategy": "diagonal"}, "strategy must be None, 'rows' or"),
        ((X, W, y), {"block_size": 0}, "block_size must be at least 1, got 0"),
        ((X, W, y), {"memory_budget": -5}, "memory_budget must be at least 1 byte"),
    ]:
        for f in (sm.linear_cross_entropy, sm.linear_cross_entropy_and_grad):
            with pytest.raises(ValueError, match=message):
                f(*args, **kw)
    with pytest.raises(TypeError, match="^X must be real"):
        sm.linear_cross_entropy(X + 1j, W, y)
    with pytest.raises(TypeError, match="W must be a real numeric array"):
        sm.linear_cross_entropy(X, W.astype(object), y)
    with pytest.raises(TypeError, match="bias must be real"):
        sm.linear_cross_entropy(X, W, y, bias=b * 1j)
    with pytest.raises(TypeError, match="block_size must be an integer"):
        sm.linear_cross_entropy(X, W, y, block_size=2.0)
    with pytest.raises(TypeError, match="memory_budget must be an integer"):
        sm.linear_cross_entropy(X, W, y, memory_budget="1GB")
    # the smallest budget, one byte, is valid (every block then has one row)
    np.testing.assert_allclose(
        sm.linear_cross_entropy(X, W, y, memory_budget=1),
        sm.linear_cross_entropy(X, W, y),
        rtol=1e-14,
    )


def test_target_and_keyword_errors_are_those_of_cross_entropy():
    """The same checks, so the same exception and the same message as
    cross_entropy(X @ W + b, ...) gives."""
    X, W, b, y = problem(np.random.default_rng(13), 4, 3, 10)
    logits = X @ W + b
    for target, kw in [
        (y[:3], {}),  # wrong length
        (y.astype(float), {}),
        (np.append(y[:3], 10), {}),  # class index out of range
        (y > 2, {}),
        (np.ones((4, 9)), {}),
        (-np.ones((4, 10)), {}),
        (y, {"weight": np.ones(9)}),
        (y, {"weight": -np.ones(10)}),
        (y, {"label_smoothing": 1.5}),
        (y, {"label_smoothing": "0.1"}),
        (y, {"reduction": "avg"}),
        (y, {"ignore_index": 1.5}),
        (np.ones((4, 10)), {"ignore_index": -100}),
    ]:
        with pytest.raises((TypeError, ValueError)) as expected:
            sm.cross_entropy(logits, target, **kw)
        for f in (sm.linear_cross_entropy, sm.linear_cross_entropy_and_grad):
            with pytest.raises(expected.type) as got:
                f(X, W, target, bias=b, **kw)
            assert str(got.value) == str(expected.value)


# ------------------------------------------------------------------ merge


def pair(x):
    """(max, sum of exp(x - max)) along the last axis, (-inf, 0) if empty."""
    if x.shape[-1] == 0:
        return np.full(x.shape[:-1], -np.inf), np.zeros(x.shape[:-1])
    m = x.max(axis=-1)
    with np.errstate(invalid="ignore"):
        s = np.exp(x - m[..., np.newaxis]).sum(axis=-1)
    return m, np.where(m == -np.inf, 0.0, s)


def test_merge_gives_the_logsumexp_of_the_union_in_any_order():
    rng = np.random.default_rng(14)
    x = 30 * rng.standard_normal((20, 37))
    cuts = [0, 5, 6, 20, 37]
    pieces = [pair(x[:, a:b]) for a, b in itertools.pairwise(cuts)]
    want = sm.logsumexp(x)
    for order in itertools.permutations(range(len(pieces))):
        m, s = pieces[order[0]]
        for i in order[1:]:
            m, s = sm.logsumexp_merge(m, s, *pieces[i])
        np.testing.assert_allclose(m + np.log(s), want, rtol=1e-14)
    # a tree, as an all-reduce combines shards: ((0, 1), (2, 3))
    left = sm.logsumexp_merge(*pieces[0], *pieces[1])
    right = sm.logsumexp_merge(*pieces[2], *pieces[3])
    m, s = sm.logsumexp_merge(*left, *right)
    np.testing.assert_allclose(m + np.log(s), want, rtol=1e-14)
    np.testing.assert_array_equal(m, x.max(axis=1))
    # commutative to the bit
    a, c = (
        sm.logsumexp_merge(*pieces[0], *pieces[2]),
        sm.logsumexp_merge(*pieces[2], *pieces[0]),
    )
    np.testing.assert_array_equal(a[0], c[0])
    np.testing.assert_array_equal(a[1], c[1])


def test_merge_special_values_and_dtypes():
    inf, nan = np.inf, np.nan
    m, s = sm.logsumexp_merge([2.0, -inf, inf, nan, 1.0], [3.0, 0, 1, 1, 1], -inf, 0.0)
    np.testing.assert_array_equal(m, [2.0, -inf, inf, nan, 1.0])
    np.testing.assert_array_equal(s, [3.0, 0.0, 1.0, nan, 1.0])
    m, s = sm.logsumexp_merge(inf, 1.0, 5.0, 2.0)
    assert m == inf and s == 1.0
    one, three = np.float32(1), np.float32(3)
    m, s = sm.logsumexp_merge(one, one, three, one)
    assert m.dtype == s.dtype == np.float32
    m, s = sm.logsumexp_merge(*(a.astype(np.float16) for a in (one, one, three, one)))
    assert m.dtype == s.dtype == np.float16
    assert sm.logsumexp_merge(one, one, three, 1)[0].dtype == np.float64
    # equal maxima: both factors exactly 1
    assert sm.logsumexp_merge(1.0, 0.25, 1.0, 0.5) == (1.0, 0.75)


def test_merge_errors():
    with pytest.raises(ValueError, match=r"s2 must be a sum of exponentials, >= 0"):
        sm.logsumexp_merge([1.0, 2.0], [1.0, 1.0], [0.0, 0.0], [1.0, -0.5])
    with pytest.raises(
        ValueError, match=r"got shapes \(2,\), \(2,\), \(3,\) and \(3,\)"
    ):
        sm.logsumexp_merge(np.ones(2), np.ones(2), np.ones(3), np.ones(3))
    with pytest.raises(TypeError, match="m1 must be real"):
        sm.logsumexp_merge(1j, 1.0, 0.0, 1.0)


@pytest.mark.parametrize("which", range(4))
def test_merge_errors_name_the_argument(which):
    """Each of m1, s1, m2 and s2 is named when it is the bad one: complex, of
    a shape that does not broadcast with the others, or (s1, s2) negative,
    with the position of the first negative entry."""
    name = ("m1", "s1", "m2", "s2")[which]
    args = [np.ones(3) for _ in range(4)]
    args[which] = np.ones(3, dtype=complex)
    with pytest.raises(TypeError, match=rf"^{name} must be real"):
        sm.logsumexp_merge(*args)
    args[which] = np.ones(2)
    got = ["(2,)" if i == which else "(3,)" for i in range(4)]
    shapes = f"{got[0]}, {got[1]}, {got[2]} and {got[3]}"
    with pytest.raises(ValueError, match=re.escape(f"got shapes {shapes}")):
        sm.logsumexp_merge(*args)
    if name.startswith("s"):
        args[which] = np.array([1.0, 2.0, -0.5])
        with pytest.raises(
            ValueError, match=rf"^{name} must be .* got -0\.5 at position \(2,\)$"
        ):
            sm.logsumexp_merge(*args)


def test_merge_overflow_is_silent():
    """Two sums near the largest float add to inf, without a warning (the
    merge is the sum of the two, as its formula says)."""
    big = np.finfo(np.float64).max
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m, s = sm.logsumexp_merge(0.0, big, 0.0, big)
    assert m == 0.0 and s == np.inf


@pytest.mark.parametrize("strategy", ["rows", "columns"])
@pytest.mark.parametrize(
    ("y", "kw"),
    [
        ([0], {"weight": [0.0, 1.0, 1.0]}),  # one example, of weight 0
        ([0, -1, 0], {"weight": [0.0, 1.0, 1.0], "ignore_index": -1}),
        ([-1, -1], {"ignore_index": -1}),  # every target ignored
    ],
)
def test_zero_divisor_gradients_are_those_of_the_logits(strategy, y, kw):
    """A mean whose divisor is zero: the loss is NaN, and the gradients are
    what the chain rule makes of cross_entropy's gradient of the logits (NaN
    in the rows of examples that count, 0 in ignored ones): dX = dO W^T,
    dW = X^T dO, db = the column sums of dO, NaN wherever a NaN row meets."""
    rng = np.random.default_rng(4)
    y = np.array(y)
    X, W, b = rng.standard_normal((len(y), 4)), rng.standard_normal((4, 3)), np.ones(3)
    loss, dX, dW, db = sm.linear_cross_entropy_and_grad(
        X, W, y, bias=b, strategy=strategy, **kw
    )
    dO = sm.cross_entropy_grad(X @ W + b, y, **kw)
    assert np.isnan(loss)
    np.testing.assert_array_equal(dX, dO @ W.T)
    np.testing.assert_array_equal(dW, X.T @ dO)
    np.testing.assert_array_equal(db, dO.sum(axis=0))


@pytest.mark.parametrize("strategy", ["rows", "columns"])
@pytest.mark.parametrize("block_size", [None, 3])
def test_strategy_and_block_size_are_the_ones_asked_for(
    monkeypatch, strategy, block_size
):
    """The documented keywords choose the algorithm: strategy picks row or
    column blocks and block_size their rows (rows) or classes (columns),
    whatever the default would have been (here: rows of the whole batch)."""
    X, W, b, y = problem(np.random.default_rng(8), 7, 3, 40)
    seen = []
    for name in ("_by_rows", "_by_columns"):
        real = getattr(_linear, name)

        def spy(s, plan, *args, _real=real, _name=name):
            seen.append((_name, plan))
            return _real(s, plan, *args)

        monkeypatch.setattr(_linear, name, spy)
    for f in (sm.linear_cross_entropy, sm.linear_cross_entropy_and_grad):
        seen.clear()
        f(X, W, y, bias=b, strategy=strategy, block_size=block_size)
        ((name, plan),) = seen
        assert name == f"_by_{strategy}" and plan.strategy == strategy
        if block_size is not None:
            assert (plan.rows if strategy == "rows" else plan.columns) == block_size
