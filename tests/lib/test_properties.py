"""Property tests with hypothesis (derandomised, so every run checks the same cases).

The number of examples is set by the test profile (_profile.py): a quarter of
it in the default run, all of it with SOFTMAXLIB_TESTS=thorough.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special as ss
from _profile import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import softmaxlib as sm

# softmaxlib must never warn (no overflow, no 0 * inf, no log(0)).
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

SETTINGS = settings(
    max_examples=examples(100),
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
U = np.finfo(np.float64).eps / 2

shapes = st.tuples(st.integers(1, 6), st.integers(1, 9))
finite = st.floats(-700, 700, allow_nan=False, allow_infinity=False, width=64)
# multiples of 2**-10 in [-2**10, 2**10]: sums and differences of two are exact
dyadic = st.integers(-(2**20), 2**20).map(lambda k: k / 1024.0)


@st.composite
def logits(draw, elements=finite, masks=True):
    shape = draw(shapes)
    x = draw(hnp.arrays(np.float64, shape, elements=elements))
    if masks and draw(st.booleans()):
        mask = draw(hnp.arrays(np.bool_, shape))
        keep = draw(
            hnp.arrays(np.intp, shape[0], elements=st.integers(0, shape[1] - 1))
        )
        mask[np.arange(shape[0]), keep] = False  # at least one finite entry per row
        x = np.where(mask, -np.inf, x)
    return x


@SETTINGS
@given(x=logits(elements=dyadic), c=dyadic)
def test_shift_invariance(x, c):
    """With exact shifts, x - max is unchanged, so the results are bit-identical."""
    y = x + c
    np.testing.assert_array_equal(sm.softmax(y), sm.softmax(x))
    np.testing.assert_array_equal(sm.log_softmax(y), sm.log_softmax(x))
    np.testing.assert_allclose(
        sm.logsumexp(y), sm.logsumexp(x) + c, rtol=4 * U, atol=4 * U * abs(c)
    )


@SETTINGS
@given(x=logits())
def test_softmax_is_a_distribution(x):
    p = sm.softmax(x)
    q = x.shape[-1]
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=0, atol=(q + 2) * 2 * U)
    assert np.all(p[np.isneginf(x)] == 0)
    assert np.all(p[x == x.max(axis=-1, keepdims=True)] > 0)


@SETTINGS
@given(x=logits())
def test_bounds_of_logsumexp_and_log_softmax(x):
    m = x.max(axis=-1)
    lse = sm.logsumexp(x)
    q = x.shape[-1]
    assert np.all(lse >= m) and np.all(
        lse <= m + np.log(q) * (1 + 4 * U) + 4 * U * abs(m)
    )
    lp = sm.log_softmax(x)
    assert np.all(lp <= 0)
    np.testing.assert_array_equal(np.isneginf(lp), np.isneginf(x))


@SETTINGS
@given(x=logits())
def test_log_softmax_is_log_of_softmax_where_representable(x):
    p = sm.softmax(x)
    lp = sm.log_softmax(x)
    ok = p >= np.finfo(np.float64).tiny  # normal numbers: log(p) is meaningful
    with np.errstate(divide="ignore"):
        logp = np.log(p)
    # p carries the rounding of x - max (|x - max| u) plus a few u; log turns
    # that relative error into an absolute one.
    tol = 8 * U * (np.abs(lp) + 1)
    assert np.all(np.abs(lp[ok] - logp[ok]) <= tol[ok])
    assert np.all(p[np.isneginf(lp)] == 0)  # (p may underflow where lp is finite)


@SETTINGS
@given(x=logits(masks=False), data=st.data())
def test_agreement_with_scipy(x, data):
    np.testing.assert_allclose(
        sm.softmax(x), ss.softmax(x, axis=-1), rtol=1e-13, atol=1e-300
    )
    np.testing.assert_allclose(
        sm.log_softmax(x), ss.log_softmax(x, axis=-1), rtol=1e-13, atol=1e-13
    )
    np.testing.assert_allclose(
        sm.logsumexp(x), ss.logsumexp(x, axis=-1), rtol=1e-14, atol=1e-14
    )


@SETTINGS
@given(
    x=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=4, max_side=4),
        elements=finite,
    ),
    data=st.data(),
)
def test_moving_the_class_axis_gives_the_same_result(x, data):
    axis = data.draw(st.integers(0, x.ndim - 1))
    moved = np.moveaxis(x, axis, -1)
    for f in (sm.softmax, sm.log_softmax):
        np.testing.assert_array_equal(f(x, axis=axis), np.moveaxis(f(moved), -1, axis))
    np.testing.assert_array_equal(sm.logsumexp(x, axis=axis), sm.logsumexp(moved))


# ---------------------------------------------------------------- the loss


@st.composite
def problems(draw):
    """logits (n, q), labels (n,), optional weight and label smoothing."""
    n, q = draw(st.integers(1, 5)), draw(st.integers(1, 6))
    x = draw(hnp.arrays(np.float64, (n, q), elements=st.floats(-30, 30, width=64)))
    y = draw(hnp.arrays(np.int64, n, elements=st.integers(0, q - 1)))
    weight = draw(
        st.none() | hnp.arrays(np.float64, q, elements=st.floats(0.1, 3, width=64))
    )
    eps = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    return x, y, weight, eps


@SETTINGS
@given(pb=problems())
def test_one_hot_and_class_index_targets_agree(pb):
    x, y, weight, eps = pb
    y1 = sm.one_hot(y, x.shape[-1])
    kw = {"weight": weight, "label_smoothing": eps}
    for reduction in ("none", "sum"):
        a = sm.cross_entropy_and_grad(x, y, reduction=reduction, **kw)
        b = sm.cross_entropy_and_grad(x, y1, reduction=reduction, **kw)
        np.testing.assert_allclose(a[0], b[0], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(a[1], b[1], rtol=1e-13, atol=1e-15)
    # the means differ only in the divisor: sum of target weights versus n
    total = sm.cross_entropy(x, y, reduction="sum", **kw)
    divisor = len(y) if weight is None else weight[y].sum()
    np.testing.assert_allclose(
        sm.cross_entropy(x, y, **kw), total / divisor, rtol=1e-14
    )
    np.testing.assert_allclose(
        sm.cross_entropy(x, y1, **kw), total / len(y), rtol=1e-14
    )


@SETTINGS
@given(pb=problems(), soft=st.booleans(), scale=st.sampled_from([1.0, 0.3, 2.5]))
def test_gradient_matches_central_differences(pb, soft, scale):
    x, y, weight, eps = pb
    q = x.shape[-1]
    if soft:  # probability targets, not necessarily summing to one
        rng = np.random.default_rng(int(abs(x).sum() * 1000) % 2**32)
        target = scale * rng.dirichlet(np.ones(q), size=len(y))
    else:
        target = y
    kw = {"weight": weight, "label_smoothing": eps}
    g = sm.cross_entropy_grad(x, target, **kw)
    h = 1e-5
    num = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        diff = sm.cross_entropy(xp, target, **kw) - sm.cross_entropy(xm, target, **kw)
        num[idx] = diff / (2 * h)
    scale_g = max(1.0, float(np.abs(g).max()))
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-7 * scale_g)


@SETTINGS
@given(pb=problems())
def test_loss_is_shift_invariant_and_nonnegative(pb):
    x, y, weight, eps = pb
    kw = {"weight": weight, "label_smoothing": eps, "reduction": "none"}
    loss = sm.cross_entropy(x, y, **kw)
    assert np.all(loss >= 0)
    shifted = sm.cross_entropy(x + 1024.0, y, **kw)
    np.testing.assert_allclose(shifted, loss, rtol=1e-9, atol=1e-9)
    g = sm.cross_entropy_grad(x, y, **kw)
    # with class-index targets every row of the gradient sums to zero
    np.testing.assert_allclose(g.sum(axis=-1), 0.0, atol=1e-13 * (1 + np.abs(g).max()))


# ------------------------------------------- the loss against its formula
#
# formula() below is the Notes of cross_entropy written out one example at a
# time in float64 (Python integers for the class indices, so nothing wraps),
# without calling softmaxlib. The fuzz draws every keyword together: weights
# (zeros included, so the mean's divisor can be 0), ignore_index (at the ends
# of the integer ranges, or equal to a real class), label smoothing, reduction,
# the target's kind and integer dtype, -inf masks and the memory layout of
# logits and target.

INDEX_DTYPES = [np.uint64, np.int64, np.int8, np.int32, np.uint8]


def formula(x, target, weight, ignore_index, eps, reduction):
    """(loss, gradient) from the Notes: t_i, then sum_j t_ij (lse_i - o_ij)
    and (sum_j t_ij) p_i - t_i, reduced; a zero divisor of the mean gives NaN
    in the loss and in the rows of the examples that are not ignored."""
    x = np.asarray(x, dtype=np.float64)
    q = x.shape[-1]
    rows = x.reshape(-1, q).tolist()
    n = len(rows)
    w = [1.0] * q if weight is None else [float(v) for v in weight]
    index = np.asarray(target).dtype.kind in "iu"
    labels = np.asarray(target).reshape(-1).tolist() if index else None
    probs = None if index else np.asarray(target, np.float64).reshape(n, q).tolist()
    losses, grads, taking_part, divisor = [], [], [], 0.0
    for i, o in enumerate(rows):
        if index:
            c = labels[i]  # a Python int, compared exactly
            if ignore_index is not None and c == ignore_index:
                t = [0.0] * q
                taking_part.append(False)
            else:
                t = [(1 - eps) * w[c] * (j == c) + eps / q * w[j] for j in range(q)]
                taking_part.append(True)
                divisor += w[c]
        else:
            t = [w[j] * ((1 - eps) * probs[i][j] + eps / q) for j in range(q)]
            taking_part.append(True)
            divisor += 1.0
        m = max(o)  # finite: every row has a finite entry
        lse = m + math.log(math.fsum(math.exp(v - m) for v in o))
        losses.append(math.fsum(t[j] * (lse - o[j]) for j in range(q) if t[j]))
        total = math.fsum(t)
        grads.append([total * math.exp(o[j] - lse) - t[j] for j in range(q)])
    g = np.array(grads).reshape(x.shape)
    if reduction == "none":
        return np.array(losses).reshape(x.shape[:-1]), g
    loss = math.fsum(losses)
    if reduction == "sum":
        return loss, g
    if divisor == 0:
        part = np.array(taking_part).reshape(x.shape[:-1])
        g[part] = np.nan
        return math.nan, g
    return loss / divisor, g / divisor


def with_layout(a: np.ndarray, layout: str) -> np.ndarray:
    """``a``'s values in a C, Fortran, strided or negative-stride array."""
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided":
        big = np.zeros(tuple(2 * s for s in a.shape), dtype=a.dtype)
        view = big[tuple(slice(None, None, 2) for _ in a.shape)]
        view[...] = a
        return view
    if layout == "negative":
        flipped = np.ascontiguousarray(a[tuple(slice(None, None, -1) for _ in a.shape)])
        return flipped[tuple(slice(None, None, -1) for _ in a.shape)]
    return np.ascontiguousarray(a)


@st.composite
def loss_problems(draw):
    batch = draw(st.sampled_from([(1,), (3,), (7,), (2, 3)]))
    q = draw(st.integers(1, 5))
    shape = batch + (q,)
    dtype = draw(st.sampled_from([np.float64, np.float64, np.float32]))  # 2:1
    x = draw(hnp.arrays(np.float64, shape, elements=st.floats(-20, 20, width=32)))
    if draw(st.booleans()):  # -inf masks, at least one finite entry per row
        mask = draw(hnp.arrays(np.bool_, shape))
        mask[..., draw(st.integers(0, q - 1))] = False
        x = np.where(mask, -np.inf, x)
    # no subnormal weights: a subnormal divisor of the mean is not accurate
    # (in torch neither), which is not what this test is about
    some_weight = st.sampled_from([0.0, 1.0, 0.25, 2.5]) | st.floats(0.01, 3)
    weight = draw(st.none() | hnp.arrays(np.float64, q, elements=some_weight))
    eps = draw(st.sampled_from([0.0, 0.0, 0.1, 0.5, 1.0]))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    kind = draw(st.sampled_from(INDEX_DTYPES[:2] + ["prob"] + INDEX_DTYPES[2:]))
    ignore_index = None
    if kind == "prob":
        target = draw(hnp.arrays(np.float64, shape, elements=st.floats(0, 2)))
    else:
        labels = draw(hnp.arrays(np.int64, batch, elements=st.integers(0, q - 1)))
        target = labels.astype(kind)
        info = np.iinfo(kind)
        # the ends of the dtype's range and 2**63 for uint64; values that
        # only other dtypes hold (which then match nothing); a real class
        ends = [int(info.max), int(info.min), int(info.max) // 2 + 1]
        others = [2**64 - 1, -(2**63), -100]
        ignore_index = draw(
            st.sampled_from(ends)
            | st.none()
            | st.sampled_from(others)
            | st.integers(0, q - 1)
        )
        if ignore_index is not None and info.min <= ignore_index <= info.max:
            hit = draw(hnp.arrays(np.bool_, batch))
            target[hit] = kind(ignore_index)
        if weight is not None and draw(st.integers(0, 3)) == 0:
            weight[labels] = 0.0  # the mean's divisor is 0
    layouts = st.sampled_from(["C", "F", "strided", "negative"])
    x = with_layout(x.astype(dtype), draw(layouts))
    target = with_layout(target, draw(layouts))
    return x, target, weight, ignore_index, eps, reduction


@settings(SETTINGS, max_examples=examples(200))
@given(pb=loss_problems())
def test_loss_and_gradient_follow_the_formula(pb):
    x, target, weight, ignore_index, eps, reduction = pb
    kw = {
        "weight": weight,
        "ignore_index": ignore_index,
        "label_smoothing": eps,
        "reduction": reduction,
    }
    want_loss, want_grad = formula(x, target, weight, ignore_index, eps, reduction)
    loss, grad = sm.cross_entropy_and_grad(x, target, **kw)
    np.testing.assert_array_equal(loss, sm.cross_entropy(x, target, **kw))
    np.testing.assert_array_equal(grad, sm.cross_entropy_grad(x, target, **kw))
    assert np.shape(loss) == np.shape(want_loss) and grad.shape == x.shape
    assert np.asarray(loss).dtype == grad.dtype == x.dtype
    # float64 agrees to rounding; float32 rounds the logits' differences
    tol = 1e-10 if x.dtype == np.float64 else 2e-4
    np.testing.assert_allclose(loss, want_loss, rtol=tol, atol=tol)
    np.testing.assert_allclose(grad, want_grad, rtol=tol, atol=tol)
